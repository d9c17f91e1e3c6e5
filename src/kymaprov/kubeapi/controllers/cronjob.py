"""The CronJob controller (``pkg/controller/cronjob``, v2), on the service clock.

The schedule (standard five fields or ``@hourly``-style, in ``spec.timeZone`` or UTC) is read with
``croniter``. At each sync the most recent schedule time after ``lastScheduleTime`` (or the creation)
that has passed gets a Job named ``<cronjob>-<minutes since the epoch>``, unless it is later than
``startingDeadlineSeconds`` (``MissSchedule``) or ``concurrencyPolicy`` says otherwise (``Forbid``: not
while one runs; ``Replace``: the running ones are deleted first). The controller wakes at the next
schedule time, so ``/admin/clock/advance`` fires CronJobs at once. Finished Jobs beyond
``successfulJobsHistoryLimit`` / ``failedJobsHistoryLimit`` are deleted, oldest first; the status lists
the active Jobs and ``lastScheduleTime`` / ``lastSuccessfulTime``.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from kymaprov.kubeapi.controllers.job import finished
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
    int_of,
    meta,
    name,
    owner_ref,
    spec,
    status,
    time_of,
    uid,
)
from kymaprov.kubeapi.cron import schedule_error
from kymaprov.kubeapi.times import rfc3339

KIND = "CronJob"
API_VERSION = "batch/v1"
SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"


def _zone(cron_job: Obj) -> tzinfo:
    zone = spec(cron_job).get("timeZone")
    if not zone:
        return UTC
    try:
        return ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _times(cron_job: Obj, now: float) -> tuple[float | None, float]:
    """(the most recent unmet schedule time, or None; the next schedule time after ``now``)."""
    schedule = str(spec(cron_job).get("schedule", ""))
    at = datetime.fromtimestamp(now, _zone(cron_job))
    upcoming = float(croniter(schedule, at).get_next(float))
    # a schedule time equal to now is due (kube: not after now); croniter's get_prev is strict
    recent = float(croniter(schedule, at + timedelta(microseconds=1)).get_prev(float))
    earliest = time_of(status(cron_job).get("lastScheduleTime")) or time_of(
        meta(cron_job).get("creationTimestamp")
    )
    deadline = spec(cron_job).get("startingDeadlineSeconds")
    if deadline is not None and earliest is not None:
        earliest = max(earliest, now - int_of(deadline))
    if earliest is not None and recent <= earliest:
        return None, upcoming
    return recent, upcoming


def _rfc3339_in(when: float, zone: tzinfo) -> str:
    """Go's ``time.RFC3339`` in a zone: ``Z`` for UTC, else the offset (``+01:00``)."""
    local = datetime.fromtimestamp(int(when), zone)
    offset = local.strftime("%z")
    suffix = "Z" if offset in ("+0000", "") else f"{offset[:3]}:{offset[3:]}"
    return local.strftime("%Y-%m-%dT%H:%M:%S") + suffix


def job_name(cron_job: Obj, scheduled: float) -> str:
    """``getJobName``: the scheduled time in minutes keeps names unique per schedule time."""
    return f"{name(cron_job)}-{int(scheduled // 60)}"


