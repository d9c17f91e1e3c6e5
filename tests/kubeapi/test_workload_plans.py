"""The workload controllers' decisions (``controllers/<kind>.py``'s pure ``plan`` functions) on plain
objects: what kube's controllers would request for a given state, without a server."""

from __future__ import annotations

import copy
from typing import Any

from kymaprov.kubeapi.controllers import cronjob, daemonset, deployment, hpa, job, replicaset, statefulset
from kymaprov.kubeapi.controllers.plan import Create, Delete, Event, Patch, Plan, Update
from kymaprov.kubeapi.times import rfc3339

T0 = 1_800_000_000.0  # a multiple of five minutes (the CronJob tests)
Obj = dict[str, Any]


def template(image: str = "nginx:1.25") -> Obj:
    return {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": image}]}}


def make_deployment(replicas: int = 4, image: str = "nginx:1.25", **extra: Any) -> Obj:
    d: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": "d-uid",
            "generation": 1,
            "resourceVersion": "5",
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": template(image),
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
    }
    d["spec"].update(extra)
    return d


def rs_of(d: Obj, image: str, replicas: int, available: int, rev: int, created: float = T0) -> Obj:
    """A ReplicaSet as the controller makes it, with a status as its controller would report."""
    t = template(image)
    h = deployment.template_hash(t)
    t["metadata"]["labels"]["pod-template-hash"] = h
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"web-{h}",
            "namespace": "default",
            "uid": f"rs-{h}",
            "generation": 1,
            "resourceVersion": "7",
            "creationTimestamp": rfc3339(created),
            "labels": dict(t["metadata"]["labels"]),
            "annotations": {
                deployment.REVISION: str(rev),
                deployment.DESIRED: str(d["spec"]["replicas"]),
                deployment.MAX: str(d["spec"]["replicas"] + deployment.max_surge(d)),
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "web",
                    "uid": "d-uid",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web", "pod-template-hash": h}},
            "template": t,
        },
        "status": {
            "replicas": replicas,
            "readyReplicas": available,
            "availableReplicas": available,
            "observedGeneration": 1,
        },
    }


def of(plan: Plan, kind: type) -> list[Any]:
    return [a for a in plan.actions if isinstance(a, kind)]


def updates(plan: Plan, resource: str, sub: str = "") -> list[Obj]:
    return [a.body for a in of(plan, Update) if a.resource == resource and a.sub == sub]


def messages(plan: Plan) -> list[str]:
    return [e.message for e in of(plan, Event)]


# --- Deployment -------------------------------------------------------------------------------------


def test_a_new_deployment_gets_a_replica_set_of_its_template() -> None:
    d = make_deployment(replicas=2)
    plan = deployment.plan(d, [], [], T0)
    (create,) = of(plan, Create)
    rs = create.body
    h = deployment.template_hash(d["spec"]["template"])
    assert rs["metadata"]["name"] == f"web-{h}"
    assert rs["spec"]["replicas"] == 2
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": h}
    assert rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == h
    assert rs["metadata"]["annotations"] == {
        deployment.REVISION: "1",
        deployment.DESIRED: "2",
        deployment.MAX: "3",
    }
    assert rs["metadata"]["ownerReferences"][0]["controller"] is True
    assert messages(plan) == [f"Scaled up replica set web-{h} from 0 to 2"]
    (body,) = updates(plan, "deployments")  # the revision annotation, then the status
    assert body["metadata"]["annotations"][deployment.REVISION] == "1"
    (then,) = [a.then_status for a in of(plan, Update) if a.resource == "deployments"]
    assert then is not None
    progressing = next(c for c in then["conditions"] if c["type"] == "Progressing")
    assert (progressing["reason"], progressing["message"]) == (
        "NewReplicaSetCreated",
        f'Created new replica set "web-{h}"',
    )


def test_a_template_change_surges_the_new_set_and_shrinks_the_old_within_max_unavailable() -> None:
    d = make_deployment(replicas=4, image="nginx:1.26")
    d["metadata"]["annotations"] = {deployment.REVISION: "1"}
    old = rs_of(d, "nginx:1.25", replicas=4, available=4, rev=1)
    plan = deployment.plan(d, [old], [], T0 + 10)
    (create,) = of(plan, Create)
    assert create.body["spec"]["replicas"] == 1  # maxSurge 25% of 4
    assert create.body["metadata"]["annotations"][deployment.REVISION] == "2"
    (shrunk,) = updates(plan, "replicasets")
    assert shrunk["spec"]["replicas"] == 3  # maxUnavailable 25% of 4: 3 must stay available
    assert f"Scaled down replica set {old['metadata']['name']} from 4 to 3" in messages(plan)


