"""The scheduler stand-in (``default-scheduler``): binds pending pods to nodes with room for them.

A node fits a pod when it is Ready and schedulable, the pod's ``nodeSelector`` and required node
affinity match its labels, the pod tolerates its ``NoSchedule``/``NoExecute`` taints, and the sum of
the requests of the pods on it plus this pod's stays within its ``allocatable`` cpu, memory,
ephemeral storage and pod count (a pod's request is the larger of its containers' sum and its
largest init container, as kube computes it). Among the nodes that fit, the one with the fewest pods
(then the least requested cpu) wins, which spreads pods as the default scoring does.

A pod that fits nowhere stays Pending with ``PodScheduled=False`` (``Unschedulable``) and a
``FailedScheduling`` event in kube's words; it is tried again when nodes or the pods on them change.
Binding goes through ``pods/binding``, as the real scheduler's does.
"""

from __future__ import annotations

import copy
from collections import Counter
from decimal import Decimal
from typing import Any

from kymaprov.kubeapi import quantity
from kymaprov.kubeapi.controllers.base import Pass, View, path_of
from kymaprov.kubeapi.controllers.client import ApiClient, ApiError
from kymaprov.kubeapi.controllers.graph import Node
from kymaprov.kubeapi.selectors import Requirement
from kymaprov.kubeapi.times import rfc3339

SCHEDULER = "default-scheduler"
RESOURCES = ("cpu", "memory", "ephemeral-storage")
_OPERATORS = {
    "In": "in",
    "NotIn": "notin",
    "Exists": "exists",
    "DoesNotExist": "!exists",
    "Gt": ">",
    "Lt": "<",
}
AFFINITY = "node(s) didn't match Pod's node affinity/selector"


def requests(pod: dict[str, Any]) -> dict[str, Decimal]:
    """``resourcehelper.PodRequests``: the containers' sum, at least the largest init container's."""
    spec = pod.get("spec") or {}

    def of(container: dict[str, Any]) -> dict[str, Decimal]:
        resources = container.get("resources") or {}
        wanted = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        return {r: quantity.parse(wanted[r]) for r in RESOURCES if r in wanted}

    total: dict[str, Decimal] = {}
    for container in spec.get("containers") or []:
        for name, value in of(container).items():
            total[name] = total.get(name, Decimal(0)) + value
    for init in spec.get("initContainers") or []:
        for name, value in of(init).items():
            total[name] = max(total.get(name, Decimal(0)), value)
    for name, value in (spec.get("overhead") or {}).items():
        if name in RESOURCES:
            total[name] = total.get(name, Decimal(0)) + quantity.parse(value)
    return total


def _term_matches(term: dict[str, Any], node: Node) -> bool:
    for expression in term.get("matchExpressions") or []:
        op = _OPERATORS.get(str(expression.get("operator")))
        if op is None:
            return False
        values = tuple(str(v) for v in expression.get("values") or [])
        if not Requirement(str(expression.get("key")), op, values).matches(node.labels):
            return False
    for expression in term.get("matchFields") or []:  # only metadata.name exists
        inside = node.name in [str(v) for v in expression.get("values") or []]
        if (expression.get("operator") == "In") != inside:
            return False
    return True


def affinity_matches(pod: dict[str, Any], node: Node) -> bool:
    spec = pod.get("spec") or {}
    selector = spec.get("nodeSelector") or {}
    if any(node.labels.get(str(k)) != str(v) for k, v in selector.items()):
        return False
    required = (
        ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        or {}
    ).get("nodeSelectorTerms")
    if required:
        return any(_term_matches(t, node) for t in required if isinstance(t, dict))
    return True


