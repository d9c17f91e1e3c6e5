"""The pod garbage collector (kube-controller-manager's ``PodGC``), for orphaned pods only: a pod bound
to a Node that no longer exists is deleted, as ``gcOrphaned`` does once the Node is gone. Its
controller (ReplicaSet, StatefulSet, DaemonSet, Job) then makes a new one, which the scheduler binds
to a Node that exists. Nodes go when the worker pool is re-sized or its machine type changes
(``backends/embedded.py``).

The delete is forced (grace period 0), as kube's is: no kubelet is left to finish a graceful one,
so a pod already terminating on the Node is removed too. (kube first adds the ``DisruptionTarget``
condition, reason ``DeletionByPodGC``; the pod is gone a moment later either way.) The other passes
of the real PodGC (terminated pods over a threshold, unscheduled terminating pods) have nothing to
act on here: no threshold is set, and pods are never left terminating without a kubelet.
"""

from __future__ import annotations

from kymaprov.kubeapi.controllers.base import Pass, View, path_of
from kymaprov.kubeapi.controllers.client import ApiClient
from kymaprov.kubeapi.controllers.graph import Node


def _orphans(view: View) -> list[Node]:
    graph = view.graph
    return [
        pod
        for pod in graph.of_kind("", "pods")
        if not (pod.deleting and pod.finalizers)  # a forced delete leaves those to their finalizers
        and (node := str(((pod.body or {}).get("spec") or {}).get("nodeName") or ""))
        and graph.get("", "nodes", "", node) is None
    ]


class PodGC:
    name = "podgc"
    order = 25  # its deletes are work for the workload controllers, which run after it
    kinds = frozenset({("", "pods")})
    watches = frozenset({("", "pods"), ("", "nodes")})

    def needs_work(self, view: View) -> bool:
        return bool(_orphans(view))

    def sync(self, view: View, client: ApiClient, work: Pass) -> float | None:
        for pod in _orphans(view):
            if work.exhausted:
                break
            work.call(client.delete, path_of(pod), pod.uid, "Background", 0)
        return None


CONTROLLERS = (PodGC(),)