def test_no_old_pod_goes_while_the_new_ones_are_unavailable() -> None:
    d = make_deployment(replicas=4, image="doesnotexist.invalid/nope:0")
    old = rs_of(d, "nginx:1.25", replicas=3, available=3, rev=1)
    new = rs_of(d, "doesnotexist.invalid/nope:0", replicas=2, available=0, rev=2, created=T0 + 5)
    plan = deployment.plan(d, [old, new], [], T0 + 20)
    assert not updates(plan, "replicasets")
    assert not of(plan, Create)


def test_progress_deadline_exceeded_on_the_service_clock() -> None:
    d = make_deployment(replicas=2, image="doesnotexist.invalid/nope:0", progressDeadlineSeconds=60)
    new = rs_of(d, "doesnotexist.invalid/nope:0", replicas=2, available=0, rev=1)
    new["status"]["replicas"] = 2
    d["metadata"]["annotations"] = {deployment.REVISION: "1"}
    d["status"] = {
        "observedGeneration": 1,
        "replicas": 2,
        "updatedReplicas": 2,
        "unavailableReplicas": 2,
        "conditions": [
            {
                "type": "Progressing",
                "status": "True",
                "reason": "ReplicaSetUpdated",
                "message": "x",
                "lastUpdateTime": rfc3339(T0),
                "lastTransitionTime": rfc3339(T0),
            }
        ],
    }
    early = deployment.plan(d, [new], [], T0 + 30)
    assert early.wake_at == T0 + 61
    late = deployment.plan(d, [new], [], T0 + 61)
    (status,) = updates(late, "deployments", "status")
    progressing = next(c for c in status["status"]["conditions"] if c["type"] == "Progressing")
    assert progressing["status"] == "False"
    assert progressing["reason"] == "ProgressDeadlineExceeded"
    assert progressing["message"] == f'ReplicaSet "{new["metadata"]["name"]}" has timed out progressing.'


def test_a_rolled_out_deployment_says_so_and_keeps_only_its_history_limit() -> None:
    d = make_deployment(replicas=2, revisionHistoryLimit=1)
    d["metadata"]["annotations"] = {deployment.REVISION: "3"}
    new = rs_of(d, "nginx:1.25", replicas=2, available=2, rev=3, created=T0 + 100)
    olds = [rs_of(d, f"nginx:1.{n}", replicas=0, available=0, rev=n, created=T0 + n) for n in (1, 2)]
    for o in olds:
        o["status"] = {"replicas": 0, "observedGeneration": 1}
    plan = deployment.plan(d, [*olds, new], [], T0 + 200)
    (deleted,) = of(plan, Delete)
    assert deleted.name == olds[0]["metadata"]["name"]  # revision 1 goes, revision 2 stays
    (status,) = updates(plan, "deployments", "status")
    conditions = {c["type"]: c for c in status["status"]["conditions"]}
    assert conditions["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert status["status"]["availableReplicas"] == 2 and "unavailableReplicas" not in status["status"]


def test_undo_makes_the_old_set_new_with_the_next_revision() -> None:
    d = make_deployment(replicas=2, image="nginx:1.25")  # the template patched back to revision 1's
    d["metadata"]["annotations"] = {deployment.REVISION: "2"}
    first = rs_of(d, "nginx:1.25", replicas=0, available=0, rev=1)
    second = rs_of(d, "doesnotexist.invalid/nope:0", replicas=2, available=0, rev=2, created=T0 + 5)
    plan = deployment.plan(d, [first, second], [], T0 + 30)
    revived = next(
        r for r in updates(plan, "replicasets") if r["metadata"]["name"] == first["metadata"]["name"]
    )
    assert revived["metadata"]["annotations"][deployment.REVISION] == "3"
    assert revived["metadata"]["annotations"][deployment.REVISION_HISTORY] == "1"
    assert revived["spec"]["replicas"] == 1  # surge 1 while the unavailable ones go


def test_scaling_a_paused_deployment_resizes_without_rolling() -> None:
    d = make_deployment(replicas=5, image="nginx:1.26", paused=True)
    old = rs_of(d, "nginx:1.25", replicas=2, available=2, rev=1)
    old["metadata"]["annotations"][deployment.DESIRED] = "2"
    plan = deployment.plan(d, [old], [], T0)
    assert not of(plan, Create)
    (resized,) = updates(plan, "replicasets")
    assert resized["spec"]["replicas"] == 5
    (status,) = updates(plan, "deployments", "status")
    progressing = next(c for c in status["status"]["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("Unknown", "DeploymentPaused")


def test_recreate_waits_for_the_old_pods_to_go() -> None:
    d = make_deployment(replicas=2, image="nginx:1.26", strategy={"type": "Recreate"})
    old = rs_of(d, "nginx:1.25", replicas=2, available=2, rev=1)
    first = deployment.plan(d, [old], [], T0)
    assert updates(first, "replicasets")[0]["spec"]["replicas"] == 0 and not of(first, Create)
    old["spec"]["replicas"] = 0
    pod = {
        "metadata": {"name": "p", "ownerReferences": [{"uid": old["metadata"]["uid"], "controller": True}]},
        "status": {"phase": "Running"},
    }
    assert not of(deployment.plan(d, [old], [pod], T0), Create)
    old["status"] = {"replicas": 0}
    (create,) = of(deployment.plan(d, [old], [], T0), Create)
    assert create.body["spec"]["replicas"] == 2


def test_fenceposts_round_as_kube() -> None:
    d = make_deployment(
        replicas=10,
        strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "15%", "maxUnavailable": "15%"}},
    )
    assert deployment.fenceposts(d) == (2, 1)
    zero = make_deployment(
        replicas=3, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}
    )
    assert deployment.fenceposts(zero) == (0, 1)


