"""The disruption controller (kube-controller-manager's ``disruption``): each PodDisruptionBudget's
status from the pods it selects, which the ``eviction`` subresource then spends
(``kubeapi/disruption.py``).

- ``minAvailable`` as a number: that many must be healthy, out of the selected pods;
- ``minAvailable`` as a percentage, or ``maxUnavailable``: of the pods the selected pods' controllers
  want (a Deployment's or StatefulSet's ``replicas``, a bare ReplicaSet's), rounded up; a selected pod
  without a controller makes the budget fail safe (no disruption allowed, ``SyncFailed``);
- healthy: Ready, not terminating, and not in ``disruptedPods`` (an eviction the API granted whose
  pod is not gone yet); an entry leaves that map when its pod is gone or after two minutes.

``disruptionsAllowed`` is healthy minus desired, at least 0; the ``DisruptionAllowed`` condition says
whether it is above 0.
"""

from __future__ import annotations

import math
import re
from typing import Any

from kymaprov.kubeapi.controllers.base import Pass, View, path_of
from kymaprov.kubeapi.controllers.client import ApiClient
from kymaprov.kubeapi.controllers.graph import Graph, Node
from kymaprov.kubeapi.controllers.workload import pod_ready, scaled
from kymaprov.kubeapi.disruption import selects, set_allowed_condition, set_condition
from kymaprov.kubeapi.times import parse_rfc3339, rfc3339

DELETION_TIMEOUT = 120.0  # seconds an evicted pod may take to go before it counts again
PDBS = ("policy", "poddisruptionbudgets")
_PERCENT = re.compile(r"^(\d+)%$")


class SyncFailed(Exception):
    """The budget cannot be computed; its status fails safe."""


def _scaled(value: Any, total: int) -> int:
    """``GetScaledValueFromIntOrPercent`` rounding up; a string that is no percentage fails the sync."""
    if isinstance(value, bool) or not (isinstance(value, int) or _PERCENT.match(str(value))):
        raise SyncFailed(f"invalid value for IntOrString: invalid value {value!r}")
    return scaled(value, total, round_up=True)


def _expected_scale(graph: Graph, pods: list[Node]) -> int:
    """``getExpectedScale``: the replicas the controllers of ``pods`` want, each controller once."""
    wanted: dict[str, int] = {}
    for pod in pods:
        owner = graph.nodes.get(pod.controller_uid or "")
        if owner is not None and owner.kind == ("apps", "replicasets"):
            above = graph.nodes.get(owner.controller_uid or "")
            if above is not None and above.kind == ("apps", "deployments"):
                owner = above
        if owner is None or owner.kind not in {("apps", "replicasets"), ("apps", "deployments"),
                                               ("apps", "statefulsets")}:  # fmt: skip
            raise SyncFailed(f'found no controllers for pod "{pod.name}"')
        wanted[owner.uid] = int(((owner.body or {}).get("spec") or {}).get("replicas", 1) or 0)
    return sum(wanted.values())


def status_of(pdb: Node, graph: Graph, now: float) -> tuple[dict[str, Any], float | None]:
    """The budget's status at ``now``, and when it changes with time alone (an entry of
    ``disruptedPods`` expiring), or None."""
    body = pdb.body or {}
    spec, old = body.get("spec") or {}, body.get("status") or {}
    generation = int(body["metadata"].get("generation") or 0)
    pods = [p for p in graph.of_kind("", "pods", pdb.namespace) if selects(body, p.body or {})]
    live = {p.name for p in pods if not p.deleting}
    disrupted, expires = {}, None
    for name, since in sorted((old.get("disruptedPods") or {}).items()):
        at = parse_rfc3339(str(since))
        if name in live and at is not None and at + DELETION_TIMEOUT > now:
            disrupted[name] = since
            expires = min(expires or math.inf, at + DELETION_TIMEOUT)
    status: dict[str, Any] = {"observedGeneration": generation}
    if disrupted:
        status["disruptedPods"] = disrupted
    now_text = rfc3339(now)
    try:
        if spec.get("maxUnavailable") is not None:
            expected = _expected_scale(graph, pods)
            desired = max(expected - _scaled(spec["maxUnavailable"], expected), 0)
        elif isinstance(spec.get("minAvailable"), int):
            expected, desired = len(pods), int(spec["minAvailable"])
        elif spec.get("minAvailable") is not None:
            expected = _expected_scale(graph, pods)
            desired = _scaled(spec["minAvailable"], expected)
        else:  # neither: kube counts nothing expected and nothing desired, so every healthy pod may go
            expected, desired = 0, 0
    except SyncFailed as exc:
        status.update({"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0})
        failed = {"type": "DisruptionAllowed", "status": "False", "reason": "SyncFailed", "message": str(exc),
                  "observedGeneration": generation}  # fmt: skip
        status["conditions"] = old.get("conditions") or []  # read by set_condition, then replaced
        set_condition(status, failed, now_text)
        return status, expires
    healthy = sum(1 for p in pods if p.name in live and p.name not in disrupted and pod_ready(p.body or {}))
    status.update(
        {
            "disruptionsAllowed": max(healthy - desired, 0),
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "expectedPods": expected,
            "conditions": old.get("conditions") or [],  # read by set_allowed_condition, then replaced
        }
    )
    set_allowed_condition(status, generation, now_text)
    return status, expires


def _stored(pdb: Node) -> dict[str, Any]:
    return (pdb.body or {}).get("status") or {}


class Disruption:
    name = "disruption"
    order = 55
    kinds = frozenset(
        {PDBS, ("", "pods"), ("apps", "replicasets"), ("apps", "deployments"), ("apps", "statefulsets")}
    )
    watches = kinds

    def needs_work(self, view: View) -> bool:
        return any(
            status_of(pdb, view.graph, view.now)[0] != _stored(pdb)
            for pdb in view.graph.of_kind(*PDBS)
            if not pdb.deleting
        )

    def sync(self, view: View, client: ApiClient, work: Pass) -> float | None:
        wake: float | None = None
        for pdb in view.graph.of_kind(*PDBS):
            if pdb.deleting:
                continue
            status, expires = status_of(pdb, view.graph, view.now)
            if expires is not None:
                wake = min(wake or math.inf, expires)
            if status != _stored(pdb) and not work.exhausted:
                work.call(client.put, path_of(pdb, "status"), {**(pdb.body or {}), "status": status})
        return wake


CONTROLLERS = (Disruption(),)
