"""The Kyma controller: what Kyma's lifecycle manager and the module managers do in a runtime, through
the runtime's API like any client.

For each ``Kyma`` CR in ``kyma-system`` (``default`` on a runtime), ``spec.modules`` is the wish:

- a known module (``kymamodules.MODULES``) gets its CRDs and its manager Deployments in ``kyma-system``,
  created when missing; it is ``Processing`` until every Deployment is Available (the Deployment's own
  ``Available`` condition for its current generation), then ``Ready``;
- an unknown module is ``Error`` with a message, as KLM reports a module without a template;
- a module that left ``spec.modules`` but is still in ``status.modules`` or installed (its objects
  carry the module manager's labels) is ``Deleting`` while its Deployments and CRDs are deleted (a CRD
  takes its custom resources with it), then leaves the status.

``status.state`` is ``Error`` if any module is, ``Processing`` while any module is not ``Ready``, else
``Ready``. The status is written only when it changes, with the resourceVersion it was computed from.
"""

from __future__ import annotations

import copy
from typing import Any

from kymaprov.kubeapi.controllers.base import Pass, View, path_of
from kymaprov.kubeapi.controllers.client import ApiClient, collection_path
from kymaprov.kubeapi.controllers.graph import Graph, Node
from kymaprov.kubeapi.kymamodules import (
    KYMA_GROUP,
    KYMA_NAMESPACE,
    KYMA_RESOURCE,
    MANAGED_BY,
    MODULE_LABEL,
    MODULES,
    Module,
    crd_name,
    deployment,
)
from kymaprov.kubeapi.times import rfc3339

CRD_GROUP = "apiextensions.k8s.io"
CRD_RESOURCE = "customresourcedefinitions"
CRDS_PATH = collection_path(f"{CRD_GROUP}/v1", CRD_RESOURCE, "")
DEPLOYMENTS_PATH = collection_path("apps/v1", "deployments", KYMA_NAMESPACE)


class KymaController:
    """Keeps whole Kyma CRs (their spec and status) and Deployments (their Available condition)."""

    name = "kyma"
    order = 60
    kinds = frozenset({(KYMA_GROUP, KYMA_RESOURCE), ("apps", "deployments")})
    watches = kinds | {(CRD_GROUP, CRD_RESOURCE)}  # which CRDs exist (metadata)

    def needs_work(self, view: View) -> bool:
        return needs_work(view.graph)

    def sync(self, view: View, client: ApiClient, work: Pass) -> float | None:
        sync(view.graph, client, work, rfc3339(view.now))
        return None


CONTROLLERS = (KymaController(),)


def _kymas(graph: Graph) -> list[Node]:
    return [
        n
        for n in graph.of_kind(KYMA_GROUP, KYMA_RESOURCE, KYMA_NAMESPACE)
        if n.body is not None and not n.deleting
    ]


def _find(graph: Graph, group: str, resource: str, namespace: str, name: str) -> Node | None:
    return graph.get(group, resource, namespace, name)


def _available(node: Node | None) -> bool:
    """The Deployment's ``Available`` condition is True for its current generation."""
    if node is None or node.body is None or node.deleting:
        return False
    meta = node.body.get("metadata") or {}
    status = node.body.get("status") or {}
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return False
    return any(
        c.get("type") == "Available" and c.get("status") == "True"
        for c in status.get("conditions") or []
        if isinstance(c, dict)
    )


def _installed(graph: Graph, module: Module) -> list[Node]:
    """The module's Deployments and CRDs that exist, Deployments first."""
    found = [_find(graph, "apps", "deployments", KYMA_NAMESPACE, name) for name, _ in module.deployments]
    found += [_find(graph, CRD_GROUP, CRD_RESOURCE, "", crd_name(c)) for c in module.crds]
    return [n for n in found if n is not None]


def _missing(graph: Graph, module: Module) -> list[tuple[str, dict[str, Any]]]:
    """(collection path, body) of the module's CRDs and Deployments that do not exist."""
    todo = [
        (CRDS_PATH, c) for c in module.crds if _find(graph, CRD_GROUP, CRD_RESOURCE, "", crd_name(c)) is None
    ]
    todo += [
        (DEPLOYMENTS_PATH, deployment(module.name, name, image))
        for name, image in module.deployments
        if _find(graph, "apps", "deployments", KYMA_NAMESPACE, name) is None
    ]
    return todo