# --- ReplicaSet -------------------------------------------------------------------------------------


def pod(name: str, owner: Obj | None, ready_at: float | None = None, node: str = "n1", **meta: Any) -> Obj:
    p: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"u-{name}",
            "labels": {"app": "web"},
            **meta,
        },
        "spec": {"nodeName": node},
        "status": {"phase": "Running" if ready_at else "Pending"},
    }
    if owner is not None:
        p["metadata"]["ownerReferences"] = [
            {"uid": owner["metadata"]["uid"], "controller": True, "kind": "ReplicaSet"}
        ]
    if ready_at is not None:
        p["status"]["conditions"] = [
            {"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(ready_at)}
        ]
    return p


def test_a_replica_set_creates_the_missing_pods_and_adopts_orphans() -> None:
    d = make_deployment()
    rs = rs_of(d, "nginx:1.25", replicas=3, available=0, rev=1)
    rs["spec"]["selector"] = {"matchLabels": {"app": "web"}}
    orphan = pod("orphan", None, ready_at=T0)
    plan = replicaset.plan(rs, [orphan], T0 + 1)
    creates = of(plan, Create)
    assert len(creates) == 2
    body = creates[0].body
    assert body["metadata"]["generateName"] == f"{rs['metadata']['name']}-"
    assert body["metadata"]["ownerReferences"][0] == {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": rs["metadata"]["name"],
        "uid": rs["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert creates[0].event == ("Normal", "SuccessfulCreate", "Created pod: {name}")
    (adopt,) = of(plan, Patch)
    assert adopt.patch["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]


def test_a_replica_set_deletes_unscheduled_and_unready_pods_first() -> None:
    d = make_deployment()
    rs = rs_of(d, "nginx:1.25", replicas=1, available=0, rev=1)
    rs["spec"]["selector"] = {"matchLabels": {"app": "web"}}
    ready = pod("ready", rs, ready_at=T0)
    pending = pod("pending", rs, node="")
    starting = pod("starting", rs)
    plan = replicaset.plan(rs, [ready, pending, starting], T0 + 1)
    assert sorted(a.name for a in of(plan, Delete)) == ["pending", "starting"]


def test_available_counts_after_min_ready_seconds_and_wakes_then() -> None:
    d = make_deployment()
    rs = rs_of(d, "nginx:1.25", replicas=1, available=0, rev=1)
    rs["spec"]["selector"] = {"matchLabels": {"app": "web"}}
    rs["spec"]["minReadySeconds"] = 30
    p = pod("p", rs, ready_at=T0)
    plan = replicaset.plan(rs, [p], T0 + 10)
    (status,) = updates(plan, "replicasets", "status")
    assert status["status"]["readyReplicas"] == 1 and "availableReplicas" not in status["status"]
    assert plan.wake_at == T0 + 30
    later = replicaset.plan(rs, [p], T0 + 30)
    assert updates(later, "replicasets", "status")[0]["status"]["availableReplicas"] == 1


# --- Job and CronJob --------------------------------------------------------------------------------


def make_job(**extra: Any) -> Obj:
    spec = {"completions": 2, "parallelism": 1, "backoffLimit": 1, "template": template()}
    spec.update(extra)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi", "namespace": "default", "uid": "j-uid", "resourceVersion": "3"},
        "spec": spec,
    }


def job_pod(name: str, phase: str, finished: float = T0) -> Obj:
    return {
        "metadata": {
            "name": name,
            "uid": f"u-{name}",
            "ownerReferences": [{"uid": "j-uid", "controller": True}],
        },
        "status": {
            "phase": phase,
            "containerStatuses": [{"state": {"terminated": {"finishedAt": rfc3339(finished)}}}],
        },
    }


def test_a_job_runs_its_pods_one_after_another_and_completes_in_two_steps() -> None:
    j = make_job()
    first = job.plan(j, [], T0)
    assert len(of(first, Create)) == 1
    j["status"] = updates(first, "jobs", "status")[0]["status"]
    assert j["status"]["startTime"] == rfc3339(T0)
    second = job.plan(j, [job_pod("a", "Succeeded")], T0 + 5)
    assert len(of(second, Create)) == 1
    j["status"] = updates(second, "jobs", "status")[0]["status"]
    done = [job_pod("a", "Succeeded"), job_pod("b", "Succeeded")]
    third = job.plan(j, done, T0 + 9)
    j["status"] = updates(third, "jobs", "status")[0]["status"]
    assert [c["type"] for c in j["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert j["status"]["conditions"][1]["reason"] == "CompletionsReached"
    assert j["status"]["succeeded"] == 2 and j["status"]["completionTime"] == rfc3339(T0 + 9)
    assert "Job completed" in messages(third)
    assert not job.plan(j, done, T0 + 20).actions  # finished: nothing more


def test_a_job_past_its_backoff_limit_fails_after_backing_off() -> None:
    j = make_job(completions=1)
    j["status"] = {"startTime": rfc3339(T0)}
    once = job.plan(j, [job_pod("a", "Failed", T0)], T0 + 1)
    assert not of(once, Create) and once.wake_at == T0 + 10  # the first back-off
    assert len(of(job.plan(j, [job_pod("a", "Failed", T0)], T0 + 10), Create)) == 1
    failed = [job_pod("a", "Failed"), job_pod("b", "Failed")]
    result = job.plan(j, failed, T0 + 40)
    status = updates(result, "jobs", "status")[0]["status"]
    assert [(c["type"], c["reason"]) for c in status["conditions"]] == [
        ("FailureTarget", "BackoffLimitExceeded"),
        ("Failed", "BackoffLimitExceeded"),
    ]
    assert status["failed"] == 2


def make_cron(**extra: Any) -> Obj:
    spec = {
        "schedule": "*/5 * * * *",
        "concurrencyPolicy": "Allow",
        "successfulJobsHistoryLimit": 1,
        "failedJobsHistoryLimit": 1,
        "jobTemplate": {"metadata": {"labels": {"x": "y"}}, "spec": {"template": template()}},
    }
    spec.update(extra)
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": "tick",
            "namespace": "default",
            "uid": "c-uid",
            "creationTimestamp": rfc3339(T0),
        },
        "spec": spec,
    }


def test_a_cron_job_fires_at_its_schedule_and_wakes_for_the_next() -> None:
    c = make_cron()
    before = cronjob.plan(c, [], T0 + 60)
    assert not of(before, Create) and before.wake_at == T0 + 300
    due = cronjob.plan(c, [], T0 + 301)
    (create,) = of(due, Create)
    assert create.body["metadata"]["name"] == f"tick-{int((T0 + 300) // 60)}"
    assert create.body["metadata"]["labels"] == {"x": "y"}
    assert create.body["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    status = updates(due, "cronjobs", "status")[0]["status"]
    assert status["lastScheduleTime"] == rfc3339(T0 + 300)


def test_forbid_skips_a_schedule_while_a_job_runs_and_history_is_trimmed() -> None:
    c = make_cron(concurrencyPolicy="Forbid")
    c["status"] = {"lastScheduleTime": rfc3339(T0)}

    def owned(name: str, outcome: str | None, start: float) -> Obj:
        j: Obj = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "uid": name,
                "ownerReferences": [{"uid": "c-uid", "controller": True}],
            },
            "status": {"startTime": rfc3339(start)},
        }
        if outcome:
            j["status"]["conditions"] = [{"type": outcome, "status": "True"}]
        return j

    jobs = [owned("old", "Complete", T0 - 600), owned("newer", "Complete", T0 - 300), owned("now", None, T0)]
    plan = cronjob.plan(c, jobs, T0 + 301)
    assert not of(plan, Create)
    assert [d.name for d in of(plan, Delete)] == ["old"]
    assert "Not starting job because prior execution is running and concurrency policy is Forbid" in messages(
        plan
    )


def test_schedules_are_validated_as_kube_parses_them() -> None:
    from kymaprov.kubeapi.cron import schedule_error

    assert schedule_error("*/5 * * * *") is None and schedule_error("@hourly") is None
    assert schedule_error("bad") == "expected exactly 5 fields, found 1: [bad]"
    assert schedule_error("TZ=UTC * * * * *") is not None
    assert schedule_error("61 * * * *") is not None


# --- StatefulSet, DaemonSet, HPA --------------------------------------------------------------------


def make_sts(replicas: int = 3) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "default", "uid": "s-uid", "generation": 1},
        "spec": {
            "replicas": replicas,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "web"}},
            "template": template(),
            "podManagementPolicy": "OrderedReady",
            "volumeClaimTemplates": [
                {"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}
            ],
        },
    }