def _tolerates(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
            continue
        if toleration.get("operator") == "Exists":
            if not toleration.get("key") or toleration.get("key") == taint.get("key"):
                return True
        elif toleration.get("key") == taint.get("key") and str(toleration.get("value", "")) == str(
            taint.get("value", "")
        ):
            return True
    return False


def untolerated(pod: dict[str, Any], node: dict[str, Any]) -> dict[str, Any] | None:
    """The first ``NoSchedule``/``NoExecute`` taint of the node the pod does not tolerate."""
    tolerations = [t for t in (pod.get("spec") or {}).get("tolerations") or [] if isinstance(t, dict)]
    taints = list((node.get("spec") or {}).get("taints") or [])
    if (node.get("spec") or {}).get("unschedulable"):
        taints.append({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"})
    for taint in taints:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(tolerations, taint):
            return dict(taint)
    return None


def _ready(node: dict[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


class Scheduler:
    name = "scheduler"
    order = 30
    kinds = frozenset({("", "pods"), ("", "nodes")})
    watches = kinds

    def __init__(self) -> None:
        # (cluster, pod uid) -> the cluster's nodes and their pods when the pod last fitted nowhere
        self._tried: dict[tuple[str, str], Any] = {}

    @staticmethod
    def _pending(view: View) -> list[Node]:
        result = []
        for pod in view.graph.of_kind("", "pods"):
            body = pod.body or {}
            spec = body.get("spec") or {}
            if spec.get("nodeName") or pod.deleting or spec.get("schedulerName", SCHEDULER) != SCHEDULER:
                continue
            if (body.get("status") or {}).get("phase", "Pending") == "Pending":
                result.append(pod)
        return sorted(
            result,
            key=lambda p: (-int((p.body or {}).get("spec", {}).get("priority", 0) or 0),
                           (p.body or {}).get("metadata", {}).get("creationTimestamp", ""), p.key),
        )  # fmt: skip

    @staticmethod
    def _signature(view: View) -> Any:
        """What a retry depends on: the nodes and the pods placed on them."""
        graph = view.graph
        nodes = tuple((n.name, n.resource_version) for n in graph.of_kind("", "nodes"))
        placed = frozenset(
            p.uid
            for p in graph.of_kind("", "pods")
            if (p.body or {}).get("spec", {}).get("nodeName")
            and (p.body or {}).get("status", {}).get("phase") not in ("Succeeded", "Failed")
        )
        return nodes, placed

    def needs_work(self, view: View) -> bool:
        pending = self._pending(view)
        if not pending:
            return False
        signature = self._signature(view)
        return any(self._tried.get((view.cluster_id, p.uid)) != signature for p in pending)

    def sync(self, view: View, client: ApiClient, work: Pass) -> float | None:
        pending = self._pending(view)
        if not pending:
            return None
        graph = view.graph
        signature = self._signature(view)
        nodes = [n for n in graph.of_kind("", "nodes") if n.body is not None]
        used: dict[str, dict[str, Decimal]] = {n.name: {} for n in nodes}
        count: Counter[str] = Counter()
        for pod in graph.of_kind("", "pods"):
            body = pod.body or {}
            host = (body.get("spec") or {}).get("nodeName")
            if host in used and (body.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                count[host] += 1
                for name, value in requests(body).items():
                    used[host][name] = used[host].get(name, Decimal(0)) + value
        for pod in pending:
            if work.exhausted:
                return None
            key = (view.cluster_id, pod.uid)
            if self._tried.get(key) == signature:
                continue
            body = pod.body or {}
            wanted = requests(body)
            reasons: Counter[str] = Counter()
            fits = []
            for node in nodes:
                reason = self._misfit(body, node, wanted, used[node.name], count[node.name])
                if reason:
                    reasons.update(reason)
                else:
                    fits.append(node)
            if not fits:
                self._tried[key] = signature
                self._unschedulable(view, client, work, pod, len(nodes), reasons)
                continue
            chosen = min(
                fits,
                key=lambda n: (count[n.name], used[n.name].get("cpu", Decimal(0)), n.name),
            )
            binding = {
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
                "target": {"apiVersion": "v1", "kind": "Node", "name": chosen.name},
            }
            if not work.call(client.create, path_of(pod, "binding"), binding):
                continue
            self._tried.pop(key, None)
            count[chosen.name] += 1
            for name, value in wanted.items():
                used[chosen.name][name] = used[chosen.name].get(name, Decimal(0)) + value
            view.events.normal(
                pod,
                "Scheduled",
                f"Successfully assigned {pod.namespace}/{pod.name} to {chosen.name}",
                SCHEDULER,
            )
        live = {(view.cluster_id, p.uid) for p in pending}
        for gone in [k for k in self._tried if k[0] == view.cluster_id and k not in live]:
            del self._tried[gone]
        return None

    @staticmethod
    def _misfit(
        pod: dict[str, Any], node: Node, wanted: dict[str, Decimal], used: dict[str, Decimal], pods: int
    ) -> list[str]:
        """Why the pod does not fit the node (kube's reasons), or nothing."""
        body = node.body or {}
        if not affinity_matches(pod, node):
            return [AFFINITY]
        taint = untolerated(pod, body)
        if taint is not None:
            if taint.get("key") == "node.kubernetes.io/unschedulable":
                return ["node(s) were unschedulable"]
            return [f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"]
        if not _ready(body):
            return ["node(s) had untolerated taint {node.kubernetes.io/not-ready: }"]
        allocatable = (body.get("status") or {}).get("allocatable") or {}
        reasons = []
        if pods + 1 > int(quantity.parse(allocatable.get("pods", 110))):
            reasons.append("Too many pods")
        for name in RESOURCES:
            if wanted.get(name) and used.get(name, Decimal(0)) + wanted[name] > quantity.parse(
                allocatable.get(name, 0)
            ):
                reasons.append(f"Insufficient {name}")
        return reasons

    @staticmethod
    def _unschedulable(
        view: View, client: ApiClient, work: Pass, pod: Node, nodes: int, reasons: Counter[str]
    ) -> None:
        if not nodes:
            message = "no nodes available to schedule pods"
        else:
            listed = ", ".join(f"{c} {r}" for r, c in sorted(reasons.items()))
            helpful = sum(
                c for r, c in reasons.items() if r.startswith("Insufficient") or r == "Too many pods"
            )
            preemption = []
            if helpful:
                preemption.append(f"{helpful} No preemption victims found for incoming pod")
            if nodes - helpful > 0:
                preemption.append(f"{nodes - helpful} Preemption is not helpful for scheduling")
            message = (
                f"0/{nodes} nodes are available: {listed}. preemption: 0/{nodes} nodes are available: "
                f"{', '.join(preemption)}."
            )
        view.events.warning(pod, "FailedScheduling", message, SCHEDULER)
        body = copy.deepcopy(pod.body or {})
        status = body.setdefault("status", {})
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        previous: dict[str, Any] = next(
            (c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), {}
        )
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "False",
                "lastTransitionTime": previous.get("lastTransitionTime", rfc3339(view.now))
                if previous.get("status") == "False"
                else rfc3339(view.now),
                "reason": "Unschedulable",
                "message": message,
            }
        )
        if conditions == status.get("conditions"):
            return
        status["conditions"] = conditions
        try:
            work.writes += 1
            client.put(path_of(pod, "status"), body)
        except ApiError as exc:
            if exc.code != 404:
                work.retry = True


CONTROLLERS = (Scheduler(),)
