"""What the workload controllers read of objects (plain dicts, as the API serves them): metadata and
owner references, label selectors, pods' readiness and availability, and conditions."""

from __future__ import annotations

import copy
import math
from typing import Any

from kymaprov.kubeapi import pods
from kymaprov.kubeapi.times import parse_rfc3339

Obj = dict[str, Any]


# --- reading objects ------------------------------------------------------------------------------


def meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def status(obj: Obj) -> Obj:
    return obj.get("status") or {}


def uid(obj: Obj) -> str:
    return str(meta(obj).get("uid", ""))


def name(obj: Obj) -> str:
    return str(meta(obj).get("name", ""))


def deleting(obj: Obj) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def controller_of(obj: Obj) -> Obj | None:
    """The ownerReference with ``controller: true``, if any (``metav1.GetControllerOf``)."""
    for ref in meta(obj).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller") is True:
            return ref
    return None


def controlled_by(obj: Obj, owner: Obj) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == uid(owner)


def owner_ref(owner: Obj, kind: str, api_version: str) -> Obj:
    """The reference a controller sets on what it makes (``metav1.NewControllerRef``)."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name(owner),
        "uid": uid(owner),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def time_of(text: Any) -> float | None:
    return parse_rfc3339(text) if isinstance(text, str) else None


def int_of(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def scaled(value: Any, total: int, *, round_up: bool) -> int:
    """``GetScaledValueFromIntOrPercent``: an int as it is, ``"N%"`` of ``total`` rounded as asked."""
    if isinstance(value, str) and value.endswith("%"):
        share = int_of(value[:-1]) * total / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int_of(value)


# --- label selectors ------------------------------------------------------------------------------


def selector_matches(selector: Any, labels: Any) -> bool:
    """``metav1.LabelSelectorAsSelector(selector).Matches(labels)``; an empty or missing selector matches
    nothing here, as controllers treat it (kube's validation refuses it for workloads anyway)."""
    if not isinstance(selector, dict):
        return False
    labels = labels if isinstance(labels, dict) else {}
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return False
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expr in expressions:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


# --- pods -----------------------------------------------------------------------------------------


def pod_condition(pod: Obj, kind: str) -> Obj | None:
    for cond in status(pod).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond
    return None


pod_ready = pods.ready  # one readiness test for the API (eviction) and the controllers


def ready_since(pod: Obj) -> float | None:
    cond = pod_condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return None
    return time_of(cond.get("lastTransitionTime"))


def pod_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    """``podutil.IsPodAvailable``: Ready for at least ``minReadySeconds``."""
    since = ready_since(pod)
    if since is None:
        return False
    return min_ready_seconds <= 0 or since + min_ready_seconds <= now


def available_at(pod: Obj, min_ready_seconds: int) -> float | None:
    """When a ready pod becomes available (to wake then), or None."""
    since = ready_since(pod)
    return None if since is None else since + min_ready_seconds


def pod_active(pod: Obj) -> bool:
    """``controller.IsPodActive``: not finished and not being deleted."""
    return status(pod).get("phase") not in ("Succeeded", "Failed") and not deleting(pod)


def pod_from_template(template: Obj, owner: Obj, kind: str, api_version: str, generate_name: str) -> Obj:
    """``controller.GetPodFromTemplate``: the template's labels, annotations and spec, owned by ``owner``."""
    tmeta = template.get("metadata") or {}
    pmeta: Obj = {
        "generateName": generate_name,
        "namespace": meta(owner).get("namespace", ""),
        "ownerReferences": [owner_ref(owner, kind, api_version)],
    }
    for key in ("labels", "annotations", "finalizers"):
        if tmeta.get(key):
            pmeta[key] = copy.deepcopy(tmeta[key])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": pmeta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


# --- conditions -----------------------------------------------------------------------------------


def set_condition(conditions: list[Obj], new: Obj, now_text: str, update_time: bool = False) -> list[Obj]:
    """Replace the condition of ``new``'s type, keeping ``lastTransitionTime`` when the status and
    reason stay (``SetDeploymentCondition``), and ``lastUpdateTime`` too unless ``update_time``."""
    out: list[Obj] = []
    old = next((c for c in conditions if c.get("type") == new["type"]), None)
    cond = dict(new)
    if old is not None and old.get("status") == cond["status"]:
        cond["lastTransitionTime"] = old.get("lastTransitionTime", now_text)
    else:
        cond["lastTransitionTime"] = now_text
    if "lastUpdateTime" in cond or update_time:
        cond["lastUpdateTime"] = now_text
    if old is not None and {k: v for k, v in old.items() if k != "lastUpdateTime"} == {
        k: v for k, v in cond.items() if k != "lastUpdateTime"
    }:
        cond = old  # unchanged: keep it as it was
    for c in conditions:
        if c.get("type") != new["type"]:
            out.append(c)
    out.append(cond)
    return out


def get_condition(conditions: Any, kind: str) -> Obj | None:
    for cond in conditions or []:
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond
    return None