def test_a_stateful_set_makes_its_pods_in_order_waiting_for_each() -> None:
    s = make_sts()
    first = statefulset.plan(s, [], [], set(), T0)
    made = [a.body for a in of(first, Create) if a.resource == "pods"]
    assert [p["metadata"]["name"] for p in made] == ["db-0"]
    assert made[0]["spec"]["hostname"] == "db-0" and made[0]["spec"]["subdomain"] == "db"
    claims = [a.body["metadata"]["name"] for a in of(first, Create) if a.resource == "persistentvolumeclaims"]
    assert claims == ["data-db-0"]
    assert any(a.resource == "controllerrevisions" for a in of(first, Create))
    p0 = copy.deepcopy(made[0])
    p0["metadata"]["uid"] = "u0"
    assert not [
        a for a in of(statefulset.plan(s, [p0], [], {"data-db-0"}, T0), Create) if a.resource == "pods"
    ]
    p0["status"] = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(T0)}],
    }
    nxt = statefulset.plan(s, [p0], [], {"data-db-0"}, T0)
    assert [a.body["metadata"]["name"] for a in of(nxt, Create) if a.resource == "pods"] == ["db-1"]


def test_a_daemon_set_puts_one_pod_on_each_node_it_tolerates() -> None:
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "kube-system", "uid": "ds-uid", "generation": 1},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template()},
    }
    nodes: list[Obj] = [
        {"metadata": {"name": "n1", "labels": {}}, "spec": {}},
        {"metadata": {"name": "n2", "labels": {}}, "spec": {"unschedulable": True}},
        {"metadata": {"name": "n3"}, "spec": {"taints": [{"key": "dedicated", "effect": "NoSchedule"}]}},
    ]
    plan = daemonset.plan(ds, [], nodes, T0)
    pinned = sorted(daemonset._node_of(a.body) for a in of(plan, Create) if a.resource == "pods")
    assert pinned == ["n1", "n2"]  # cordoned nodes run daemons; the untolerated taint keeps n3 out
    status = updates(plan, "daemonsets", "status")[0]["status"]
    assert status["desiredNumberScheduled"] == 2 and status["currentNumberScheduled"] == 0


