"""The StatefulSet controller (``pkg/controller/statefulset``): pods with stable names, in order.

Pods are ``<set>-<ordinal>`` (from ``spec.ordinals.start``), with ``hostname`` and ``subdomain`` set,
the ``statefulset.kubernetes.io/pod-name`` / ``apps.kubernetes.io/pod-index`` labels and the
``controller-revision-hash`` of the template's ControllerRevision (``<set>-<hash>``, numbered as
``kubectl rollout history`` reads them). ``OrderedReady`` makes one pod at a time, each waiting for
the ones before it to be Running and Ready, and removes from the highest ordinal down, one at a time;
``Parallel`` makes and removes them all at once. Each ``volumeClaimTemplate`` gets its claim
``<template>-<pod>``. A ``RollingUpdate`` replaces pods of the old revision from the highest ordinal
down to ``partition``, one at a time, once all are Ready; ``OnDelete`` leaves that to the user.
Pods below the partition are made from the update revision too (kube uses the current one).
"""

from __future__ import annotations

import copy
import re

from kymaprov.kubeapi.controllers.deployment import template_hash
from kymaprov.kubeapi.controllers.plan import (
    Create,
    Delete,
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
from kymaprov.kubeapi.controllers.workload import (
    deleting,
    int_of,
    meta,
    name,
    owner_ref,
    pod_active,
    pod_available,
    pod_ready,
    spec,
    status,
    uid,
)

KIND = "StatefulSet"
API_VERSION = "apps/v1"
REVISION_LABEL = "controller-revision-hash"


def _ordinal(set_name: str, pod: Obj) -> int | None:
    m = re.fullmatch(rf"{re.escape(set_name)}-(\d+)", name(pod))
    return int(m.group(1)) if m else None


def revision_name(sts: Obj) -> str:
    return f"{name(sts)}-{template_hash(spec(sts).get('template') or {})}"


def revision_object(sts: Obj, kind: str, rev_name: str, number: int) -> Obj:
    """A ControllerRevision of a StatefulSet or DaemonSet template (``kubectl rollout history`` and
    ``undo`` read them)."""
    labels = dict(((spec(sts).get("template") or {}).get("metadata") or {}).get("labels") or {})
    labels["controller.kubernetes.io/hash"] = rev_name.rsplit("-", 1)[-1]
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": rev_name,
            "namespace": meta(sts).get("namespace", ""),
            "labels": labels,
            "ownerReferences": [owner_ref(sts, kind, API_VERSION)],
        },
        "data": {
            "spec": {"template": {**copy.deepcopy(spec(sts).get("template") or {}), "$patch": "replace"}}
        },
        "revision": number,
    }


def _pod(sts: Obj, ordinal: int, rev_name: str) -> tuple[Obj, list[Obj]]:
    """The pod of an ordinal and the claims it needs."""
    pod_name = f"{name(sts)}-{ordinal}"
    template = copy.deepcopy(spec(sts).get("template") or {})
    tmeta = template.get("metadata") or {}
    labels = dict(tmeta.get("labels") or {})
    labels.update(
        {
            REVISION_LABEL: rev_name,
            "statefulset.kubernetes.io/pod-name": pod_name,
            "apps.kubernetes.io/pod-index": str(ordinal),
        }
    )
    pmeta: Obj = {
        "name": pod_name,
        "namespace": meta(sts).get("namespace", ""),
        "labels": labels,
        "ownerReferences": [owner_ref(sts, KIND, API_VERSION)],
    }
    if tmeta.get("annotations"):
        pmeta["annotations"] = dict(tmeta["annotations"])
    pod_spec = template.get("spec") or {}
    pod_spec["hostname"] = pod_name
    if spec(sts).get("serviceName"):
        pod_spec["subdomain"] = spec(sts)["serviceName"]
    claims: list[Obj] = []
    for claim_template in spec(sts).get("volumeClaimTemplates") or []:
        cname = f"{name(claim_template)}-{pod_name}"
        volumes = [v for v in pod_spec.get("volumes") or [] if v.get("name") != name(claim_template)]
        volumes.append({"name": name(claim_template), "persistentVolumeClaim": {"claimName": cname}})
        pod_spec["volumes"] = volumes
        claim_labels = dict((spec(sts).get("selector") or {}).get("matchLabels") or {})
        claims.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {
                    "name": cname,
                    "namespace": meta(sts).get("namespace", ""),
                    "labels": claim_labels,
                },
                "spec": copy.deepcopy(claim_template.get("spec") or {}),
            }
        )
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pmeta, "spec": pod_spec}, claims


