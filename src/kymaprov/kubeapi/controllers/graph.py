"""The controllers' view of one cluster: every object by UID with its owners and dependents, as kube's
garbage collector's ``GraphBuilder`` keeps it from informers.

Besides metadata (owners, finalizers, labels) it keeps the whole bodies of the kinds the registered
controllers ask for (``Graph(keep=...)``), with indexes by kind and by namespace and label-selector
lookups, so a controller reads its objects without a request.

It is built from one read of the cluster's objects and then kept current by reading the change log
after the version it reflects (a read of the log, not of every kind's watch: one query per pass for
all kinds). Replaying events is idempotent (each sets an object's state by UID), so a scan that saw
writes newer than its version is still correct once the log after that version is replayed. When the
log no longer reaches back to that version (compacted), the graph is built again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from kymaprov.crypto import Sealer
from kymaprov.kubeapi.models import LIVE, change_log, clusters, objects
from kymaprov.kubeapi.objects import SEALED_PREFIX
from kymaprov.kubeapi.selectors import Requirement

MAX_EVENTS_PER_READ = 5_000
Kind = tuple[str, str]  # (group, resource)

# built once: a pass runs them after every write, and building a statement costs more than running it
_CURRENT = sa.select(clusters.c.resource_version).where(clusters.c.id == sa.bindparam("cluster"), LIVE)
_EVENTS = (
    sa.select(
        change_log.c.resource_version,
        change_log.c.api_group,
        change_log.c.resource,
        change_log.c.type,
        change_log.c.body,
        change_log.c.prev_body,
    )
    .where(
        change_log.c.cluster_id == sa.bindparam("cluster"), change_log.c.resource_version > sa.bindparam("rv")
    )
    .order_by(change_log.c.resource_version)
    .limit(MAX_EVENTS_PER_READ)
)


@dataclass
class Node:
    """What the controllers need of one object."""

    uid: str
    api_version: str
    object_kind: str  # the object's ``kind`` (Pod); ``kind`` is the (group, resource) pair
    group: str
    resource: str
    namespace: str
    name: str
    resource_version: str
    owners: list[dict[str, Any]]
    finalizers: list[str]
    deleting: bool
    spec_finalizers: list[str] = field(default_factory=list)  # namespaces only
    labels: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None  # the whole object, kept only for the kinds the graph keeps

    @property
    def key(self) -> tuple[str, str, str, str]:
        return self.group, self.resource, self.namespace, self.name

    @property
    def kind(self) -> Kind:
        return self.group, self.resource

    @property
    def controller_uid(self) -> str | None:
        """The UID of the owner that is its controller (``controller: true``), if any."""
        return next((str(o["uid"]) for o in self.owners if o.get("controller") is True), None)

    def matches(self, requirements: list[Requirement]) -> bool:
        return all(r.matches(self.labels) for r in requirements)


class ClusterGone(Exception):
    """The cluster was deleted: forget it."""


class Graph:
    """Objects by UID and the UIDs that name each owner UID in their ownerReferences."""

    def __init__(self, cluster_id: str, sealer: Sealer, keep: frozenset[Kind] = frozenset()) -> None:
        self.cluster_id = cluster_id
        self.sealer = sealer
        self.keep = keep  # the kinds whose whole bodies are kept
        self.rv = -1  # the version the graph reflects; -1: not built
        self.built = -1  # the version of the last full build (every kind changed then)
        self.changed: dict[Kind, int] = {}  # the version of each kind's latest change since the build
        self.nodes: dict[str, Node] = {}
        self.by_key: dict[tuple[str, str, str, str], str] = {}
        self.dependents: dict[str, set[str]] = {}
        self.by_kind: dict[Kind, set[str]] = {}
        self.by_namespace: dict[str, set[str]] = {}

    # --- keeping current ------------------------------------------------------------------------

    def refresh(self, conn: Connection) -> None:
        """Bring the graph to the cluster's current version (build it if the log cannot)."""
        current = conn.execute(_CURRENT, {"cluster": self.cluster_id}).scalar()
        if current is None:
            raise ClusterGone(self.cluster_id)
        while self.rv < int(current):
            if self.rv < 0:
                self._build(conn, int(current))
                return
            rows = conn.execute(_EVENTS, {"cluster": self.cluster_id, "rv": self.rv}).all()
            # every write takes the next version and logs it, and compaction drops a prefix: when the
            # log still holds the next version, it holds all of them (else look for a compaction)
            if (not rows or int(rows[0][0]) != self.rv + 1) and self._compacted(conn) > self.rv:
                self._build(conn, int(current))
                return
            if not rows:
                self.rv = int(current)
                return
            for rv, group, resource, kind, body, prev in rows:
                self.changed[(group, resource)] = int(rv)
                obj = self._decode(body)
                if kind == "DELETED":
                    self._forget(str(obj["metadata"].get("uid", "")))
                else:
                    if prev is not None:  # a write that replaced another object of the same name
                        self._forget(str(self._decode(prev)["metadata"].get("uid", "")))
                    self._put(group, resource, obj)
                self.rv = int(rv)

    def _compacted(self, conn: Connection) -> int:
        oldest = conn.execute(
            sa.select(sa.func.min(change_log.c.resource_version)).where(
                change_log.c.cluster_id == self.cluster_id
            )
        ).scalar()
        return -1 if oldest is None else int(oldest) - 1

    def _build(self, conn: Connection, current: int) -> None:
        self.nodes.clear()
        self.by_key.clear()
        self.dependents.clear()
        self.by_kind.clear()
        self.by_namespace.clear()
        self.changed.clear()
        rows = conn.execute(
            sa.select(objects.c.api_group, objects.c.resource, objects.c.body).where(
                objects.c.cluster_id == self.cluster_id
            )
        ).all()
        for group, resource, body in rows:
            self._put(group, resource, self._decode(body))
        self.rv = self.built = current

    def _decode(self, body: str) -> dict[str, Any]:
        if body.startswith(SEALED_PREFIX):
            body = self.sealer.open_str(body[len(SEALED_PREFIX) :])
        return dict(json.loads(body))

    def _put(self, group: str, resource: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        uid = str(meta.get("uid", ""))
        old_uid = self.by_key.get((group, resource, meta.get("namespace", ""), meta.get("name", "")))
        if old_uid is not None and old_uid != uid:
            self._forget(old_uid)
        self._forget(uid)
        owners = [o for o in meta.get("ownerReferences") or [] if isinstance(o, dict) and o.get("uid")]
        node = Node(
            uid=uid,
            api_version=str(obj.get("apiVersion", "")),
            object_kind=str(obj.get("kind", "")),
            group=group,
            resource=resource,
            namespace=str(meta.get("namespace", "")),
            name=str(meta.get("name", "")),
            resource_version=str(meta.get("resourceVersion", "")),
            owners=owners,
            finalizers=list(meta.get("finalizers") or []),
            deleting=bool(meta.get("deletionTimestamp")),
            spec_finalizers=list((obj.get("spec") or {}).get("finalizers") or [])
            if (group, resource) == ("", "namespaces")
            else [],
            labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
            body=obj if (group, resource) in self.keep else None,
        )
        self.nodes[uid] = node
        self.by_key[node.key] = uid
        self.by_kind.setdefault(node.kind, set()).add(uid)
        self.by_namespace.setdefault(node.namespace, set()).add(uid)
        for owner in owners:
            self.dependents.setdefault(str(owner["uid"]), set()).add(uid)

    def _forget(self, uid: str) -> None:
        node = self.nodes.pop(uid, None)
        if node is None:
            return
        if self.by_key.get(node.key) == uid:
            del self.by_key[node.key]
        _discard(self.by_kind, node.kind, uid)
        _discard(self.by_namespace, node.namespace, uid)
        for owner in node.owners:
            group = self.dependents.get(str(owner["uid"]))
            if group is not None:
                group.discard(uid)
                if not group:
                    del self.dependents[str(owner["uid"])]

    def unchanged_since(self, rv: int, kinds: frozenset[Kind]) -> bool:
        """Whether no object of ``kinds`` changed after version ``rv`` (which this graph reflected)."""
        return self.built <= rv and all(self.changed.get(k, -1) <= rv for k in kinds)

    # --- queries --------------------------------------------------------------------------------

    def dependents_of(self, uid: str) -> list[Node]:
        return [self.nodes[d] for d in sorted(self.dependents.get(uid, ())) if d in self.nodes]

    def in_namespace(self, namespace: str) -> list[Node]:
        return self._sorted(self.by_namespace.get(namespace, ()))

    def of_kind(self, group: str, resource: str, namespace: str | None = None) -> list[Node]:
        """The objects of a kind (in one namespace, or all), sorted by namespace and name."""
        uids = self.by_kind.get((group, resource), set())
        if namespace is not None:
            uids = uids & self.by_namespace.get(namespace, set())
        return self._sorted(uids)

    def count(self, group: str, resource: str) -> int:
        return len(self.by_kind.get((group, resource), ()))

    def get(self, group: str, resource: str, namespace: str, name: str) -> Node | None:
        uid = self.by_key.get((group, resource, namespace, name))
        return None if uid is None else self.nodes.get(uid)

    def select(
        self, group: str, resource: str, namespace: str | None, requirements: list[Requirement]
    ) -> list[Node]:
        """The objects of a kind whose labels match a selector (see ``selectors.from_label_selector``
        and ``selectors.from_map``); an empty selector matches everything, as in kube."""
        return [n for n in self.of_kind(group, resource, namespace) if n.matches(requirements)]

    def owned_by(self, uid: str, group: str = "", resource: str = "") -> list[Node]:
        """The objects whose controller (``controller: true`` owner) is ``uid``, of one kind if given."""
        return [
            n
            for n in self.dependents_of(uid)
            if n.controller_uid == uid and (not resource or n.kind == (group, resource))
        ]

    def _sorted(self, uids: Any) -> list[Node]:
        return sorted((self.nodes[u] for u in uids if u in self.nodes), key=lambda n: n.key)


def _discard(index: dict[Any, set[str]], key: Any, uid: str) -> None:
    members = index.get(key)
    if members is not None:
        members.discard(uid)
        if not members:
            del index[key]