def desired(graph: Graph, kyma: dict[str, Any]) -> tuple[list[dict[str, Any]], list[Node], list[Any]]:
    """The modules' status, the objects to delete and the (path, body) pairs to create."""
    spec = kyma.get("spec") or {}
    channel = str(spec.get("channel") or "")
    wanted = [m for m in spec.get("modules") or [] if isinstance(m, dict) and m.get("name")]
    names = {str(m["name"]) for m in wanted}
    modules: list[dict[str, Any]] = []
    deletes: list[Node] = []
    creates: list[Any] = []
    for entry in wanted:
        name = str(entry["name"])
        module_channel = str(entry.get("channel") or channel)
        module = MODULES.get(name)
        if module is None:
            modules.append(
                {
                    "name": name,
                    "channel": module_channel,
                    "state": "Error",
                    "message": f"module {name} not found: no ModuleTemplate of that name "
                    f"in channel {module_channel} (known modules: {', '.join(sorted(MODULES))})",
                }
            )
            continue
        missing = _missing(graph, module)
        creates += missing
        deployments = [_find(graph, "apps", "deployments", KYMA_NAMESPACE, n) for n, _ in module.deployments]
        ready = not missing and all(_available(d) for d in deployments)
        modules.append(
            {
                "name": name,
                "fqdn": f"kyma-project.io/module/{name}",
                "channel": module_channel,
                "version": module.version,
                "state": "Ready" if ready else "Processing",
            }
        )
    reported = {
        str(m.get("name")): m for m in (kyma.get("status") or {}).get("modules") or [] if isinstance(m, dict)
    }
    for name in sorted((set(reported) | _managed(graph)) - names):
        module = MODULES.get(name)
        leftover = [] if module is None else _installed(graph, module)
        if leftover:
            deletes += [n for n in leftover if not n.deleting]
            old = reported.get(name) or {"name": name, "fqdn": f"kyma-project.io/module/{name}"}
            modules.append({**old, "state": "Deleting"})
    return modules, deletes, creates


def _managed(graph: Graph) -> set[str]:
    """The modules whose objects are installed (labelled by the module manager), reported or not: a
    module removed from the spec before its first status was written is removed all the same."""
    installed = graph.of_kind("apps", "deployments", KYMA_NAMESPACE) + graph.of_kind(CRD_GROUP, CRD_RESOURCE)
    return {
        n.labels[MODULE_LABEL]
        for n in installed
        if MODULE_LABEL in n.labels and all(n.labels.get(k) == v for k, v in MANAGED_BY.items())
    }


def _overall(modules: list[dict[str, Any]]) -> str:
    states = {m["state"] for m in modules}
    if "Error" in states:
        return "Error"
    if states - {"Ready"}:
        return "Processing"
    return "Ready"


def _status(kyma: dict[str, Any], modules: list[dict[str, Any]], now_text: str) -> dict[str, Any] | None:
    """The new status, or None when the current one already says it."""
    current = kyma.get("status") or {}
    state = _overall(modules)
    channel = str((kyma.get("spec") or {}).get("channel") or "")
    if (
        current.get("state") == state
        and current.get("modules", []) == modules
        and current.get("activeChannel") == channel
    ):
        return None
    ready = state == "Ready"
    condition = {
        "type": "Modules",
        "status": "True" if ready else "False",
        "reason": "Ready" if ready else "Processing",
        "message": "all modules are in ready state" if ready else "not all modules are in ready state",
        "lastTransitionTime": now_text,
        "observedGeneration": int((kyma.get("metadata") or {}).get("generation") or 0),
    }
    for old in current.get("conditions") or []:
        if (
            isinstance(old, dict)
            and old.get("type") == "Modules"
            and old.get("status") == condition["status"]
        ):
            condition["lastTransitionTime"] = old.get("lastTransitionTime", now_text)
    return {
        "state": state,
        "activeChannel": channel,
        "conditions": [condition],
        "lastOperation": {
            "operation": "kyma is ready" if ready else f"kyma is {state.lower()}",
            "lastUpdateTime": now_text,
        },
        "modules": modules,
    }


def needs_work(graph: Graph) -> bool:
    for node in _kymas(graph):
        assert node.body is not None
        modules, deletes, creates = desired(graph, node.body)
        if deletes or creates or _status(node.body, modules, "") is not None:
            return True
    return False


def sync(graph: Graph, client: ApiClient, work: Pass, now_text: str) -> None:
    for node in _kymas(graph):
        if work.exhausted:
            return
        assert node.body is not None
        modules, deletes, creates = desired(graph, node.body)
        for path, body in creates:
            if work.exhausted:
                return
            work.call(client.create, path, body)
        for dependent in deletes:
            if work.exhausted:
                return
            work.call(client.delete, path_of(dependent), dependent.uid, "Background")
        status = _status(node.body, modules, now_text)
        if status is not None and not work.exhausted:
            kyma = copy.deepcopy(node.body)  # its resourceVersion: a concurrent change fails the write
            kyma["status"] = status
            work.call(client.put, path_of(node, "status"), kyma)
