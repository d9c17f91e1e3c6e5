"""The DaemonSet controller (``pkg/controller/daemon``): one pod on every node that should run it.

A node should run the daemon pod unless it is unschedulable, the template's ``nodeSelector`` does
not match its labels, or it has a ``NoSchedule``/``NoExecute`` taint the pod does not tolerate. Pods
are pinned as kube pins them, by a required node affinity on ``metadata.name`` (the scheduler binds
them), with the tolerations the controller adds (not-ready, unreachable, pressure, unschedulable).
Extra pods on a node and pods on nodes that should not run one are deleted; a ``RollingUpdate``
replaces pods of an older template (label ``controller-revision-hash``) ``maxUnavailable`` at a time.
The status counts as kube's (``desiredNumberScheduled``, ``currentNumberScheduled``, ``numberReady``,
``numberAvailable``, ``updatedNumberScheduled``, ``numberMisscheduled``, ``numberUnavailable``).
"""

from __future__ import annotations

import copy

from kymaprov.kubeapi.controllers.deployment import template_hash
from kymaprov.kubeapi.controllers.plan import (
    Create,
    Obj,
    Plan,
    PlanController,
    View,
    bodies,
    delete,
    pods_for,
    with_status,
)
from kymaprov.kubeapi.controllers.replicaset import claim
from kymaprov.kubeapi.controllers.statefulset import revision_object
from kymaprov.kubeapi.controllers.workload import (
    deleting,
    int_of,
    meta,
    name,
    pod_active,
    pod_available,
    pod_from_template,
    pod_ready,
    spec,
    uid,
)

KIND = "DaemonSet"
API_VERSION = "apps/v1"
REVISION_LABEL = "controller-revision-hash"
# ``AddOrUpdateDaemonPodTolerations``
TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def _tolerates(tolerations: list[Obj], taint: Obj) -> bool:
    for t in tolerations:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t.get("key") == taint.get("key")):
            return True
        if t.get("key") == taint.get("key") and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def should_run(ds: Obj, node: Obj) -> bool:
    """``NodeShouldRunDaemonPod``, without the resource fit (the scheduler decides that)."""
    pod_spec = (spec(ds).get("template") or {}).get("spec") or {}
    labels = meta(node).get("labels") or {}
    if any(labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    tolerations = [*(pod_spec.get("tolerations") or []), *TOLERATIONS]
    return all(
        _tolerates(tolerations, taint)
        for taint in spec(node).get("taints") or []
        if taint.get("effect") in ("NoSchedule", "NoExecute")
    )


def _node_of(pod: Obj) -> str:
    """The node a daemon pod is bound to, or pinned to by its affinity."""
    if spec(pod).get("nodeName"):
        return str(spec(pod)["nodeName"])
    node_affinity = (spec(pod).get("affinity") or {}).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms") or []
    for term in terms:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("values"):
                return str(field["values"][0])
    return ""


def _daemon_pod(ds: Obj, node: str, rev: str) -> Obj:
    pod = pod_from_template(spec(ds).get("template") or {}, ds, KIND, API_VERSION, f"{name(ds)}-")
    labels = pod["metadata"].setdefault("labels", {})
    labels[REVISION_LABEL] = rev
    labels["pod-template-generation"] = str(int_of(meta(ds).get("generation"), 1))
    pod_spec = pod["spec"]
    affinity = copy.deepcopy(pod_spec.get("affinity") or {})
    affinity.setdefault("nodeAffinity", {})["requiredDuringSchedulingIgnoredDuringExecution"] = {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]
    }
    pod_spec["affinity"] = affinity
    tolerations = list(pod_spec.get("tolerations") or [])
    pod_spec["tolerations"] = tolerations + [t for t in TOLERATIONS if t not in tolerations]
    return pod


