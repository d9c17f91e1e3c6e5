"""The namespace controller (``pkg/controller/namespace``): empties a Terminating namespace.

Every object in it is deleted through the API (their finalizers hold them as anywhere else); while
objects remain, the namespace's status says which and which finalizers hold them (the conditions
``NamespaceContentRemaining`` and ``NamespaceFinalizersRemaining``, with kube's messages); once it is
empty, the ``kubernetes`` finalizer is removed through ``namespaces/<name>/finalize``, and the
namespace is deleted by that update once nothing else holds it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from kymaprov.kubeapi.controllers.base import Pass, View, path_of
from kymaprov.kubeapi.controllers.client import ApiClient, ApiError
from kymaprov.kubeapi.controllers.graph import Graph, Node
from kymaprov.kubeapi.deletion import NAMESPACE_FINALIZER
from kymaprov.kubeapi.times import rfc3339

# (type, ok reason, ok message) in the order kube's deleter keeps them
CONDITIONS = (
    ("NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered", "All resources successfully discovered"),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    ("NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"),
    ("NamespaceFinalizersRemaining", "ContentHasNoFinalizers", "All content-preserving finalizers finished"),
)


def _terminating(graph: Graph) -> list[Node]:
    return [
        n for n in graph.of_kind("", "namespaces") if n.deleting and NAMESPACE_FINALIZER in n.spec_finalizers
    ]


class NamespaceController:
    name = "namespace"
    order = 10
    kinds: frozenset[tuple[str, str]] = frozenset()
    watches = frozenset({("", "namespaces")})  # a Terminating one has work until it is gone

    def needs_work(self, view: View) -> bool:
        return bool(_terminating(view.graph))

    def sync(self, view: View, client: ApiClient, work: Pass) -> float | None:
        sync(view.graph, client, work, rfc3339(view.now))
        return None


CONTROLLERS = (NamespaceController(),)


def sync(graph: Graph, client: ApiClient, work: Pass, now_text: str) -> None:
    for ns in _terminating(graph):
        if not work.exhausted:
            _terminate(graph, client, ns, work, now_text)


def _terminate(graph: Graph, client: ApiClient, ns: Node, work: Pass, now_text: str) -> None:
    remaining: list[Node] = []
    for node in graph.in_namespace(ns.name):
        if node.deleting:
            remaining.append(node)
            continue
        if work.exhausted:
            return
        work.writes += 1
        try:
            client.delete(path_of(node), node.uid, "Background")
        except ApiError as exc:
            if exc.code != 404:
                work.retry = True
                remaining.append(node)
            continue
        if node.finalizers:  # kept, marked as deleting: it holds the namespace
            remaining.append(node)
    if work.exhausted:
        return
    if remaining:
        _report(client, ns, remaining, work, now_text)
        return
    namespace = client.get(path_of(ns))
    namespace["spec"]["finalizers"] = [f for f in ns.spec_finalizers if f != NAMESPACE_FINALIZER]
    work.call(client.put, path_of(ns, "finalize"), namespace)


def _report(client: ApiClient, ns: Node, remaining: list[Node], work: Pass, now_text: str) -> None:
    """The namespace's conditions, written only when they change."""
    resources = Counter(f"{n.resource}.{n.group}" for n in remaining)
    finalizers = Counter(f for n in remaining for f in n.finalizers)
    failing = {
        "NamespaceContentRemaining": (
            "SomeResourcesRemain",
            "Some resources are remaining: "
            + ", ".join(sorted(f"{r} has {c} resource instances" for r, c in resources.items())),
        ),
    }
    if finalizers:
        failing["NamespaceFinalizersRemaining"] = (
            "SomeFinalizersRemain",
            "Some content in the namespace has finalizers remaining: "
            + ", ".join(sorted(f"{f} in {c} resource instances" for f, c in finalizers.items())),
        )
    try:
        namespace = client.get(path_of(ns))
    except ApiError:
        work.retry = True
        return
    status = namespace.setdefault("status", {})
    before = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}
    conditions: list[dict[str, Any]] = []
    for kind, ok_reason, ok_message in CONDITIONS:
        truth, (reason, message) = (
            ("True", failing[kind]) if kind in failing else ("False", (ok_reason, ok_message))
        )
        previous = before.get(kind) or {}
        same = previous.get("status") == truth
        conditions.append(
            {
                "type": kind,
                "status": truth,
                "lastTransitionTime": previous.get("lastTransitionTime", now_text) if same else now_text,
                "reason": reason,
                "message": message,
            }
        )
    if status.get("conditions") == conditions:
        return
    status["conditions"] = conditions
    work.call(client.put, path_of(ns, "status"), namespace)
