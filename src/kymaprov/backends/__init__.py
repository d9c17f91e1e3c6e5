"""Runtime backends: what creates, deletes and gives admin access to the clusters that play runtimes.

``base`` is the contract (``RuntimeBackend``, ``ClusterAccess``); ``embedded`` runs clusters on
kymaprov's own Kubernetes API (``kymaprov.kubeapi``); ``kubeclient`` is how the service talks to any
runtime's Kubernetes API, as KEB does.
"""
