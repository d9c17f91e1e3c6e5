"""The endpoints and endpointslice controllers, and the load balancer a cloud provider would add.

For each Service with a selector: the pods it selects that have an IP (not finished, not being
deleted) become its ``Endpoints`` (ready ones in ``addresses``, the others in ``notReadyAddresses``
unless ``publishNotReadyAddresses``) and one ``EndpointSlice`` per port set (``endpoints`` with
``ready``/``serving``/``terminating``, ``nodeName``, ``zone``), with every ``targetPort`` resolved:
a number as is, a name through the pod's container port of that name (a pod without it is left out
for that port, as kube does). Both are written only when they change.

A Service of type LoadBalancer gets ``status.loadBalancer.ingress``: an address from 203.0.113.0/24
(TEST-NET-3, RFC 5737), which names no real host, as no traffic reaches it.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from kymaprov.kubeapi.controllers.base import Pass, View, path_of
from kymaprov.kubeapi.controllers.client import ApiClient, collection_path
from kymaprov.kubeapi.controllers.graph import Node
from kymaprov.kubeapi.controllers.workload import pod_ready
from kymaprov.kubeapi.selectors import from_map

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"


def _target_port(port: dict[str, Any], pod: dict[str, Any]) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for declared in container.get("ports") or []:
            if declared.get("name") == target and declared.get("protocol", "TCP") == port.get(
                "protocol", "TCP"
            ):
                return int(declared["containerPort"])
    return None


def _ports(service: dict[str, Any], pod: dict[str, Any]) -> tuple[tuple[str, int, str], ...]:
    resolved = []
    for port in (service.get("spec") or {}).get("ports") or []:
        number = _target_port(port, pod)
        if number is not None:
            resolved.append((str(port.get("name", "")), number, str(port.get("protocol", "TCP"))))
    return tuple(resolved)


class Endpoints:
    name = "endpoints"
    order = 60
    kinds = frozenset(
        {
            ("", "services"),
            ("", "pods"),
            ("", "endpoints"),
            ("", "nodes"),
            ("discovery.k8s.io", "endpointslices"),
        }
    )
    watches = kinds

    def _wanted(self, view: View) -> list[tuple[Node, dict[str, Any], list[dict[str, Any]]]]:
        """(service, its Endpoints body, its EndpointSlices' bodies) for every service with a selector."""
        graph = view.graph
        result = []
        for service in graph.of_kind("", "services"):
            body = service.body or {}
            selector = (body.get("spec") or {}).get("selector")
            if not selector or service.deleting:
                continue
            publish = bool((body.get("spec") or {}).get("publishNotReadyAddresses"))
            groups: dict[tuple[tuple[str, int, str], ...], list[Node]] = {}
            for pod in graph.select("", "pods", service.namespace, from_map(selector)):
                pod_body = pod.body or {}
                if not (pod_body.get("status") or {}).get("podIP") or pod.deleting:
                    continue
                if (pod_body.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                    continue
                groups.setdefault(_ports(body, pod_body), []).append(pod)
            result.append(
                (
                    service,
                    self._endpoints(service, groups, publish),
                    self._slices(view, service, groups, publish),
                )
            )
        return result

    @staticmethod
    def _address(pod: Node) -> dict[str, Any]:
        body = pod.body or {}
        return {
            "ip": body["status"]["podIP"],
            "nodeName": body.get("spec", {}).get("nodeName"),
            "targetRef": {"kind": "Pod", "namespace": pod.namespace, "name": pod.name, "uid": pod.uid},
        }

    def _endpoints(self, service: Node, groups: dict[Any, list[Node]], publish: bool) -> dict[str, Any]:
        subsets = []
        for ports, pods in sorted(groups.items()):
            ready = [self._address(p) for p in pods if publish or pod_ready(p.body or {})]
            not_ready = [self._address(p) for p in pods if not publish and not pod_ready(p.body or {})]
            subset: dict[str, Any] = {}
            if ready:
                subset["addresses"] = sorted(ready, key=lambda a: a["ip"])
            if not_ready:
                subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: a["ip"])
            if ports:
                subset["ports"] = [
                    {**({"name": name} if name else {}), "port": number, "protocol": protocol}
                    for name, number, protocol in ports
                ]
            if subset.get("addresses") or subset.get("notReadyAddresses"):
                subsets.append(subset)
        labels = dict((service.body or {}).get("metadata", {}).get("labels") or {})
        endpoints: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": service.name, "namespace": service.namespace},
        }
        if labels:
            endpoints["metadata"]["labels"] = labels
        if subsets:
            endpoints["subsets"] = subsets
        return endpoints

    def _slices(
        self, view: View, service: Node, groups: dict[Any, list[Node]], publish: bool
    ) -> list[dict[str, Any]]:
        graph = view.graph
        slices = []
        for ports, pods in sorted(groups.items()) or [((), [])]:
            entries = []
            for pod in sorted(pods, key=lambda p: p.name):
                body = pod.body or {}
                node = graph.get("", "nodes", "", str(body.get("spec", {}).get("nodeName", "")))
                ready = pod_ready(body)
                entry: dict[str, Any] = {
                    "addresses": [body["status"]["podIP"]],
                    "conditions": {"ready": ready or publish, "serving": ready, "terminating": False},
                    "targetRef": {
                        "kind": "Pod",
                        "namespace": pod.namespace,
                        "name": pod.name,
                        "uid": pod.uid,
                    },
                    "nodeName": body.get("spec", {}).get("nodeName"),
                }
                zone = node.labels.get("topology.kubernetes.io/zone") if node else None
                if zone:
                    entry["zone"] = zone
                entries.append(entry)
            slice_body: dict[str, Any] = {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "addressType": "IPv4",
                "endpoints": entries,
                "ports": [
                    {"name": name, "port": number, "protocol": protocol} for name, number, protocol in ports
                ],
            }
            slices.append(slice_body)
        return slices

    def _current_slices(self, view: View, service: Node) -> list[Node]:
        return [
            s
            for s in view.graph.select(
                "discovery.k8s.io",
                "endpointslices",
                service.namespace,
                from_map({SERVICE_NAME_LABEL: service.name}),
            )
            if s.labels.get(MANAGED_BY_LABEL) == MANAGED_BY and not s.deleting
        ]

    def _changes(self, view: View) -> list[tuple[str, Any]]:
        """The writes that would bring endpoints and slices in line: (what, arguments)."""
        graph = view.graph
        changes: list[tuple[str, Any]] = []
        for service, endpoints, slices in self._wanted(view):
            current = graph.get("", "endpoints", service.namespace, service.name)
            if current is None:
                changes.append(("create", (collection_path("v1", "endpoints", service.namespace), endpoints)))
            elif _content(current.body or {}, ("subsets",)) != _content(endpoints, ("subsets",)) or (
                (current.body or {}).get("metadata", {}).get("labels") != endpoints["metadata"].get("labels")
            ):
                updated = copy.deepcopy(current.body or {})
                updated["subsets"] = endpoints.get("subsets")
                updated["metadata"]["labels"] = endpoints["metadata"].get("labels")
                changes.append(("put", (path_of(current), _drop_none(updated))))
            existing = self._current_slices(view, service)
            for index, wanted in enumerate(slices):
                if index < len(existing):
                    have = existing[index]
                    if _content(have.body or {}, ("endpoints", "ports")) != _content(
                        wanted, ("endpoints", "ports")
                    ):
                        updated = copy.deepcopy(have.body or {})
                        updated["endpoints"], updated["ports"] = wanted["endpoints"], wanted["ports"]
                        changes.append(("put", (path_of(have), updated)))
                    continue
                wanted = copy.deepcopy(wanted)
                wanted["metadata"] = {
                    "generateName": f"{service.name}-",
                    "namespace": service.namespace,
                    "labels": {
                        **((service.body or {}).get("metadata", {}).get("labels") or {}),
                        SERVICE_NAME_LABEL: service.name,
                        MANAGED_BY_LABEL: MANAGED_BY,
                    },
                    "ownerReferences": [
                        {
                            "apiVersion": "v1",
                            "kind": "Service",
                            "name": service.name,
                            "uid": service.uid,
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                }
                changes.append(
                    (
                        "create",
                        (collection_path("discovery.k8s.io/v1", "endpointslices", service.namespace), wanted),
                    )
                )
            for extra in existing[len(slices) :]:
                changes.append(("delete", (path_of(extra), extra.uid, "Background")))
        for service in view.graph.of_kind("", "services"):
            body = service.body or {}
            if (body.get("spec") or {}).get("type") == "LoadBalancer" and not (
                (body.get("status") or {}).get("loadBalancer") or {}
            ).get("ingress"):
                updated = copy.deepcopy(body)
                updated.setdefault("status", {})["loadBalancer"] = {
                    "ingress": [{"ip": _balancer_ip(service.uid), "ipMode": "VIP"}]
                }
                changes.append(("put", (path_of(service, "status"), updated)))
        return changes

    def needs_work(self, view: View) -> bool:
        return bool(self._changes(view))

    def sync(self, view: View, client: ApiClient, work: Pass) -> float | None:
        for kind, args in self._changes(view):
            if work.exhausted:
                break
            work.call(getattr(client, kind), *args)
        return None


def _balancer_ip(uid: str) -> str:
    return f"203.0.113.{int(hashlib.sha256(uid.encode()).hexdigest(), 16) % 254 + 1}"


def _drop_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def _content(body: dict[str, Any], fields: tuple[str, ...]) -> Any:
    """The fields compared, with nulls and empty lists alike (as stored)."""
    return [body.get(f) or None for f in fields]


CONTROLLERS = (Endpoints(),)
