"""The runtime's controllers, as kube-controller-manager, kube-scheduler, the kubelet and Kyma's
lifecycle manager run them, without containers (as kwok simulates a cluster): the garbage collector,
namespace controller, root CA publisher, scheduler, kubelet stand-in and node leases, Endpoints and
EndpointSlices, the workload controllers (ReplicaSet, Deployment, StatefulSet, DaemonSet, Job, CronJob,
HPA) and the Kyma controller.

Each module that defines ``CONTROLLERS`` is picked up by ``registry.py``. They read what changed from
the cluster's change log (``graph.py``, one read for every kind instead of a watch per kind) and act
only through the cluster's Kubernetes API (``client.py``: ``KubeApi.handle`` with the cluster's admin
token), like any other client; ``manager.py`` runs them in one thread per process, woken by writes and
service-clock timers, with one process per cluster at a time (a lease row per cluster).
"""
