"""The kubelet stand-in: every node's kubelet, reporting pods as ``podstatus.py`` computes them.

For each pod bound to a Node of the cluster: admitted (``startTime``, ``hostIP``, a ``podIP`` from
the node's ``podCIDR``), then its status written whenever the computed one differs, with the events
of the way (``Pulling``, ``Pulled``, ``Created``, ``Started``, ``BackOff``, ``Failed``); the pass asks
to run again when the next change is due (a start, a readiness delay, a back-off).

A pod being deleted gets ``Killing`` events and is deleted for good (grace 0, the kubelet's final
delete) once its containers stopped: a container stops ``STOP_SECONDS`` after SIGTERM, except one
that ignores it (a shell or ``sleep`` as PID 1 without a handler: ``simulation.ignores_term``),
which is killed when the grace period ends. Work is remembered per pod (its resourceVersion and the
next change), so a pass over a cluster whose pods are all steady reads nothing and writes nothing.
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from kymaprov.kubeapi import simulation
from kymaprov.kubeapi.controllers.base import Pass, View, earliest, path_of
from kymaprov.kubeapi.controllers.client import ApiClient, ApiError
from kymaprov.kubeapi.controllers.graph import Node
from kymaprov.kubeapi.controllers.podstatus import PodState, pod_state
from kymaprov.kubeapi.objects import prune_nulls
from kymaprov.kubeapi.times import parse_rfc3339

STOP_SECONDS = 1.0
COMPONENT = "kubelet"


def _host_ip(node: dict[str, Any]) -> str:
    addresses = (node.get("status") or {}).get("addresses") or []
    return next((str(a.get("address")) for a in addresses if a.get("type") == "InternalIP"), "")


def _final(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


class Kubelet:
    name = "kubelet"
    order = 40
    kinds = frozenset({("", "pods"), ("", "nodes"), ("", "configmaps")})
    watches = kinds  # a steady pod's next change is the wake-up time ``sync`` returns

    def __init__(self) -> None:
        # (cluster, pod uid) -> (resourceVersion, rules version, next change): nothing to do before it
        self._steady: dict[tuple[str, str], tuple[str, str, float | None]] = {}
        # (cluster, pod uid) -> the service time up to which its events were reported
        self._reported: dict[tuple[str, str], float] = {}
        self._killing: set[tuple[str, str]] = set()

    # --- what is bound where ----------------------------------------------------------------------

    @staticmethod
    def _rules(view: View) -> tuple[list[simulation.Rule], str]:
        node = view.graph.get("", "configmaps", simulation.RULES_NAMESPACE, simulation.RULES_CONFIGMAP)
        return (simulation.rules_of(node.body) if node else []), (node.resource_version if node else "")

    @staticmethod
    def _bound(view: View) -> list[tuple[Node, Node]]:
        """(pod, node) for every pod bound to a node that exists."""
        graph = view.graph
        result = []
        for pod in graph.of_kind("", "pods"):
            node_name = ((pod.body or {}).get("spec") or {}).get("nodeName")
            node = graph.get("", "nodes", "", node_name) if node_name else None
            if node is not None and node.body is not None and pod.body is not None:
                result.append((pod, node))
        return result

    def needs_work(self, view: View) -> bool:
        _, rules_rv = self._rules(view)
        for pod, _node in self._bound(view):
            body = pod.body or {}
            if body["metadata"].get("deletionTimestamp"):
                if body["metadata"].get("deletionGracePeriodSeconds"):
                    return True
                continue
            if _final(body):
                continue
            steady = self._steady.get((view.cluster_id, pod.uid))
            if steady is None or steady[:2] != (pod.resource_version, rules_rv):
                return True
            if steady[2] is not None and steady[2] <= view.now:
                return True
        return False

    # --- the pass --------------------------------------------------------------------------------

    def sync(self, view: View, client: ApiClient, work: Pass) -> float | None:
        rules, rules_rv = self._rules(view)
        bound = self._bound(view)
        used = {str((p.body or {}).get("status", {}).get("podIP")) for p, _ in bound}
        wake: float | None = None
        live = set()
        for pod, node in bound:
            if work.exhausted:
                return view.now
            key = (view.cluster_id, pod.uid)
            live.add(key)
            body = pod.body or {}
            if body["metadata"].get("deletionTimestamp"):
                if body["metadata"].get("deletionGracePeriodSeconds"):
                    wake = earliest(wake, self._terminate(view, client, work, pod, node))
                continue
            if _final(body):
                continue
            steady = self._steady.get(key)
            if (
                steady is not None
                and steady[:2] == (pod.resource_version, rules_rv)
                and (steady[2] is None or steady[2] > view.now)
            ):
                wake = earliest(wake, steady[2])
                continue
            pod_ip = "" if body.get("status", {}).get("podIP") else self._pod_ip(node, used)
            used.add(pod_ip)
            state = pod_state(body, _host_ip(node.body or {}), pod_ip, rules, view.now)
            self._report(view, pod, node, state, key)
            written = self._write(client, work, pod, state)
            if written is None:
                continue
            self._steady[key] = (written, rules_rv, state.next_change)
            wake = earliest(wake, state.next_change)
        for gone in [k for k in self._steady if k[0] == view.cluster_id and k not in live]:
            self._steady.pop(gone, None)
            self._reported.pop(gone, None)
            self._killing.discard(gone)
        return wake

    def _report(self, view: View, pod: Node, node: Node, state: PodState, key: tuple[str, str]) -> None:
        """The events that happened since the last report of this pod (all, for a new pod)."""
        since = self._reported.get(key)
        if since is None:  # a new pod: all of them; one met after a restart: from now on
            since = float("-inf") if not (pod.body or {}).get("status", {}).get("startTime") else view.now
        happened: dict[tuple[str, str, str, str], int] = {}  # repeats since the last report: one write
        for event in sorted(state.events, key=lambda e: e.at):
            if since < event.at <= view.now:
                what = (event.type, event.reason, event.message, event.field_path)
                happened[what] = happened.get(what, 0) + 1
        for (kind, reason, message, field_path), times in happened.items():
            view.events.emit(pod, kind, reason, message, COMPONENT, node.name, field_path, times)
        self._reported[key] = view.now

    @staticmethod
    def _write(client: ApiClient, work: Pass, pod: Node, state: PodState) -> str | None:
        """PUT the pod's status when it changed; the resourceVersion it then has (None: refused)."""
        body = pod.body or {}
        if prune_nulls(state.status) == body.get("status"):
            return pod.resource_version
        updated = copy.deepcopy(body)
        updated["status"] = state.status
        answer = work.result(client.put, path_of(pod, "status"), updated)
        if answer is None:
            return None
        return str(answer.get("metadata", {}).get("resourceVersion", ""))

    @staticmethod
    def _pod_ip(node: Node, used: set[str]) -> str:
        """The first free address of the node's pod CIDR."""
        cidr = ((node.body or {}).get("spec") or {}).get("podCIDR")
        try:
            network = ipaddress.ip_network(str(cidr))
        except ValueError:
            return ""
        for address in list(network.hosts())[1:]:
            if str(address) not in used:
                return str(address)
        return ""

    # --- deletion --------------------------------------------------------------------------------

    def _terminate(self, view: View, client: ApiClient, work: Pass, pod: Node, node: Node) -> float | None:
        body = pod.body or {}
        meta = body["metadata"]
        deadline = parse_rfc3339(str(meta.get("deletionTimestamp"))) or view.now
        grace = float(meta.get("deletionGracePeriodSeconds") or 0)
        key = (view.cluster_id, pod.uid)
        spec = body.get("spec") or {}
        statuses = (body.get("status") or {}).get("containerStatuses") or []
        running = {s.get("name") for s in statuses if (s.get("state") or {}).get("running")}
        containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
        if key not in self._killing:
            self._killing.add(key)
            for container in containers:
                if container.get("name") in running:
                    view.events.normal(
                        pod, "Killing", f"Stopping container {container.get('name')}", COMPONENT, node.name
                    )
        holds = any(simulation.ignores_term(c) for c in containers if c.get("name") in running)
        stop_at = deadline if holds else min(deadline, deadline - grace + STOP_SECONDS)
        if view.now < stop_at:
            return stop_at
        options = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": pod.uid},
        }
        try:
            work.writes += 1
            client.request("DELETE", path_of(pod), options)
        except ApiError as exc:
            if exc.code != 404:
                work.retry = True
        return None


CONTROLLERS = (Kubelet(),)