def plan(ds: Obj, pods: list[Obj], nodes: list[Obj], now: float, revisions: list[Obj] | None = None) -> Plan:
    """One sync of ``ds`` given the pods it may claim, the cluster's nodes and its ControllerRevisions."""
    mine, result = claim(ds, pods, KIND, API_VERSION)
    rev = template_hash(spec(ds).get("template") or {})
    namespace = str(meta(ds).get("namespace", ""))
    revisions = revisions or []
    if not any(name(r) == f"{name(ds)}-{rev}" for r in revisions) and not deleting(ds):
        number = max((int_of(r.get("revision")) for r in revisions), default=0) + 1
        body = revision_object(ds, KIND, f"{name(ds)}-{rev}", number)
        result.actions.append(Create("apps/v1", "controllerrevisions", namespace, body))
    active = [p for p in mine if pod_active(p)]
    on_node: dict[str, list[Obj]] = {}
    for pod in active:
        on_node.setdefault(_node_of(pod), []).append(pod)
    wanted = {name(n) for n in nodes if should_run(ds, n)}
    pod_event = ("Normal", "SuccessfulDelete", "Deleted pod: {name}")
    if not deleting(ds):
        for node in sorted(wanted):
            here = on_node.get(node, [])
            if not here:
                result.actions.append(
                    Create(
                        "v1",
                        "pods",
                        namespace,
                        _daemon_pod(ds, node, rev),
                        about=ds,
                        event=("Normal", "SuccessfulCreate", "Created pod: {name}"),
                    )
                )
            for extra in sorted(here, key=lambda p: (pod_ready(p), name(p)))[:-1]:
                result.actions.append(delete(extra, about=ds, event=pod_event))
        for node, here in on_node.items():
            if node not in wanted:
                for pod in here:
                    result.actions.append(delete(pod, about=ds, event=pod_event))
        _roll(ds, on_node, wanted, rev, result)
    min_ready = int_of(spec(ds).get("minReadySeconds"))
    scheduled = [p for n in wanted for p in on_node.get(n, [])[:1]]
    desired = len(wanted)
    available = sum(1 for p in scheduled if pod_available(p, min_ready, now))
    new: Obj = {
        "currentNumberScheduled": sum(1 for n in wanted if on_node.get(n)),
        "numberMisscheduled": sum(len(v) for n, v in on_node.items() if n not in wanted),
        "desiredNumberScheduled": desired,
        "numberReady": sum(1 for p in scheduled if pod_ready(p)),
        "observedGeneration": int_of(meta(ds).get("generation"), 1),
        "updatedNumberScheduled": sum(
            1 for p in scheduled if (meta(p).get("labels") or {}).get(REVISION_LABEL) == rev
        ),
        "numberAvailable": available,
        "numberUnavailable": desired - available,
    }
    for key in ("updatedNumberScheduled", "numberAvailable", "numberUnavailable"):
        if not new[key]:
            del new[key]
    upd = with_status(ds, new)
    if upd is not None:
        result.actions.append(upd)
    return result


def _roll(ds: Obj, on_node: dict[str, list[Obj]], wanted: set[str], rev: str, result: Plan) -> None:
    strategy = spec(ds).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return
    limit = max(int_of((strategy.get("rollingUpdate") or {}).get("maxUnavailable"), 1), 1)
    pods = [p for n in sorted(wanted) for p in on_node.get(n, [])[:1]]
    unavailable = sum(1 for p in pods if not pod_ready(p))
    for pod in pods:
        if unavailable >= limit:
            return
        if (meta(pod).get("labels") or {}).get(REVISION_LABEL) != rev:
            result.actions.append(
                delete(pod, about=ds, event=("Normal", "SuccessfulDelete", "Deleted pod: {name}"))
            )
            unavailable += 1


class DaemonSetController(PlanController):
    name = "daemonset"
    kinds = frozenset({("apps", "daemonsets"), ("apps", "controllerrevisions"), ("", "pods"), ("", "nodes")})
    watches = kinds
    component = "daemonset-controller"

    def plans(self, view: View) -> list[Plan]:
        graph = view.graph
        nodes = bodies(graph.of_kind("", "nodes"))
        return [
            plan(
                ds,
                pods_for(view, ds),
                nodes,
                view.now,
                bodies(graph.owned_by(uid(ds), "apps", "controllerrevisions")),
            )
            for ds in bodies(graph.of_kind("apps", "daemonsets"))
        ]


CONTROLLERS = (DaemonSetController(),)
