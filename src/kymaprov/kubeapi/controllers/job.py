"""The Job controller (``pkg/controller/job``), as Kubernetes 1.33 runs it.

Pods are made from the template (``generateName: <job>-``) up to ``parallelism`` and the completions
still wanted; a failed pod is replaced after kube's back-off (10 s doubling, at most 6 min, on the
service clock). ``succeeded``/``failed`` count the Job's finished pods (never going down: a deleted
pod stays counted). The Job ends as 1.33 ends it, in two steps: first the interim condition
(``SuccessCriteriaMet`` reason ``CompletionsReached``, or ``FailureTarget`` with
``BackoffLimitExceeded`` / ``DeadlineExceeded``) while the remaining pods are deleted, then the
terminal one (``Complete`` with ``completionTime``, or ``Failed``). ``suspend`` deletes the active pods
(``Suspended``); ``activeDeadlineSeconds`` wakes the controller at the deadline. A finished Job with
``ttlSecondsAfterFinished`` is deleted that long after it finished (kube's TTL-after-finished controller).
Kube's pod-tracking finalizer is not used: the pods are counted from the graph, which the controller
reads whole, so no finished pod is missed while it exists.
"""

from __future__ import annotations

from typing import Any

from kymaprov.kubeapi.controllers.plan import (
    Create,
    Event,
    Obj,
    Plan,
    PlanController,
    View,
    bodies,
    delete,
    with_status,
)
from kymaprov.kubeapi.controllers.workload import (
    controlled_by,
    deleting,
    get_condition,
    int_of,
    meta,
    name,
    pod_active,
    pod_from_template,
    pod_ready,
    spec,
    status,
    time_of,
)
from kymaprov.kubeapi.times import rfc3339

KIND = "Job"
API_VERSION = "batch/v1"
BACKOFF_BASE = 10.0
BACKOFF_MAX = 360.0
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")
BACKOFF_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"


def finished(job: Obj) -> str | None:
    """``Complete`` or ``Failed`` when the Job has that condition (``IsJobFinished``)."""
    for kind in ("Complete", "Failed"):
        cond = get_condition(status(job).get("conditions"), kind)
        if cond is not None and cond.get("status") == "True":
            return kind
    return None


def _condition(kind: str, reason: str, message: str, now_text: str) -> Obj:
    return {
        "type": kind,
        "status": "True",
        "lastProbeTime": now_text,
        "lastTransitionTime": now_text,
        "reason": reason,
        "message": message,
    }


