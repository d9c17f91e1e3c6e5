"""The root CA publisher (``pkg/controller/certificates/rootcacertpublisher``): every namespace has the
ConfigMap ``kube-root-ca.crt`` whose ``ca.crt`` is the CA that signs the cluster's serving certificate.

As kube's ``syncNamespace``: a missing ConfigMap is created (with the ``kubernetes.io/description``
annotation), one whose data differs or lacks the annotation is updated (the data replaced, the
annotation added; other annotations and labels are left alone), through the API like any client.
Terminating namespaces are skipped: their creates are refused, and the namespace controller is
emptying them.
"""

from __future__ import annotations

import copy
from typing import Any

from kymaprov.kubeapi.controllers.base import Pass, View, path_of
from kymaprov.kubeapi.controllers.client import ApiClient, collection_path
from kymaprov.kubeapi.controllers.graph import Graph, Node

NAME = "kube-root-ca.crt"
KEY = "ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
    "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
    "distributions of Kubernetes clusters."
)


class RootCaCertPublisher:
    """Keeps whole ConfigMaps (to compare their data); a cluster without a CA has nothing to publish."""

    name = "rootcacertpublisher"
    order = 20
    kinds = frozenset({("", "configmaps")})
    watches = kinds | {("", "namespaces")}

    def needs_work(self, view: View) -> bool:
        return bool(view.ca_pem) and needs_work(view.graph, view.ca_pem)

    def sync(self, view: View, client: ApiClient, work: Pass) -> float | None:
        sync(view.graph, client, work, view.ca_pem)
        return None


CONTROLLERS = (RootCaCertPublisher(),)


def _active_namespaces(graph: Graph) -> list[Node]:
    return [n for n in graph.of_kind("", "namespaces") if not n.deleting]


def _published(graph: Graph, namespace: str) -> Node | None:
    return graph.get("", "configmaps", namespace, NAME)


def _current(node: Node, ca_pem: str) -> bool:
    """kube's test: the data is exactly ``{ca.crt: <CA>}`` and the description is not empty."""
    body = node.body or {}
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    return body.get("data") == {KEY: ca_pem} and bool(annotations.get(DESCRIPTION_ANNOTATION))


def needs_work(graph: Graph, ca_pem: str) -> bool:
    """Whether some Active namespace lacks a current ConfigMap (a cheap check before the lease)."""
    for ns in _active_namespaces(graph):
        node = _published(graph, ns.name)
        if node is None or (not node.deleting and not _current(node, ca_pem)):
            return True
    return False


def sync(graph: Graph, client: ApiClient, work: Pass, ca_pem: str) -> None:
    for ns in _active_namespaces(graph):
        if work.exhausted:
            return
        node = _published(graph, ns.name)
        if node is None:
            work.call(
                client.create,
                collection_path("v1", "configmaps", ns.name),
                _new(ns.name, ca_pem),
            )
        elif not node.deleting and not _current(node, ca_pem):
            work.call(client.put, path_of(node), _fixed(node.body or {}, ca_pem))


def _new(namespace: str, ca_pem: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": NAME,
            "namespace": namespace,
            "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION},
        },
        "data": {KEY: ca_pem},
    }


def _fixed(body: dict[str, Any], ca_pem: str) -> dict[str, Any]:
    """The object as read (its resourceVersion makes the update fail on a concurrent change)."""
    fixed = copy.deepcopy(body)
    fixed["data"] = {KEY: ca_pem}
    annotations = fixed.setdefault("metadata", {}).get("annotations") or {}
    if not annotations.get(DESCRIPTION_ANNOTATION):  # kube adds it only when absent, then loops on ""
        annotations[DESCRIPTION_ANNOTATION] = DESCRIPTION
    fixed["metadata"]["annotations"] = annotations
    return fixed