def test_an_hpa_scales_into_its_range_and_says_it_has_no_metrics() -> None:
    h = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default", "uid": "h"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 3,
            "maxReplicas": 5,
        },
    }
    low = hpa.plan(h, make_deployment(replicas=1), T0)
    (patch,) = of(low, Patch)
    assert patch.patch["spec"] == {"replicas": 3}
    assert "New size: 3; reason: Current number of replicas below Spec.MinReplicas" in messages(low)
    inside = hpa.plan(h, make_deployment(replicas=4), T0)
    status = updates(inside, "horizontalpodautoscalers", "status")[0]["status"]
    assert (status["currentReplicas"], status["desiredReplicas"]) == (4, 4)
    active = next(c for c in status["conditions"] if c["type"] == "ScalingActive")
    assert active["status"] == "False" and active["reason"] == "FailedGetResourceMetric"
    assert "no metrics returned" in active["message"]


# --- applying plans -------------------------------------------------------------------------------


class RefusingClient:
    """Records the requests; refuses every create as an admission plugin would."""

    def __init__(self) -> None:
        self.puts: list[tuple[str, Obj]] = []

    def create(self, path: str, body: Obj) -> Obj:
        from kymaprov.kubeapi.controllers.client import ApiError

        raise ApiError(403, {"reason": "Forbidden", "message": 'pods "web-" is forbidden: exceeded quota: q'})

    def put(self, path: str, body: Obj) -> Obj:
        self.puts.append((path, body))
        return body


