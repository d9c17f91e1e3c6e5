"""PodDisruptionBudgets and a pod's ``eviction`` subresource, as ``pkg/registry/core/pod/storage/
eviction.go`` serves it (``kubectl drain`` evicts through it).

An eviction deletes the pod (with the Eviction's ``deleteOptions``) unless a budget forbids it:
- a pod that is Pending, finished or already terminating is deleted without looking at budgets;
- more than one budget selecting the pod is a 500 Status, as kube answers;
- a budget whose status is older than its spec (``observedGeneration``), or that allows no
  disruption, is a 429 ``TooManyRequests`` with a ``DisruptionBudget`` cause (kubectl drain retries
  every 5 s);
- else the budget's ``disruptionsAllowed`` goes down by one and the pod is noted in
  ``disruptedPods`` (so the disruption controller does not count it as healthy meanwhile), in the
  same transaction as the delete; an unready pod is deleted without using up the budget while the
  budget has its healthy pods (``unhealthyPodEvictionPolicy: AlwaysAllow``: always).

The budgets' status comes from the disruption controller (``controllers/disruption.py``).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from kymaprov.kubeapi import deletion
from kymaprov.kubeapi.errors import BadRequest, Forbidden, KubeError
from kymaprov.kubeapi.pods import Answer, Call, Connector, created, ready
from kymaprov.kubeapi.resources import PDBS, PODS
from kymaprov.kubeapi.selectors import from_label_selector, labels_match
from kymaprov.kubeapi.times import rfc3339

if TYPE_CHECKING:
    from kymaprov.kubeapi.objects import ObjectStore

MAX_DISRUPTED_PODS = 2000  # MaxDisruptedPodSize
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."
MANY_BUDGETS = (
    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
)


class TooManyRequests(KubeError):
    code = 429
    reason = "TooManyRequests"


def selects(pdb: dict[str, Any], pod: dict[str, Any]) -> bool:
    """Whether the budget covers the pod: same namespace and a matching selector. A null selector
    selects nothing; an empty one (``{}``) every pod of the namespace, as policy/v1 defines it."""
    if (pdb["metadata"].get("namespace") or "") != (pod["metadata"].get("namespace") or ""):
        return False
    requirements = from_label_selector((pdb.get("spec") or {}).get("selector"))
    return requirements is not None and labels_match(requirements, pod)


def set_allowed_condition(status: dict[str, Any], generation: int, now_text: str) -> None:
    """``UpdateDisruptionAllowedCondition``: ``DisruptionAllowed`` from ``disruptionsAllowed``; the
    transition time moves only when the status does."""
    allowed = int(status.get("disruptionsAllowed") or 0) > 0
    wanted = {
        "type": "DisruptionAllowed",
        "status": "True" if allowed else "False",
        "reason": "SufficientPods" if allowed else "InsufficientPods",
        "message": "",
        "observedGeneration": generation,
    }
    set_condition(status, wanted, now_text)


def set_condition(status: dict[str, Any], wanted: dict[str, Any], now_text: str) -> None:
    """``meta.SetStatusCondition`` for the one condition a budget has."""
    old = next((c for c in status.get("conditions") or [] if c.get("type") == wanted["type"]), None)
    since = old.get("lastTransitionTime") if old and old.get("status") == wanted["status"] else now_text
    status["conditions"] = [{**wanted, "lastTransitionTime": since}]


def _too_many(message: str, retry_after: int = 0) -> TooManyRequests:
    """``NewTooManyRequests`` with the budget's cause; a retry hint only when kube gives one."""
    details: dict[str, Any] = {"retryAfterSeconds": retry_after} if retry_after else {}
    details["causes"] = [{"reason": "DisruptionBudget", "message": message}]
    return TooManyRequests(VIOLATION, details)


def evict(store: ObjectStore, call: Call) -> Answer:
    """``EvictionREST.Create``: the pod deleted, or the Status that says why not."""
    eviction = call.body
    if not isinstance(eviction, dict) or eviction.get("kind", "Eviction") != "Eviction":
        raise BadRequest("not a Eviction object")
    if (eviction.get("metadata") or {}).get("name") != call.name:
        raise BadRequest("name in URL does not match name in Eviction object")
    options = deletion.parse(eviction.get("deleteOptions") or {}, {})
    dry_run = options.dry_run or call.query.get("dryRun") == "All"
    pod = store.get(PODS, call.namespace, call.name)
    phase = (pod.get("status") or {}).get("phase")
    if not (phase in ("Succeeded", "Failed", "Pending") or pod["metadata"].get("deletionTimestamp")):
        budgets = [b for b in store.list_objects(PDBS, call.namespace)[0] if selects(b, pod)]
        if len(budgets) > 1:
            failure = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
            return Answer(500, {**failure, "message": MANY_BUDGETS, "code": 500})
        if budgets and not _unready_may_go(budgets[0], pod):
            _use_budget(store, budgets[0], call.name, dry_run)
    if not dry_run:
        store.delete(PODS, call.namespace, call.name, options)
    return created()


def _unready_may_go(pdb: dict[str, Any], pod: dict[str, Any]) -> bool:
    """An unready pod does not count towards healthy: it goes without using the budget while the
    budget has its healthy pods, or always under ``AlwaysAllow``."""
    if ready(pod):
        return False
    if (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
        return True
    status = pdb.get("status") or {}
    desired = int(status.get("desiredHealthy") or 0)
    return int(status.get("currentHealthy") or 0) >= desired > 0


def _use_budget(store: ObjectStore, pdb: dict[str, Any], pod_name: str, dry_run: bool) -> None:
    """``checkAndDecrement``."""
    meta, status = pdb["metadata"], copy.deepcopy(pdb.get("status") or {})
    name = meta["name"]
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        raise _too_many(f"The disruption budget {name} is still being processed by the server.", 10)
    allowed = int(status.get("disruptionsAllowed") or 0)
    if allowed < 0:
        raise Forbidden.for_request(
            "poddisruptionbudget", "policy", name, "pdb disruptions allowed is negative"
        )
    if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_PODS:
        raise Forbidden.for_request(
            "poddisruptionbudget",
            "policy",
            name,
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        )
    if allowed == 0:
        desired, current = int(status.get("desiredHealthy") or 0), int(status.get("currentHealthy") or 0)
        raise _too_many(
            f"The disruption budget {name} needs {desired} healthy pods and has {current} currently"
        )
    status["disruptionsAllowed"] = allowed - 1
    now_text = rfc3339(store.now)
    if allowed == 1:
        set_allowed_condition(status, int(meta.get("generation") or 0), now_text)
    if dry_run:
        return
    status["disruptedPods"] = {**(status.get("disruptedPods") or {}), pod_name: now_text}
    store.update(PDBS, meta["namespace"], name, {**pdb, "status": status}, "status")


CONNECTORS = {"eviction": Connector(evict, writes=True)}
