"""The garbage collector (``pkg/controller/garbagecollector``): dependents follow their owners.

- An object whose owners are all gone is deleted (background: the owner went first).
- An owner being deleted with the ``orphan`` finalizer: its dependents lose their references to it,
  then the finalizer goes (and with the last finalizer, the owner).
- An owner being deleted with ``foregroundDeletion``: its dependents are deleted (in the foreground
  themselves when they have dependents); once no dependent with ``blockOwnerDeletion`` remains, the
  finalizer goes.
- A dependent with a live owner besides gone or foreground-deleting ones only loses the references
  to those.

Every change is a request to the cluster's API (deletes with a UID precondition, merge patches with a
UID or resourceVersion precondition), so a concurrent change makes it fail and the next pass retries.
"""

from __future__ import annotations

from kymaprov.kubeapi.controllers.base import Pass, View, path_of
from kymaprov.kubeapi.controllers.client import ApiClient
from kymaprov.kubeapi.controllers.graph import Graph, Node
from kymaprov.kubeapi.deletion import FOREGROUND, ORPHAN


class GarbageCollector:
    name = "garbagecollector"
    order = 0
    kinds: frozenset[tuple[str, str]] = frozenset()
    watches = None  # any object may lose its owner

    def needs_work(self, view: View) -> bool:
        """Anything being deleted, or owned by an object that is gone or being deleted."""
        nodes = view.graph.nodes
        for node in nodes.values():
            if node.deleting:
                return True
            for ref in node.owners:
                owner = nodes.get(str(ref["uid"]))
                if owner is None or owner.deleting:
                    return True
        return False

    def sync(self, view: View, client: ApiClient, work: Pass) -> float | None:
        sync(view.graph, client, work)
        return None


CONTROLLERS = (GarbageCollector(),)


def sync(graph: Graph, client: ApiClient, work: Pass) -> None:
    """One pass over the graph: orphaning and foreground owners first, then dangling dependents."""
    for node in [n for n in graph.nodes.values() if n.deleting]:
        if work.exhausted:
            return
        if ORPHAN in node.finalizers:
            _orphan(graph, client, node, work)
        elif FOREGROUND in node.finalizers:
            _foreground(graph, client, node, work)
    for node in [n for n in graph.nodes.values() if n.owners and not n.deleting]:
        if work.exhausted:
            return
        _dependent(graph, client, node, work)


def _remove_finalizer(client: ApiClient, node: Node, finalizer: str, work: Pass) -> None:
    remaining = [f for f in node.finalizers if f != finalizer]
    patch = {"metadata": {"finalizers": remaining or None, "resourceVersion": node.resource_version}}
    work.call(client.merge_patch, path_of(node), patch)


def _drop_references(client: ApiClient, node: Node, uids: set[str], work: Pass) -> bool:
    remaining = [o for o in node.owners if str(o["uid"]) not in uids]
    patch = {"metadata": {"ownerReferences": remaining or None, "uid": node.uid}}
    return work.call(client.merge_patch, path_of(node), patch)


def _orphan(graph: Graph, client: ApiClient, owner: Node, work: Pass) -> None:
    done = True
    for dependent in graph.dependents_of(owner.uid):
        if work.exhausted:
            return
        done = _drop_references(client, dependent, {owner.uid}, work) and done
    if done and not work.exhausted:
        _remove_finalizer(client, owner, ORPHAN, work)


def _blocks(dependent: Node, owner_uid: str) -> bool:
    return any(str(o["uid"]) == owner_uid and o.get("blockOwnerDeletion") is True for o in dependent.owners)


def _foreground(graph: Graph, client: ApiClient, owner: Node, work: Pass) -> None:
    dependents = graph.dependents_of(owner.uid)
    for dependent in dependents:
        if work.exhausted:
            return
        if not dependent.deleting:
            _dependent(graph, client, dependent, work)
    if not any(_blocks(d, owner.uid) for d in dependents) and not work.exhausted:
        _remove_finalizer(client, owner, FOREGROUND, work)


def _dependent(graph: Graph, client: ApiClient, node: Node, work: Pass) -> None:
    """``attemptToDeleteItem``: classify the owners as solid, dangling (gone) or waiting for their
    dependents (foreground), and delete the object or drop the references that no longer hold."""
    dangling: set[str] = set()
    waiting: set[str] = set()
    solid = False
    for ref in node.owners:
        owner = graph.nodes.get(str(ref["uid"]))
        if owner is None:
            dangling.add(str(ref["uid"]))
        elif owner.deleting and FOREGROUND in owner.finalizers:
            waiting.add(owner.uid)
        else:
            solid = True
    if solid:
        if dangling or waiting:
            _drop_references(client, node, dangling | waiting, work)
        return
    if not dangling and not waiting:
        return
    if ORPHAN in node.finalizers:
        policy = "Orphan"
    elif FOREGROUND in node.finalizers or (waiting and graph.dependents.get(node.uid)):
        policy = "Foreground"
    else:
        policy = "Background"
    work.call(client.delete, path_of(node), node.uid, policy)