def plan(sts: Obj, pods: list[Obj], revisions: list[Obj], claims: set[str], now: float) -> Plan:
    """One sync of ``sts`` given the pods it may claim, its ControllerRevisions and the names of the
    claims that exist in its namespace."""
    mine, result = claim(sts, pods, KIND, API_VERSION)
    namespace = str(meta(sts).get("namespace", ""))
    update_rev = revision_name(sts)
    if not any(name(r) == update_rev for r in revisions) and not deleting(sts):
        number = max((int_of(r.get("revision")) for r in revisions), default=0) + 1
        result.actions.append(
            Create(
                "apps/v1", "controllerrevisions", namespace, revision_object(sts, KIND, update_rev, number)
            )
        )
    current_rev = str(status(sts).get("currentRevision") or update_rev)
    replicas = int_of(spec(sts).get("replicas"), 1)
    start = int_of((spec(sts).get("ordinals") or {}).get("start"))
    ordered = spec(sts).get("podManagementPolicy", "OrderedReady") != "Parallel"
    by_ordinal: dict[int, Obj] = {}
    condemned: list[Obj] = []
    for pod in mine:
        ordinal = _ordinal(name(sts), pod)
        if ordinal is not None and start <= ordinal < start + replicas:
            by_ordinal[ordinal] = pod
        elif not deleting(pod):
            condemned.append(pod)
    if not deleting(sts):
        _manage(sts, by_ordinal, condemned, claims, update_rev, start, replicas, ordered, result)
    live = [p for p in by_ordinal.values() if pod_active(p)]
    min_ready = int_of(spec(sts).get("minReadySeconds"))
    updated = sum(1 for p in live if (meta(p).get("labels") or {}).get(REVISION_LABEL) == update_rev)
    current = sum(1 for p in live if (meta(p).get("labels") or {}).get(REVISION_LABEL) == current_rev)
    if updated == replicas and len(live) == replicas:
        current_rev, current = update_rev, updated
    new: Obj = {
        "observedGeneration": int_of(meta(sts).get("generation"), 1),
        "replicas": len(live),
        "readyReplicas": sum(1 for p in live if pod_ready(p)),
        "currentReplicas": current,
        "updatedReplicas": updated,
        "currentRevision": current_rev,
        "updateRevision": update_rev,
        "collisionCount": int_of(status(sts).get("collisionCount")),
        "availableReplicas": sum(1 for p in live if pod_available(p, min_ready, now)),
    }
    for key in ("readyReplicas", "currentReplicas", "updatedReplicas"):
        if not new[key]:
            del new[key]
    upd = with_status(sts, new)
    if upd is not None:
        result.actions.append(upd)
    return result


def _manage(
    sts: Obj,
    by_ordinal: dict[int, Obj],
    condemned: list[Obj],
    claims: set[str],
    update_rev: str,
    start: int,
    replicas: int,
    ordered: bool,
    result: Plan,
) -> None:
    namespace = str(meta(sts).get("namespace", ""))
    set_name = name(sts)
    for ordinal in range(start, start + replicas):
        pod = by_ordinal.get(ordinal)
        if pod is None:
            body, needed = _pod(sts, ordinal, update_rev)
            for c in needed:
                if name(c) not in claims:
                    result.actions.append(
                        Create(
                            "v1",
                            "persistentvolumeclaims",
                            namespace,
                            c,
                            about=sts,
                            event=(
                                "Normal",
                                "SuccessfulCreate",
                                f"create Claim {{name}} Pod {name(body)} in StatefulSet {set_name} success",
                            ),
                        )
                    )
            result.actions.append(
                Create(
                    "v1",
                    "pods",
                    namespace,
                    body,
                    about=sts,
                    event=(
                        "Normal",
                        "SuccessfulCreate",
                        f"create Pod {{name}} in StatefulSet {set_name} successful",
                    ),
                )
            )
            if ordered:
                return
            continue
        if status(pod).get("phase") in ("Failed", "Succeeded") and not deleting(pod):
            result.actions.append(_delete(sts, pod))  # made again at the next sync
            if ordered:
                return
        if ordered and not (pod_ready(pod) and status(pod).get("phase") == "Running"):
            return  # OrderedReady: wait for this one
    all_ready = all(pod_ready(p) for p in by_ordinal.values())
    for pod in sorted(condemned, key=lambda p: -(_ordinal(set_name, p) or 0)):
        if ordered and not all_ready:
            return
        result.actions.append(_delete(sts, pod))
        if ordered:
            return
    strategy = spec(sts).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate" or not all_ready or condemned:
        return
    partition = int_of((strategy.get("rollingUpdate") or {}).get("partition"))
    for ordinal in sorted(by_ordinal, reverse=True):
        pod = by_ordinal[ordinal]
        if ordinal < start + partition:
            break
        if (meta(pod).get("labels") or {}).get(REVISION_LABEL) != update_rev and not deleting(pod):
            result.actions.append(_delete(sts, pod))
            return


def _delete(sts: Obj, pod: Obj) -> Delete:
    return delete(
        pod,
        about=sts,
        event=("Normal", "SuccessfulDelete", f"delete Pod {{name}} in StatefulSet {name(sts)} successful"),
    )


class StatefulSetController(PlanController):
    name = "statefulset"
    kinds = frozenset({("apps", "statefulsets"), ("apps", "controllerrevisions"), ("", "pods")})
    watches = kinds | {("", "persistentvolumeclaims")}  # which claims exist (metadata)
    component = "statefulset-controller"

    def plans(self, view: View) -> list[Plan]:
        graph = view.graph
        result = []
        for sts in bodies(graph.of_kind("apps", "statefulsets")):
            namespace = str(meta(sts).get("namespace", ""))
            revisions = bodies(graph.owned_by(uid(sts), "apps", "controllerrevisions"))
            claims = {n.name for n in graph.of_kind("", "persistentvolumeclaims", namespace)}
            result.append(plan(sts, pods_for(view, sts), revisions, claims, view.now))
        return result


CONTROLLERS = (StatefulSetController(),)