def _finished_at(pod: Obj) -> float | None:
    times = [
        time_of(((c.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        for c in status(pod).get("containerStatuses") or []
    ]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def plan(job: Obj, pods: list[Obj], now: float) -> Plan:
    """One sync of ``job`` given the pods it controls."""
    result = Plan()
    if finished(job):
        return _expire(job, now)
    now_text = rfc3339(now)
    pods = [p for p in pods if controlled_by(p, job)]
    active = [p for p in pods if pod_active(p)]
    failed_pods = [p for p in pods if status(p).get("phase") == "Failed"]
    old = status(job)
    indexed = spec(job).get("completionMode") == "Indexed"
    done_indexes = sorted(
        {_index(p) for p in pods if status(p).get("phase") == "Succeeded"} - {-1}
        | _parse_indexes(old.get("completedIndexes"))
    )
    finished_pods = len(done_indexes) if indexed else sum(status(p).get("phase") == "Succeeded" for p in pods)
    succeeded = max(int_of(old.get("succeeded")), finished_pods)
    failed = max(int_of(old.get("failed")), len(failed_pods))
    new: Obj = {k: v for k, v in old.items() if k in ("startTime", "completionTime", "conditions")}
    conditions: list[Obj] = list(new.get("conditions") or [])
    suspended = bool(spec(job).get("suspend"))
    if "startTime" not in new and not suspended:
        new["startTime"] = now_text
    start = time_of(new.get("startTime"))
    completions = spec(job).get("completions")

    interim = next(
        (
            c
            for c in conditions
            if c.get("type") in ("SuccessCriteriaMet", "FailureTarget") and c.get("status") == "True"
        ),
        None,
    )
    if interim is None:
        deadline = spec(job).get("activeDeadlineSeconds")
        if failed > int_of(spec(job).get("backoffLimit"), 6):
            interim = _condition("FailureTarget", *BACKOFF_EXCEEDED, now_text)
        elif deadline is not None and start is not None and not suspended and start + int_of(deadline) <= now:
            interim = _condition("FailureTarget", *DEADLINE_EXCEEDED, now_text)
        elif (succeeded >= int_of(completions) if completions is not None else succeeded > 0) and not active:
            interim = _condition("SuccessCriteriaMet", *COMPLETIONS_REACHED, now_text)
        elif deadline is not None and start is not None and not suspended:
            result.wake(start + int_of(deadline))
        if interim is not None:
            conditions.append(interim)
    if interim is not None:
        for pod in active:  # a finished Job keeps no running pod
            result.actions.append(delete(pod))
        if not active and not any(deleting(p) for p in pods):
            success = interim["type"] == "SuccessCriteriaMet"
            terminal = "Complete" if success else "Failed"
            conditions.append(_condition(terminal, interim["reason"], interim["message"], now_text))
            if success:
                new["completionTime"] = now_text
                result.actions.append(Event(job, "Normal", "Completed", "Job completed"))
            else:
                result.actions.append(Event(job, "Warning", str(interim["reason"]), str(interim["message"])))
        active_count = 0
    elif deleting(job):
        active_count = len(active)
    else:
        active_count = _manage(job, active, failed_pods, succeeded, set(done_indexes), suspended, now, result)
        conditions = _suspension(job, conditions, suspended, now_text, result)
        was = get_condition(old.get("conditions"), "Suspended")
        if not suspended and was is not None and was.get("status") == "True":
            new["startTime"] = now_text  # a resumed Job's deadline counts from now
    new.update(
        {
            "active": active_count,
            "ready": sum(1 for p in active if pod_ready(p)) if interim is None else 0,
            "terminating": sum(
                1 for p in pods if deleting(p) and status(p).get("phase") not in ("Succeeded", "Failed")
            ),
            "succeeded": succeeded,
            "failed": failed,
            "uncountedTerminatedPods": {},
        }
    )
    for key in ("active", "succeeded", "failed"):
        if not new[key]:
            del new[key]
    if indexed:
        new["completedIndexes"] = _format_indexes(done_indexes)
    if conditions:
        new["conditions"] = conditions
    upd = with_status(job, _ordered(new))
    if upd is not None:
        result.actions.append(upd)
    return result


def _expire(job: Obj, now: float) -> Plan:
    """The TTL-after-finished controller: a finished Job with ``ttlSecondsAfterFinished`` is deleted
    (foreground, its pods first) that long after it finished; until then, wake at that time."""
    result = Plan()
    ttl = spec(job).get("ttlSecondsAfterFinished")
    finished_at = max(
        (
            time_of(c.get("lastTransitionTime")) or 0.0
            for c in status(job).get("conditions") or []
            if c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        ),
        default=0.0,
    )
    if ttl is None or deleting(job) or not finished_at:
        return result
    expires = finished_at + int_of(ttl)
    if expires <= now:
        gone = delete(job)
        gone.policy = "Foreground"
        result.actions.append(gone)
    else:
        result.wake(expires)
    return result


def _index(pod: Obj) -> int:
    return int_of((meta(pod).get("annotations") or {}).get(INDEX_ANNOTATION), -1)


def _parse_indexes(text: object) -> set[int]:
    """``completedIndexes`` (``1,3-5``) as a set."""
    found: set[int] = set()
    for part in str(text or "").split(","):
        low, _, high = part.partition("-")
        if low.isdigit():
            found.update(range(int(low), int(high if high.isdigit() else low) + 1))
    return found


def _format_indexes(indexes: list[int]) -> str:
    """Sorted indexes as kube writes ``completedIndexes``: ranges of consecutive ones (``1,3-5``)."""
    parts: list[str] = []
    for i in indexes:
        if parts and parts[-1].split("-")[-1] == str(i - 1):
            parts[-1] = f"{parts[-1].split('-')[0]}-{i}"
        else:
            parts.append(str(i))
    return ",".join(parts)


_ORDER = (
    "conditions",
    "startTime",
    "completionTime",
    "active",
    "succeeded",
    "failed",
    "completedIndexes",
    "terminating",
    "uncountedTerminatedPods",
    "ready",
)


def _ordered(new: Obj) -> Obj:
    return {k: new[k] for k in _ORDER if k in new}


def _manage(
    job: Obj,
    active: list[Obj],
    failed_pods: list[Obj],
    succeeded: int,
    done_indexes: set[int],
    suspended: bool,
    now: float,
    result: Plan,
) -> int:
    """``manageJob``: create or delete pods towards the wanted number of active ones; returns it."""
    completions = spec(job).get("completions")
    parallelism = int_of(spec(job).get("parallelism"), 1)
    if suspended:
        want = 0
    elif completions is None:
        want = len(active) if succeeded > 0 else parallelism
    else:
        want = max(min(int_of(completions) - succeeded, parallelism), 0)
    diff = len(active) - want
    if diff > 0:
        for pod in sorted(
            active, key=lambda p: (pod_ready(p), -(time_of(meta(p).get("creationTimestamp")) or 0))
        )[:diff]:
            result.actions.append(
                delete(pod, about=job, event=("Normal", "SuccessfulDelete", "Deleted pod: {name}"))
            )
        return want
    if diff < 0:
        if failed_pods:  # back-off after failures: 10 s, doubling, at most 6 min
            last = max((_finished_at(p) or now) for p in failed_pods)
            delay = min(BACKOFF_BASE * 2 ** (len(failed_pods) - 1), BACKOFF_MAX)
            if last + delay > now:
                result.wake(last + delay)
                return len(active)
        template = spec(job).get("template") or {}
        indexed = spec(job).get("completionMode") == "Indexed"
        taken = {_index(p) for p in active} | done_indexes
        free = (i for i in range(int_of(completions)) if i not in taken)
        for _ in range(-diff):
            body = pod_from_template(template, job, KIND, API_VERSION, f"{name(job)}-")
            if indexed:
                index = next(free, None)
                if index is None:
                    break
                body["metadata"].setdefault("annotations", {})[INDEX_ANNOTATION] = str(index)
                body["metadata"].setdefault("labels", {})["batch.kubernetes.io/job-completion-index"] = str(
                    index
                )
                body["metadata"]["generateName"] = f"{name(job)}-{index}-"
                body["spec"].setdefault("hostname", f"{name(job)}-{index}")
            result.actions.append(
                Create(
                    "v1",
                    "pods",
                    str(meta(job).get("namespace", "")),
                    body,
                    about=job,
                    event=("Normal", "SuccessfulCreate", "Created pod: {name}"),
                    failed=("Warning", "FailedCreate", "Error creating: {error}"),
                )
            )
        return want
    return len(active)


def _suspension(job: Obj, conditions: list[Obj], suspended: bool, now_text: str, result: Plan) -> list[Obj]:
    current = get_condition(conditions, "Suspended")
    if suspended and (current is None or current.get("status") != "True"):
        result.actions.append(Event(job, "Normal", "Suspended", "Job suspended"))
        cond = _condition("Suspended", "JobSuspended", "Job suspended", now_text)
    elif not suspended and current is not None and current.get("status") == "True":
        result.actions.append(Event(job, "Normal", "Resumed", "Job resumed"))
        cond = dict(_condition("Suspended", "JobResumed", "Job resumed", now_text), status="False")
    else:
        return conditions
    return [c for c in conditions if c.get("type") != "Suspended"] + [cond]


class JobController(PlanController):
    name = "job"
    kinds = frozenset({("batch", "jobs"), ("", "pods")})
    watches = kinds
    component = "job-controller"

    def plans(self, view: View) -> list[Plan]:
        graph = view.graph
        result: list[Plan] = []
        for node in graph.of_kind("batch", "jobs"):
            if node.body is None:
                continue
            pods: list[Any] = bodies(graph.owned_by(node.uid, "", "pods"))
            result.append(plan(node.body, pods, view.now))
        return result


CONTROLLERS = (JobController(),)
