"""Node heartbeats: each node's Lease in ``kube-node-lease``, renewed as its kubelet would.

A kubelet renews its Lease every 10 s (a quarter of the 40 s duration). Doing that here would write
to every idle runtime every 10 s and wake its watchers, so renewal is lazy: whenever the controllers
pass over a cluster anyway (something was written, or a timer is due) and a node's Lease is older
than its duration, it is renewed. An idle runtime's Leases simply age; nothing in the runtime acts on
them (there is no node lifecycle controller to mark a node NotReady), and they are current again as
soon as the runtime is used.
"""

from __future__ import annotations

import copy

from kymaprov.kubeapi.controllers.base import Pass, View, path_of
from kymaprov.kubeapi.controllers.client import ApiClient
from kymaprov.kubeapi.controllers.graph import Node
from kymaprov.kubeapi.nodes import LEASE_NAMESPACE, LEASE_SECONDS, micro_time
from kymaprov.kubeapi.times import parse_rfc3339


def _due(lease: Node, now: float) -> bool:
    spec = (lease.body or {}).get("spec") or {}
    renewed = (
        parse_rfc3339(str(spec.get("renewTime", "")).split(".")[0] + "Z") if spec.get("renewTime") else None
    )
    duration = float(spec.get("leaseDurationSeconds") or LEASE_SECONDS)
    return renewed is None or renewed + duration <= now


class NodeLeases:
    name = "nodelease"
    order = 50
    kinds = frozenset({("coordination.k8s.io", "leases")})
    watches = None  # renewal is due with time alone, checked on every pass (see above)

    @staticmethod
    def _due(view: View) -> list[Node]:
        graph = view.graph
        return [
            lease
            for lease in graph.of_kind("coordination.k8s.io", "leases", LEASE_NAMESPACE)
            if graph.get("", "nodes", "", lease.name) is not None
            and not lease.deleting
            and _due(lease, view.now)
        ]

    def needs_work(self, view: View) -> bool:
        return bool(self._due(view))

    def sync(self, view: View, client: ApiClient, work: Pass) -> float | None:
        for lease in self._due(view):
            if work.exhausted:
                break
            renewed = copy.deepcopy(lease.body or {})
            renewed.setdefault("spec", {})["renewTime"] = micro_time(view.now)
            work.call(client.put, path_of(lease), renewed)
        return None


CONTROLLERS = (NodeLeases(),)
