"""The runtime's controllers, as kube-controller-manager runs them: the garbage collector, the
namespace controller and the root CA publisher.

They read what changed from the cluster's change log (``graph.py``, one read for every kind instead of
a watch per kind) and act only through the cluster's Kubernetes API (``client.py``: ``KubeApi.handle``
with the cluster's admin token), like any other client; ``manager.py`` runs them in one thread per
process, woken by writes, with one process per cluster at a time (a lease row per cluster).
"""