def test_a_refused_pod_create_is_reported_as_replica_failure() -> None:
    from kymaprov.kubeapi.controllers.base import Pass, View
    from kymaprov.kubeapi.controllers.events import EventRecorder
    from kymaprov.kubeapi.controllers.graph import Graph
    from kymaprov.kubeapi.controllers.plan import Applier

    d = make_deployment()
    rs = rs_of(d, "nginx:1.25", replicas=2, available=0, rev=1)
    rs["status"] = {"replicas": 0, "observedGeneration": 1}
    plan = replicaset.plan(rs, [], T0)
    assert not updates(plan, "replicasets", "status")  # nothing changed but the failure
    client = RefusingClient()
    work = Pass(100)
    view = View("c", Graph("c", None), T0, "", EventRecorder())  # type: ignore[arg-type]
    Applier(view, client, work, "replicaset-controller").apply(plan)  # type: ignore[arg-type]
    assert work.retry
    ((path, body),) = client.puts
    assert path.endswith(f"/replicasets/{rs['metadata']['name']}/status")
    (condition,) = body["status"]["conditions"]
    assert condition["type"] == "ReplicaFailure" and condition["reason"] == "FailedCreate"
    assert condition["message"] == 'pods "web-" is forbidden: exceeded quota: q'
    # the next sync without the error clears it
    rs["status"] = body["status"]
    assert "conditions" not in updates(replicaset.plan(rs, [], T0), "replicasets", "status")[0]["status"]


def test_an_indexed_job_runs_each_index_once_and_reports_them() -> None:
    j = make_job(completions=3, parallelism=2, completionMode="Indexed")
    first = job.plan(j, [], T0)
    annotations = [a.body["metadata"]["annotations"][job.INDEX_ANNOTATION] for a in of(first, Create)]
    assert annotations == ["0", "1"]
    done = job_pod("a", "Succeeded")
    done["metadata"]["annotations"] = {job.INDEX_ANNOTATION: "1"}
    later = job.plan(j, [done], T0 + 5)
    assert [a.body["metadata"]["annotations"][job.INDEX_ANNOTATION] for a in of(later, Create)] == ["0", "2"]
    assert updates(later, "jobs", "status")[0]["status"]["completedIndexes"] == "1"


def test_a_cron_job_in_a_time_zone_names_its_schedule_in_that_zone() -> None:
    c = make_cron(timeZone="Europe/Berlin", schedule="0 9 * * *")
    fired = cronjob.plan(c, [], T0 + 86_400)
    (create,) = of(fired, Create)
    stamp = create.body["metadata"]["annotations"][cronjob.SCHEDULED_ANNOTATION]
    assert stamp.endswith("T09:00:00+01:00")


def test_a_finished_job_with_a_ttl_is_deleted_when_it_expires() -> None:
    j = make_job(ttlSecondsAfterFinished=100)
    j["status"] = {"conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": rfc3339(T0)}]}
    assert job.plan(j, [], T0 + 50).wake_at == T0 + 100
    (gone,) = of(job.plan(j, [], T0 + 100), Delete)
    assert (gone.name, gone.policy) == ("pi", "Foreground")
