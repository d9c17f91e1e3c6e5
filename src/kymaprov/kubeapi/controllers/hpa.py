"""The HorizontalPodAutoscaler controller (``pkg/controller/podautoscaler``), without metrics.

The runtime runs no containers, so there is no metrics API: an HPA reports the target's size as
``currentReplicas``; a target outside ``minReplicas``..``maxReplicas`` is scaled into the range
(``SuccessfulRescale``), as kube does before it looks at metrics; inside the range the desired count
stays the current one and ``ScalingActive`` is False with kube's ``FailedGetResourceMetric`` (the
message says no metrics were returned), so nobody mistakes the HPA for a working autoscaler. A
target of 0 replicas disables scaling (``ScalingDisabled``), as in kube. Conditions are written for
``autoscaling/v2`` objects (``autoscaling/v1`` has no status conditions).
"""

from __future__ import annotations

from kymaprov.kubeapi.controllers.plan import (
    Event,
    Obj,
    Patch,
    Plan,
    PlanController,
    View,
    with_status,
)
from kymaprov.kubeapi.controllers.workload import (
    int_of,
    meta,
    name,
    set_condition,
    spec,
    status,
)
from kymaprov.kubeapi.times import rfc3339

TARGETS = {
    "Deployment": ("apps", "deployments"),
    "ReplicaSet": ("apps", "replicasets"),
    "StatefulSet": ("apps", "statefulsets"),
}
NO_METRICS = (
    "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get "
    "metrics for resource cpu: no metrics returned from resource metrics API"
)


def plan(hpa: Obj, target: Obj | None, now: float) -> Plan:
    """One sync of ``hpa`` given its scale target (None: not found)."""
    result = Plan()
    now_text = rfc3339(now)
    v2 = str(hpa.get("apiVersion", "")).endswith("/v2")
    ref = spec(hpa).get("scaleTargetRef") or {}
    conditions: list[Obj] = list(status(hpa).get("conditions") or [])
    new: Obj = {
        k: v for k, v in status(hpa).items() if k in ("lastScaleTime", "currentReplicas", "desiredReplicas")
    }

    def cond(kind: str, truth: str, reason: str, message: str) -> None:
        nonlocal conditions
        conditions = set_condition(
            conditions,
            {"type": kind, "status": truth, "reason": reason, "message": message},
            now_text,
        )

    if target is None:
        group, resource = TARGETS.get(str(ref.get("kind")), ("", str(ref.get("kind", "")).lower() + "s"))
        qualified = f"{resource}.{group}" if group else resource
        message = (
            f"the HPA controller was unable to get the target's current scale: "
            f'{qualified} "{ref.get("name", "")}" not found'
        )
        cond("AbleToScale", "False", "FailedGetScale", message)
        if (status(hpa).get("conditions") or []) != conditions or not status(hpa):
            result.actions.append(Event(hpa, "Warning", "FailedGetScale", message))
    else:
        current = int_of(spec(target).get("replicas"), 1)
        low, high = int_of(spec(hpa).get("minReplicas"), 1), int_of(spec(hpa).get("maxReplicas"), 1)
        new["currentReplicas"] = current
        reason = ""
        if current == 0 and low != 0:
            desired = 0
            cond(
                "AbleToScale",
                "True",
                "SucceededGetScale",
                "the HPA controller was able to get the target's current scale",
            )
            cond(
                "ScalingActive",
                "False",
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
            )
        elif current > high:
            desired, reason = high, "Current number of replicas above Spec.MaxReplicas"
            cond(
                "ScalingLimited",
                "True",
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
            )
        elif current < low:
            desired, reason = low, "Current number of replicas below Spec.MinReplicas"
            cond(
                "ScalingLimited",
                "True",
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            )
        else:
            desired = current
            cond(
                "AbleToScale",
                "True",
                "SucceededGetScale",
                "the HPA controller was able to get the target's current scale",
            )
            cond("ScalingActive", "False", "FailedGetResourceMetric", NO_METRICS)
            if get_reason(status(hpa).get("conditions"), "ScalingActive") != "FailedGetResourceMetric":
                result.actions.append(Event(hpa, "Warning", "FailedGetResourceMetric", NO_METRICS))
        new["desiredReplicas"] = desired
        if reason:
            m = meta(target)
            result.actions.append(
                Patch(
                    str(target.get("apiVersion", "")),
                    TARGETS[str(target.get("kind"))][1],
                    str(m.get("namespace", "")),
                    name(target),
                    {"metadata": {"uid": m.get("uid")}, "spec": {"replicas": desired}},
                )
            )
            result.actions.append(
                Event(hpa, "Normal", "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
            )
            cond(
                "AbleToScale",
                "True",
                "SucceededRescale",
                f"the HPA controller was able to update the target scale to {desired}",
            )
            new["lastScaleTime"] = now_text
    if v2 and conditions:
        new["conditions"] = conditions
    upd = with_status(hpa, new)
    if upd is not None:
        result.actions.append(upd)
    return result


def get_reason(conditions: object, kind: str) -> str:
    for c in conditions if isinstance(conditions, list) else []:
        if isinstance(c, dict) and c.get("type") == kind:
            return str(c.get("reason", ""))
    return ""


class HorizontalPodAutoscalerController(PlanController):
    name = "horizontalpodautoscaler"
    kinds = frozenset({("autoscaling", "horizontalpodautoscalers"), *TARGETS.values()})
    watches = kinds
    component = "horizontal-pod-autoscaler"

    def plans(self, view: View) -> list[Plan]:
        graph = view.graph
        result = []
        for node in graph.of_kind("autoscaling", "horizontalpodautoscalers"):
            if node.body is None:
                continue
            ref = spec(node.body).get("scaleTargetRef") or {}
            kind = TARGETS.get(str(ref.get("kind")))
            target = graph.get(*kind, node.namespace, str(ref.get("name", ""))) if kind else None
            result.append(plan(node.body, target.body if target is not None else None, view.now))
        return result


CONTROLLERS = (HorizontalPodAutoscalerController(),)