def job_from_template(cron_job: Obj, scheduled: float) -> Obj:
    template = spec(cron_job).get("jobTemplate") or {}
    tmeta = template.get("metadata") or {}
    annotations = dict(tmeta.get("annotations") or {})
    annotations[SCHEDULED_ANNOTATION] = _rfc3339_in(scheduled, _zone(cron_job))
    jmeta: Obj = {
        "name": job_name(cron_job, scheduled),
        "namespace": meta(cron_job).get("namespace", ""),
        "annotations": annotations,
        "ownerReferences": [owner_ref(cron_job, KIND, API_VERSION)],
    }
    if tmeta.get("labels"):
        jmeta["labels"] = dict(tmeta["labels"])
    return {
        "apiVersion": API_VERSION,
        "kind": "Job",
        "metadata": jmeta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def _ref(job: Obj) -> Obj:
    m = meta(job)
    return {
        "kind": "Job",
        "namespace": m.get("namespace", ""),
        "name": m.get("name", ""),
        "uid": m.get("uid", ""),
        "apiVersion": API_VERSION,
        "resourceVersion": m.get("resourceVersion", ""),
    }


def plan(cron_job: Obj, jobs: list[Obj], now: float) -> Plan:
    """One sync of ``cron_job`` given the Jobs it controls."""
    result = Plan()
    jobs = [j for j in jobs if controlled_by(j, cron_job)]
    old = status(cron_job)
    was_active = {r.get("uid") for r in old.get("active") or []}
    new: Obj = {k: v for k, v in old.items() if k in ("lastScheduleTime", "lastSuccessfulTime")}
    running = [j for j in jobs if not finished(j) and not deleting(j)]
    for job in jobs:
        outcome = finished(job)
        if outcome and uid(job) in was_active:
            result.actions.append(
                Event(
                    cron_job,
                    "Normal",
                    "SawCompletedJob",
                    f"Saw completed job: {name(job)}, condition: {outcome}",
                )
            )
        done_at = time_of(status(job).get("completionTime"))
        if outcome == "Complete" and done_at is not None:
            last = time_of(new.get("lastSuccessfulTime"))
            if last is None or last < done_at:
                new["lastSuccessfulTime"] = rfc3339(done_at)
    _history(cron_job, jobs, result)
    if schedule_error(spec(cron_job).get("schedule")) is None and not deleting(cron_job):
        scheduled, upcoming = _times(cron_job, now)
        result.wake(upcoming)
        if scheduled is not None and not spec(cron_job).get("suspend"):
            running = _start(cron_job, jobs, running, scheduled, now, new, result)
    if running:
        new["active"] = [_ref(j) for j in sorted(running, key=name)]
    upd = with_status(
        cron_job, {k: new[k] for k in ("active", "lastScheduleTime", "lastSuccessfulTime") if k in new}
    )
    if upd is not None:
        result.actions.append(upd)
    return result


def _start(
    cron_job: Obj, jobs: list[Obj], running: list[Obj], scheduled: float, now: float, new: Obj, result: Plan
) -> list[Obj]:
    deadline = spec(cron_job).get("startingDeadlineSeconds")
    if deadline is not None and scheduled + int_of(deadline) < now:
        when = rfc3339(scheduled)
        result.actions.append(
            Event(cron_job, "Warning", "MissSchedule", f"Missed scheduled time to start a job: {when}")
        )
        return running
    wanted = job_name(cron_job, scheduled)
    if any(name(j) == wanted for j in jobs):  # made already (its status write may have failed)
        new["lastScheduleTime"] = rfc3339(scheduled)
        return running
    policy = spec(cron_job).get("concurrencyPolicy", "Allow")
    if policy == "Forbid" and running:
        result.actions.append(
            Event(
                cron_job,
                "Normal",
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid",
            )
        )
        return running
    if policy == "Replace":
        for job in running:
            result.actions.append(
                delete(job, about=cron_job, event=("Normal", "SuccessfulDelete", "Deleted job {name}"))
            )
        running = []
    result.actions.append(
        Create(
            API_VERSION,
            "jobs",
            str(meta(cron_job).get("namespace", "")),
            job_from_template(cron_job, scheduled),
            about=cron_job,
            event=("Normal", "SuccessfulCreate", "Created job {name}"),
            failed=("Warning", "FailedCreate", "Error creating job: {error}"),
        )
    )
    new["lastScheduleTime"] = rfc3339(scheduled)
    return running


def _history(cron_job: Obj, jobs: list[Obj], result: Plan) -> None:
    """``cleanupFinishedJobs``: the oldest finished Jobs beyond each history limit."""
    for outcome, field, default in (
        ("Complete", "successfulJobsHistoryLimit", 3),
        ("Failed", "failedJobsHistoryLimit", 1),
    ):
        limit = int_of(spec(cron_job).get(field), default)
        done = [j for j in jobs if finished(j) == outcome and not deleting(j)]
        done.sort(key=lambda j: (time_of(status(j).get("startTime")) or float("inf"), name(j)))
        for job in done[: max(len(done) - limit, 0)]:
            result.actions.append(
                delete(job, about=cron_job, event=("Normal", "SuccessfulDelete", "Deleted job {name}"))
            )


class CronJobController(PlanController):
    name = "cronjob"
    kinds = frozenset({("batch", "cronjobs"), ("batch", "jobs")})
    watches = kinds
    component = "cronjob-controller"

    def plans(self, view: View) -> list[Plan]:
        graph = view.graph
        return [
            plan(node.body, bodies(graph.owned_by(node.uid, "batch", "jobs")), view.now)
            for node in graph.of_kind("batch", "cronjobs")
            if node.body is not None
        ]


CONTROLLERS = (CronJobController(),)
