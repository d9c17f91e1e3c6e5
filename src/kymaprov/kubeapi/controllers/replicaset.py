"""The ReplicaSet controller (``pkg/controller/replicaset``): as many pods as ``spec.replicas``.

Pods are made from the template (``generateName: <rs>-``, a controller ownerReference) and deleted in
kube's order (unscheduled, pending, not ready, most recently ready, most restarted, newest first).
Orphan pods that match the selector are adopted; owned pods that no longer match are released. The
status counts the active pods (``replicas``), those whose labels match the template
(``fullyLabeledReplicas``), ready and available ones (ready for ``minReadySeconds``, waking the
controller when a pod crosses that line), with ``observedGeneration``.
"""

from __future__ import annotations

from typing import Any

from kymaprov.kubeapi.controllers.plan import (
    Create,
    Obj,
    Patch,
    Plan,
    PlanController,
    View,
    bodies,
    delete,
    pods_for,
    with_status,
)
from kymaprov.kubeapi.controllers.workload import (
    available_at,
    controlled_by,
    controller_of,
    deleting,
    int_of,
    meta,
    name,
    owner_ref,
    pod_active,
    pod_available,
    pod_from_template,
    pod_ready,
    ready_since,
    selector_matches,
    spec,
    status,
    time_of,
    uid,
)

KIND = "ReplicaSet"
API_VERSION = "apps/v1"
BURST_REPLICAS = 500  # kube's ``BurstReplicas``: at most this many creates or deletes per sync


def claim(
    owner: Obj, pods: list[Obj], kind: str, api_version: str, child: tuple[str, str] = ("v1", "pods")
) -> tuple[list[Obj], Plan]:
    """``ControllerRefManager.Claim*``: the objects (pods, or a Deployment's ReplicaSets) ``owner``
    controls and still selects, plus the matching orphans it adopts; the requests to adopt and release."""
    selector = spec(owner).get("selector")
    plan = Plan()
    mine: list[Obj] = []
    for pod in pods:
        labels = meta(pod).get("labels") or {}
        matches = selector_matches(selector, labels)
        if controlled_by(pod, owner):
            if matches:
                mine.append(pod)
            elif not deleting(pod):  # release it: drop our reference
                refs = [r for r in meta(pod).get("ownerReferences") or [] if r.get("uid") != uid(owner)]
                plan.actions.append(_ref_patch(pod, refs, child))
        elif controller_of(pod) is None and matches and not deleting(pod) and not deleting(owner):
            refs = [*(meta(pod).get("ownerReferences") or []), owner_ref(owner, kind, api_version)]
            plan.actions.append(_ref_patch(pod, refs, child))
            mine.append(pod)
    return mine, plan


def _ref_patch(pod: Obj, refs: list[Any], child: tuple[str, str]) -> Patch:
    m = meta(pod)
    return Patch(
        child[0],
        child[1],
        str(m.get("namespace", "")),
        name(pod),
        {"metadata": {"ownerReferences": refs or None, "uid": uid(pod)}},
    )


def deletion_rank(pod: Obj) -> tuple[Any, ...]:
    """``controller.ActivePods`` order: the pods to delete first sort first."""
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(str(status(pod).get("phase")), 0)
    since = ready_since(pod) or 0.0
    restarts = sum(int_of(c.get("restartCount")) for c in status(pod).get("containerStatuses") or [])
    created = time_of(meta(pod).get("creationTimestamp")) or 0.0
    return (
        1 if spec(pod).get("nodeName") else 0,
        phase_rank,
        1 if pod_ready(pod) else 0,
        -since,
        -restarts,
        -created,
        name(pod),
    )


def plan(rs: Obj, pods: list[Obj], now: float) -> Plan:
    """One sync of ``rs`` given the pods of its namespace."""
    mine, result = claim(rs, pods, KIND, API_VERSION)
    active = [p for p in mine if pod_active(p)]
    if not deleting(rs):
        diff = len(active) - int_of(spec(rs).get("replicas"), 1)
        if diff < 0:
            template = spec(rs).get("template") or {}
            for _ in range(min(-diff, BURST_REPLICAS)):
                body = pod_from_template(template, rs, KIND, API_VERSION, f"{name(rs)}-")
                result.actions.append(
                    Create(
                        "v1",
                        "pods",
                        str(meta(rs).get("namespace", "")),
                        body,
                        about=rs,
                        event=("Normal", "SuccessfulCreate", "Created pod: {name}"),
                        failed=("Warning", "FailedCreate", "Error creating: {error}"),
                        failure_condition="ReplicaFailure",
                    )
                )
        elif diff > 0:
            for pod in sorted(active, key=deletion_rank)[: min(diff, BURST_REPLICAS)]:
                result.actions.append(
                    delete(pod, about=rs, event=("Normal", "SuccessfulDelete", "Deleted pod: {name}"))
                )
    new_status, wake = replica_status(rs, active, now)
    upd = with_status(rs, new_status)
    if upd is not None:
        result.actions.append(upd)
    if wake is not None:
        result.wake(wake)
    return result


def replica_status(rs: Obj, active: list[Obj], now: float) -> tuple[Obj, float | None]:
    """``calculateStatus``; and when the next pod becomes available."""
    min_ready = int_of(spec(rs).get("minReadySeconds"))
    template_labels = ((spec(rs).get("template") or {}).get("metadata") or {}).get("labels") or {}
    labeled = ready = available = 0
    wake: float | None = None
    for pod in active:
        labels = meta(pod).get("labels") or {}
        if all(labels.get(k) == v for k, v in template_labels.items()):
            labeled += 1
        if pod_ready(pod):
            ready += 1
            if pod_available(pod, min_ready, now):
                available += 1
            else:
                at = available_at(pod, min_ready)
                if at is not None:
                    wake = at if wake is None else min(wake, at)
    new: Obj = {"replicas": len(active)}
    for key, value in (
        ("fullyLabeledReplicas", labeled),
        ("readyReplicas", ready),
        ("availableReplicas", available),
        ("observedGeneration", int_of(meta(rs).get("generation"), 1)),
    ):
        if value:
            new[key] = value
    conditions = [c for c in status(rs).get("conditions") or [] if c.get("type") != "ReplicaFailure"]
    if conditions:
        new["conditions"] = conditions
    return new, wake


class ReplicaSetController(PlanController):
    name = "replicaset"
    kinds = frozenset({("apps", "replicasets"), ("", "pods")})
    watches = kinds
    component = "replicaset-controller"

    def plans(self, view: View) -> list[Plan]:
        return [
            plan(rs, pods_for(view, rs), view.now) for rs in bodies(view.graph.of_kind("apps", "replicasets"))
        ]


CONTROLLERS = (ReplicaSetController(),)
