"""The object store of one cluster: Kubernetes CRUD semantics over the ``kube_objects`` table.

It runs inside the caller's transaction (``Store.write()`` / ``Store.read()``) and knows nothing of
HTTP. Every write first locks the cluster's row (``FOR UPDATE`` on PostgreSQL; SQLite write
transactions are serialised anyway) and only then reads what it checks, so concurrent writers of one
cluster queue and each sees what the one before it committed; it then takes the next value of the
cluster's resourceVersion counter.

Every write also appends one row to the cluster's change log (``kube_events``) in the same
transaction (``_record``), so each resourceVersion the cluster issued has exactly one event until
compaction drops the oldest (like etcd's: the last ``HISTORY_EVENTS`` events, and none older than
``HISTORY_SECONDS`` of service time). Watch reads the log; lists read "as of" a version by undoing the
newer events.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import secrets
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from kymaprov.crypto import Sealer
from kymaprov.kubeapi import bodies, changes, crds, fieldmanager, patch, schemas
from kymaprov.kubeapi.deletion import DeleteOptions, gc_finalizers, mark_deleting, new_finalizers_forbidden
from kymaprov.kubeapi.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    UnsupportedMediaType,
)
from kymaprov.kubeapi.models import LIVE, change_log, clusters, equals, objects
from kymaprov.kubeapi.resources import NAMESPACES, ResourceType
from kymaprov.kubeapi.strategies import strategy_for
from kymaprov.kubeapi.times import rfc3339
from kymaprov.store import Query, after_commit

Matcher = Callable[[dict[str, Any]], bool]
Change = tuple[int, str, dict[str, Any], dict[str, Any] | None]  # rv, type, object, object before

HISTORY_EVENTS = 10_000  # the change log keeps at least the last this many events of a cluster...
HISTORY_SECONDS = 300.0  # ...but none older than this (service clock), as etcd compacts every 5 minutes
COMPACT_EVERY_SECONDS = 10.0  # a write compacts when its process last did so this long ago

PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)
# the statements every write runs, built once (building one costs several times what running it does)
# and run on the driver's cursor (``store.Query``)
_LOCK = Query(
    sa.select(clusters.c.resource_version)
    .where(clusters.c.id == sa.bindparam("cluster"), LIVE)
    .with_for_update()
)
_BUMP = Query(
    sa.update(clusters)
    .where(clusters.c.id == sa.bindparam("cluster"))
    .values(resource_version=sa.bindparam("rv"))
)

_LOG = Query.insert(change_log)
_INSERT = Query.insert(objects, [c.name for c in objects.columns if c.name != "id"])  # the DB numbers rows
_KEY = (
    objects.c.cluster_id == sa.bindparam("cluster"),
    objects.c.api_group == sa.bindparam("group"),
    objects.c.resource == sa.bindparam("resource"),
    objects.c.namespace == sa.bindparam("namespace"),
    objects.c.name == sa.bindparam("name"),
)
_FIND = Query(sa.select(objects.c.body).where(*_KEY))
_DELETE = Query(sa.delete(objects).where(*_KEY))
_REWRITE = Query(  # an UPDATE's parameters must not be named as its columns
    sa.update(objects)
    .where(
        objects.c.cluster_id == sa.bindparam("w_cluster"),
        objects.c.api_group == sa.bindparam("w_group"),
        objects.c.resource == sa.bindparam("w_resource"),
        objects.c.namespace == sa.bindparam("w_namespace"),
        objects.c.name == sa.bindparam("w_name"),
    )
    .values(resource_version=sa.bindparam("w_rv"), body=sa.bindparam("w_body"))
)

_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def prune_nulls(value: Any) -> Any:
    """``null`` means unset in Kubernetes JSON; drop such keys everywhere."""
    if isinstance(value, dict):
        return {k: prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune_nulls(v) for v in value]
    return value


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _page(bodies: list[tuple[str, str]], limit: int) -> tuple[list[str], str, int]:
    """The first ``limit`` (0: all) bodies, the last one's key if more follow, and how many follow."""
    page = bodies[:limit] if limit else bodies
    rest = len(bodies) - len(page)
    return [body for _, body in page], (page[-1][0] if rest else ""), rest


# The stored body of a sealed kind: this prefix and the AES-256-GCM sealed JSON (as etcd's values carry
# ``k8s:enc:<provider>:v1:<key>:``). A body without it is clear JSON: rows written before sealing read.
SEALED_PREFIX = "k8s:enc:aesgcm:v1:"


def _cannot_handle(rt: ResourceType, detail: str) -> BadRequest:
    return BadRequest(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: {detail}')


def check_shape(
    rt: ResourceType, body: Any, validation: schemas.FieldValidation | None = None
) -> dict[str, Any]:
    """Reject what Go's decoder would: non-objects, another kind/version, a value of the wrong type
    anywhere (from the kind's schema); unknown fields are dropped and reported per ``validation``."""
    if not isinstance(body, dict):
        raise _cannot_handle(
            rt, f"json: cannot unmarshal {bodies.go_type(body)} into Go value of type struct"
        )
    api_version = body.get("apiVersion")
    if api_version is not None and api_version != rt.api_version:
        raise BadRequest(
            f"the API version in the data ({api_version}) does not match the expected API version "
            f"({rt.api_version})"
        )
    kind = body.get("kind")
    if kind is not None and kind != rt.kind:
        raise BadRequest(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
    meta = body.get("metadata", {})
    if not isinstance(meta, dict):
        raise _cannot_handle(rt, f"json: cannot unmarshal {bodies.go_type(meta)} into Go struct field "
                                 f"{rt.kind}.metadata of type v1.ObjectMeta")  # fmt: skip
    for field in ("name", "namespace", "generateName", "resourceVersion", "uid"):
        if field in meta and not isinstance(meta[field], str):
            raise _cannot_handle(
                rt,
                f"json: cannot unmarshal {bodies.go_type(meta[field])} into Go struct field "
                f"ObjectMeta.metadata.{field} of type string",
            )
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise _cannot_handle(
                rt,
                f"json: cannot unmarshal {bodies.go_type(value)} into Go struct field "
                f"ObjectMeta.metadata.{field} of type map[string]string",
            )
        for item in value.values():
            if item is not None and not isinstance(item, str):
                raise _cannot_handle(
                    rt,
                    f"json: cannot unmarshal {bodies.go_type(item)} into Go struct field "
                    f"ObjectMeta.metadata.{field} of type string",
                )
    strategy_for(rt).decode(body, validation or schemas.FieldValidation("Ignore"))
    return body


class ObjectStore:
    """CRUD for one cluster inside an open transaction; ``now`` is the service clock's epoch seconds."""

    def __init__(self, conn: Connection, cluster_id: str, now: float, sealer: Sealer) -> None:
        self.conn = conn
        self.cluster_id = cluster_id
        self.now = now
        self.sealer = sealer
        # what the request's fieldValidation asks for; collects the Warning headers to send
        self.validation = schemas.FieldValidation("Ignore")
        self._announced = 0  # the newest version this transaction wrote, announced once it commits
        # the cluster's resourceVersion once this transaction holds its row's lock (until it ends): only
        # this transaction's own writes move it then, so later writes need not lock and read it again
        self._held: int | None = None
        self._kinds: set[tuple[str, str]] = set()  # the (group, resource)s it wrote, announced with it
        # dryRun=All: the transaction is rolled back; answers carry the resourceVersion kube-apiserver's
        # dry-run storage gives (none for a create, the stored one for an update)
        self.dry_run = False

    # --- stored bodies --------------------------------------------------------------------------

    def _encode(self, rt: ResourceType, obj: dict[str, Any]) -> str:
        text = _dump(obj)
        return SEALED_PREFIX + self.sealer.seal(text) if rt.sealed else text

    def _open(self, body: str) -> str:
        """A stored body as JSON text (unsealed)."""
        return self.sealer.open_str(body[len(SEALED_PREFIX) :]) if body.startswith(SEALED_PREFIX) else body

    def _decode(self, body: str) -> dict[str, Any]:
        return dict(json.loads(self._open(body)))

    def _reencode(self, like: str, obj: dict[str, Any]) -> str:
        """``obj`` stored as the body ``like`` is: sealed if it is."""
        text = _dump(obj)
        return SEALED_PREFIX + self.sealer.seal(text) if like.startswith(SEALED_PREFIX) else text

    # --- the change log -------------------------------------------------------------------------

    def _record(self, event: dict[str, Any]) -> None:
        """The hook every write goes through: append its event (``_event``) in the write's own
        transaction, wake this process's watchers once it commits, and now and then compact the log."""
        _LOG.execute(self.conn, event)
        rv = event["resource_version"]
        self._announce(rv, {(event["api_group"], event["resource"])})
        hub = changes.hub(self.conn.engine)
        if self.now - hub.compacted_at.get(self.cluster_id, 0.0) >= COMPACT_EVERY_SECONDS:
            hub.compacted_at[self.cluster_id] = self.now
            self._compact(rv)

    def _event(
        self,
        group: str,
        resource: str,
        namespace: str,
        name: str,
        rv: int,
        kind: str,
        body: str,
        prev: str | None,
    ) -> dict[str, Any]:
        """The change-log row of a write."""
        return {
            "cluster_id": self.cluster_id,
            "resource_version": rv,
            "api_group": group,
            "resource": resource,
            "namespace": namespace,
            "name": name,
            "type": kind,
            "body": body,
            "prev_body": prev,
            "created_ms": int(self.now * 1000),
        }

    def _announce(self, rv: int, kinds: set[tuple[str, str]]) -> None:
        """Once this transaction commits, tell the process's hub its newest version and what it wrote."""
        if not self._announced:
            hub = changes.hub(self.conn.engine)
            after_commit(
                self.conn, lambda: hub.notify(self.cluster_id, self._announced, frozenset(self._kinds))
            )
        self._announced = rv
        self._kinds |= kinds

    def _compact(self, rv: int) -> None:
        """Drop the events beyond the retained window; always a prefix, so the log stays contiguous."""
        in_cluster = change_log.c.cluster_id == self.cluster_id
        cutoff_ms = int((self.now - HISTORY_SECONDS) * 1000)
        too_old = self.conn.execute(
            sa.select(sa.func.max(change_log.c.resource_version)).where(
                in_cluster, change_log.c.created_ms < cutoff_ms
            )
        ).scalar()
        upto = min(max(rv - HISTORY_EVENTS, int(too_old or 0)), rv - 1)
        if upto > 0:
            self.conn.execute(sa.delete(change_log).where(in_cluster, change_log.c.resource_version <= upto))

    def compaction_point(self) -> int:
        """The newest version whose events are gone: a watch or list page needs to start at or after it."""
        oldest = self.conn.execute(
            sa.select(sa.func.min(change_log.c.resource_version)).where(
                equals(change_log.c.cluster_id, self.cluster_id)
            )
        ).scalar()
        return self.current_rv() if oldest is None else int(oldest) - 1

    def changes_since(self, rt: ResourceType, namespace: str | None, since: int, upto: int) -> list[Change]:
        """The logged writes of ``rt`` (in ``namespace``) with ``since < rv <= upto``, oldest first."""
        clauses = [
            equals(change_log.c.cluster_id, self.cluster_id),
            change_log.c.api_group == rt.group,
            change_log.c.resource == rt.resource,
            change_log.c.resource_version > since,
            change_log.c.resource_version <= upto,
        ]
        if namespace is not None:
            clauses.append(equals(change_log.c.namespace, namespace if rt.namespaced else ""))
        rows = self.conn.execute(
            sa.select(
                change_log.c.resource_version, change_log.c.type, change_log.c.body, change_log.c.prev_body
            )
            .where(*clauses)
            .order_by(change_log.c.resource_version)
        ).all()
        return [
            (int(r[0]), str(r[1]), self._decode(r[2]), None if r[3] is None else self._decode(r[3]))
            for r in rows
        ]

    # --- resource versions ----------------------------------------------------------------------

    def current_rv(self) -> int:
        value = self.conn.execute(
            sa.select(clusters.c.resource_version).where(equals(clusters.c.id, self.cluster_id), LIVE)
        ).scalar()
        if value is None:
            raise NotFound.path()
        return int(value)

    def _lock(self) -> int:
        """Lock the cluster's row until the transaction ends; the current resourceVersion.

        Every write calls it before reading what it checks (does the name exist, is the version
        current): on PostgreSQL each later statement then sees what the previous writer committed,
        so two creates of one name give one 409 instead of a unique-constraint error, and two updates
        of one version give one 409 instead of a lost update.
        """
        if self._held is not None:  # locked earlier in this transaction (the seed's ~45 creates)
            return self._held
        if "\x00" in self.cluster_id:  # no such cluster (and PostgreSQL refuses NUL in a parameter)
            raise NotFound.path()
        rows = _LOCK.fetch(self.conn, {"cluster": self.cluster_id})
        if not rows:
            raise NotFound.path()
        self._held = int(rows[0]["resource_version"])
        return self._held

    def _next_rv(self, locked: int | None = None) -> int:
        """The next version, taken; ``locked``: what ``_lock`` answered earlier in this write (the row
        is still locked and only this write has changed nothing since), spares locking again."""
        rv = (self._lock() if locked is None else locked) + 1
        _BUMP.execute(self.conn, {"cluster": self.cluster_id, "rv": rv})
        self._held = rv
        return rv

    # --- reads ----------------------------------------------------------------------------------

    def _where(self, rt: ResourceType, namespace: str | None, name: str | None = None) -> list[Any]:
        clauses = [
            equals(objects.c.cluster_id, self.cluster_id),
            objects.c.api_group == rt.group,
            objects.c.resource == rt.resource,
        ]
        if namespace is not None:
            clauses.append(equals(objects.c.namespace, namespace if rt.namespaced else ""))
        if name is not None:
            clauses.append(equals(objects.c.name, name))
        return clauses

    def _key(self, group: str, resource: str, namespace: str, name: str) -> dict[str, str]:
        """The parameters of ``_KEY``: one object's row."""
        return {
            "cluster": self.cluster_id,
            "group": group,
            "resource": resource,
            "namespace": namespace,
            "name": name,
        }

    def find(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        key = self._key(rt.group, rt.resource, namespace if rt.namespaced else "", name)
        if any("\x00" in v for v in key.values()):  # nothing stored holds one (see ``equals``)
            return None
        rows = _FIND.fetch(self.conn, key)
        return self._decode(rows[0]["body"]) if rows else None

    def get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = self.find(rt, namespace, name)
        if obj is None:
            raise NotFound.object(rt.resource, rt.group, name)
        return obj

    def list_objects(
        self, rt: ResourceType, namespace: str | None, match: Matcher | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """Matching objects ordered by namespace and name, and the list's resourceVersion."""
        rows = self.conn.execute(
            sa.select(objects.c.body)
            .where(*self._where(rt, namespace))
            .order_by(objects.c.namespace, objects.c.name)
        ).all()
        items = [self._decode(r[0]) for r in rows]
        if match is not None:
            items = [i for i in items if match(i)]
        return items, self.current_rv()

    def list_at(
        self,
        rt: ResourceType,
        namespace: str | None,
        match: Matcher | None,
        at: int,
        start: str = "",
        limit: int = 0,
    ) -> tuple[list[dict[str, Any]], str, int]:
        """Matching objects as they were at version ``at``, in key order from key ``start`` on, at most
        ``limit`` of them (0: all). The caller checks that ``at`` is not older than the compaction point.
        Returns the items, the last item's key if more keys follow (else ""), and how many keys follow.
        """
        bodies = self._bodies_at(rt, namespace, at, start)
        if match is None:
            stored, last, rest = _page(bodies, limit)
            return [self._decode(b) for b in stored], last, rest
        items: list[dict[str, Any]] = []
        for i, (k, body) in enumerate(bodies):
            obj = self._decode(body)
            if match(obj):
                items.append(obj)
                if limit and len(items) == limit:
                    rest = len(bodies) - i - 1
                    return items, (k if rest else ""), rest
        return items, "", 0

    def list_texts_at(
        self, rt: ResourceType, namespace: str | None, at: int, start: str = "", limit: int = 0
    ) -> tuple[list[str], str, int]:
        """``list_at`` without a selector, each object as its JSON text: a list served as JSON need
        not parse and re-render its objects (stored bodies are written by ``_dump``, as replies are)."""
        stored, last, rest = _page(self._bodies_at(rt, namespace, at, start), limit)
        return [self._open(b) for b in stored], last, rest

    def _bodies_at(
        self, rt: ResourceType, namespace: str | None, at: int, start: str
    ) -> list[tuple[str, str]]:
        """(key, stored body) of the objects at version ``at`` from key ``start`` on, in key order.

        Keys are kube's storage keys below the list's prefix: ``name``, or ``namespace/name`` for a
        list of a namespaced kind across namespaces. Current rows are read, then each key written after
        ``at`` takes its state from the first such event (created: absent; else the state before it).
        """
        across = rt.namespaced and namespace is None

        def key(ns: str, name: str) -> str:
            return f"{ns}/{name}" if across else name

        rows = self.conn.execute(
            sa.select(objects.c.namespace, objects.c.name, objects.c.body).where(*self._where(rt, namespace))
        ).all()
        state: dict[str, str | None] = {key(r[0], r[1]): r[2] for r in rows}
        clauses = [
            equals(change_log.c.cluster_id, self.cluster_id),
            change_log.c.api_group == rt.group,
            change_log.c.resource == rt.resource,
            change_log.c.resource_version > at,
        ]
        if namespace is not None:
            clauses.append(equals(change_log.c.namespace, namespace if rt.namespaced else ""))
        newer = self.conn.execute(
            sa.select(change_log.c.namespace, change_log.c.name, change_log.c.prev_body)
            .where(*clauses)
            .order_by(change_log.c.resource_version)
        ).all()
        undone: set[str] = set()
        for ns, name, prev in newer:
            k = key(ns, name)
            if k not in undone:
                undone.add(k)
                state[k] = prev  # None: created after ``at``
        return [(k, body) for k, body in sorted(state.items()) if body is not None and k >= start]

    def require_namespace(self, namespace: str, creating: tuple[ResourceType, str] | None = None) -> None:
        """The namespace exists; and, for a create (``creating``: kind and name), is not terminating
        (the NamespaceLifecycle admission plugin)."""
        found = self.find(NAMESPACES, "", namespace)
        if found is None:
            raise NotFound.object("namespaces", "", namespace)
        if creating is not None and (found.get("status") or {}).get("phase") == "Terminating":
            rt, name = creating
            error = Forbidden.for_request(
                rt.resource,
                rt.group,
                name,
                f"unable to create new content in namespace {namespace} because it is being terminated",
            )
            error.details = error.details or {}
            error.details["causes"] = [
                {
                    "reason": "NamespaceTerminating",
                    "message": f"namespace {namespace} is being terminated",
                    "field": "metadata.namespace",
                }
            ]
            raise error

    # --- writes ---------------------------------------------------------------------------------

    def create(
        self,
        rt: ResourceType,
        namespace: str,
        body: Any,
        manager: str | None = None,
        applied: bool = False,
    ) -> dict[str, Any]:
        """POST. ``manager`` owns the fields it set (an Update entry in managedFields); None for the
        server's own writes; ``applied``: the body is an applied object whose managedFields are set."""
        locked = self._lock()
        strategy = strategy_for(rt)
        obj = prune_nulls(check_shape(rt, copy.deepcopy(body), self.validation))
        meta = obj.setdefault("metadata", {})
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            suffix = "".join(secrets.choice(_GENERATE_ALPHABET) for _ in range(5))
            meta["name"] = meta["generateName"] + suffix
        strategy.check(obj, None)
        name = meta["name"]
        if rt.namespaced:
            self.require_namespace(namespace, creating=(rt, name))
        if self.find(rt, namespace, name) is not None:
            raise AlreadyExists.object(rt.resource, rt.group, name)
        rv = self._next_rv(locked)
        obj = self._stamp(rt, obj, rv)
        if manager is not None and not applied:
            self._field_manager(rt).update(None, obj, manager)
        elif not applied:
            obj["metadata"].pop("managedFields", None)
        body = self._encode(rt, obj)
        _INSERT.execute(self.conn, self._row(rt, namespace, obj, body))
        self._record(
            self._event(
                rt.group, rt.resource, obj["metadata"].get("namespace", ""), name, rv, "ADDED", body, None
            )
        )
        strategy.after_create(self, obj)
        if self.dry_run:
            obj = copy.deepcopy(obj)
            del obj["metadata"]["resourceVersion"]
        return obj

    def seed(self, items: Iterable[tuple[ResourceType, str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Create bodies the server built, as ``create`` would store them, all at once: one version bump
        and one multi-row insert each of the objects and their events, where ``create`` makes a lock,
        two reads and three writes per object (on PostgreSQL a round trip each). Decoding and
        validation would leave these bodies as they are (``tests/kubeapi/test_seed.py`` checks it),
        so they are spared too. For a cluster being made in this transaction: a name given twice
        fails the insert, and a namespace is not checked (make it first). Only kinds whose strategy
        writes nothing after a create (not namespaces)."""
        rv = self._lock()
        made: list[tuple[ResourceType, dict[str, Any]]] = []
        rows: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for rt, namespace, body in items:
            rv += 1
            obj = orjson.loads(orjson.dumps(body))  # plain JSON data: several times faster than deepcopy
            meta = obj.setdefault("metadata", {})
            if rt.namespaced:
                meta["namespace"] = namespace
            else:
                meta.pop("namespace", None)
            obj = self._stamp(rt, obj, rv)
            obj["metadata"].pop("managedFields", None)
            text = self._encode(rt, obj)
            rows.append(self._row(rt, namespace, obj, text))
            events.append(
                self._event(
                    rt.group, rt.resource, meta.get("namespace", ""), meta["name"], rv, "ADDED", text, None
                )
            )
            made.append((rt, obj))
        if not made:
            return []
        _BUMP.execute(self.conn, {"cluster": self.cluster_id, "rv": rv})
        self._held = rv
        _INSERT.execute_many(self.conn, rows)
        _LOG.execute_many(self.conn, events)
        self._announce(rv, {(rt.group, rt.resource) for rt, _ in made})
        for rt, obj in made:
            strategy_for(rt).after_create(self, obj)
        return [obj for _, obj in made]

    def _stamp(self, rt: ResourceType, obj: dict[str, Any], rv: int) -> dict[str, Any]:
        """A new object as stored at ``rv``: its kind, uid, version, creation time, generation, the
        kind's defaults and controller status, in the apiserver's key order."""
        meta = obj["metadata"]
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["resourceVersion"] = str(rv)
        meta["creationTimestamp"] = rfc3339(self.now)
        if rt.has_generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        strategy = strategy_for(rt)
        strategy.default(obj, rv)
        strategy.controller_status(obj, None, rfc3339(self.now))
        return _ordered(obj)

    def _row(self, rt: ResourceType, namespace: str, obj: dict[str, Any], body: str) -> dict[str, Any]:
        """The objects row of a new ``obj`` stored as ``body``."""
        meta = obj["metadata"]
        rv = int(meta["resourceVersion"])
        return {
            "cluster_id": self.cluster_id,
            "api_group": rt.group,
            "resource": rt.resource,
            "namespace": namespace if rt.namespaced else "",
            "name": meta["name"],
            "uid": meta["uid"],
            "resource_version": rv,
            "created_rv": rv,
            "body": body,
        }

    def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        subresource: str = "",
        manager: str | None = None,
        applied: bool = False,
        via: str = "",
    ) -> dict[str, Any]:
        """PUT: optimistic concurrency on ``metadata.resourceVersion``; no-op writes keep the version.

        ``manager`` owns what the write changed (None: the server's own write, ownership unchanged);
        ``applied``: the body comes from server-side apply with its managedFields set; ``via``: the
        subresource the write came through when it is not ``subresource`` (``scale``)."""
        locked = self._lock()
        strategy = strategy_for(rt)
        obj = prune_nulls(check_shape(rt, copy.deepcopy(body), self.validation))
        meta = obj.setdefault("metadata", {})
        if meta.get("name", name) != name:
            raise BadRequest(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        if rt.namespaced and meta.get("namespace", namespace) != namespace:
            raise BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        old = self.get(rt, namespace, name)
        old_meta = old["metadata"]
        if meta.get("resourceVersion") and meta["resourceVersion"] != old_meta["resourceVersion"]:
            raise Conflict.modified(rt.resource, rt.group, name)
        if meta.get("uid") and meta["uid"] != old_meta["uid"]:
            raise Conflict(
                f"Precondition failed: UID in precondition: {meta['uid']}, "
                f"UID in object meta: {old_meta['uid']}",
                {"name": name, "group": rt.group, "kind": rt.resource}
                if rt.group
                else {"name": name, "kind": rt.resource},
            )
        if subresource == "status":
            new = strategy.prepare_for_status_update(obj, old)
        elif subresource:  # finalize, binding: what the strategy lets that subresource change
            new = strategy.prepare_for_subresource(subresource, obj, old)
        else:
            new = obj
            new_meta = new["metadata"]
            new_meta["name"] = name
            if rt.namespaced:
                new_meta["namespace"] = namespace
            else:
                new_meta.pop("namespace", None)
            for field in ("uid", "creationTimestamp", "generation", "deletionTimestamp"):
                if field in old_meta:
                    new_meta[field] = old_meta[field]
                else:
                    new_meta.pop(field, None)
            if "deletionGracePeriodSeconds" in old_meta:  # an update never removes or changes it
                new_meta["deletionGracePeriodSeconds"] = old_meta["deletionGracePeriodSeconds"]
            if old_meta.get("deletionTimestamp"):
                forbidden = new_finalizers_forbidden(
                    new_meta.get("finalizers") or [], old_meta.get("finalizers") or []
                )
                if forbidden is not None:
                    raise Invalid(rt.kind, rt.group, name, [forbidden])
            strategy.prepare_for_update(new, old)
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        strategy.default(new, int(old_meta["resourceVersion"]))
        strategy.check(new, old)
        if rt.has_generation and _spec_of(new) != _spec_of(old):
            new["metadata"]["generation"] = int(old_meta.get("generation", 1)) + 1
        if subresource != "status":
            strategy.controller_status(new, old, rfc3339(self.now))
        if applied:  # the applied object's managedFields, also through ``status`` (which keeps old's meta)
            new["metadata"]["managedFields"] = meta.get("managedFields", [])
            if not new["metadata"]["managedFields"]:
                del new["metadata"]["managedFields"]
        elif manager is not None:
            self._field_manager(rt, via or subresource).update(old, new, manager)
        else:
            new["metadata"].pop("managedFields", None)
            if "managedFields" in old_meta:
                new["metadata"]["managedFields"] = old_meta["managedFields"]
        new = _ordered(new)
        if new == old:
            return old
        if self.dry_run:
            return new  # still the stored resourceVersion; nothing is written
        if old_meta.get("deletionTimestamp") and strategy.delete_on_update(new, old):
            # the last finalizer is gone (ShouldDeleteDuringUpdate): the update deletes the object,
            # whose last stored state is the answer and the DELETED event
            return self._remove(
                rt.group, rt.resource, namespace if rt.namespaced else "", name, self._encode(rt, old)
            )
        return self._rewrite(rt, namespace, name, new, old, locked)

    def _rewrite(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        new: dict[str, Any],
        old: dict[str, Any],
        locked: int | None = None,
    ) -> dict[str, Any]:
        """Store ``new`` over ``old`` (read, so its key holds no NUL) with the next version and its
        MODIFIED event; ``locked`` as for ``_next_rv``."""
        rv = self._next_rv(locked)
        new["metadata"]["resourceVersion"] = str(rv)
        body = self._encode(rt, new)
        _REWRITE.execute(
            self.conn,
            {
                "w_cluster": self.cluster_id,
                "w_group": rt.group,
                "w_resource": rt.resource,
                "w_namespace": namespace if rt.namespaced else "",
                "w_name": name,
                "w_rv": rv,
                "w_body": body,
            },
        )
        self._record(
            self._event(
                rt.group,
                rt.resource,
                namespace if rt.namespaced else "",
                name,
                rv,
                "MODIFIED",
                body,
                self._encode(rt, old),
            )
        )
        return new

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        patch_type: str,
        body: Any,
        subresource: str = "",
        manager: str | None = None,
        force: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Apply a patch; returns the object and whether it was created (server-side apply only).

        Server-side apply merges the body as ``manager``'s applied configuration (``fieldmanager``);
        the other patch types are Updates that ``manager`` owns the changes of."""
        self._lock()
        current = self.find(rt, namespace, name)
        if patch_type == "application/apply-patch+yaml":
            if not isinstance(body, dict):
                raise BadRequest("apply patch must be a YAML or JSON object")
            config = check_shape(rt, copy.deepcopy(body), self.validation)
            config.setdefault("metadata", {}).setdefault("name", name)
            applier = self._field_manager(rt, subresource)
            applied = applier.apply(current, config, manager or "", force)
            if current is None:
                return self.create(rt, namespace, applied, applied=True), True
            patched = bodies.checked_result(applied)
            return self.update(rt, namespace, name, patched, subresource, applied=True), False
        if current is None:
            raise NotFound.object(rt.resource, rt.group, name)
        patched = self._patched(current, patch_type, body)
        return self.update(rt, namespace, name, patched, subresource, manager=manager), False

    def _field_manager(self, rt: ResourceType, subresource: str = "") -> fieldmanager.FieldManager:
        """The kind's field manager; a strategy with ``field_schema()`` (a CRD's) supplies the schema."""
        strategy = strategy_for(rt)
        provider = getattr(strategy, "field_schema", None)
        if callable(provider):
            schema = provider()
        else:
            definition = schemas.definition_name(rt.group, rt.version, rt.kind)
            schema = None if definition is None else schemas.definitions()[definition]
        reset = fieldmanager.FieldSet()
        if subresource == "status":
            for field in (schema or {}).get("properties") or {}:
                if field not in ("status", "metadata", "apiVersion", "kind"):
                    reset.insert((f"f:{field}",))
        elif rt.has_status:
            reset.insert(("f:status",))
        return fieldmanager.FieldManager(schema, rt.api_version, rfc3339(self.now), subresource, reset)

    @staticmethod
    def _patched(current: dict[str, Any], patch_type: str, body: Any) -> dict[str, Any]:
        if patch_type == "application/json-patch+json":
            patched = patch.json_patch(current, body)
        elif patch_type == "application/merge-patch+json":
            if not isinstance(body, dict):
                raise BadRequest("merge patch must be a JSON object")
            patched = patch.merge_patch(current, body)
        elif patch_type in ("application/strategic-merge-patch+json", "application/apply-patch+yaml"):
            patched = patch.strategic_merge(current, body)
        else:
            raise UnsupportedMediaType(
                f"the body of the request was in an unknown format - accepted media types include: "
                f"{', '.join(PATCH_TYPES)}"
            )
        if not isinstance(patched, dict):
            raise BadRequest("the patched object is not a JSON object")
        return dict(bodies.checked_result(patched))

    def scale(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        """The ``autoscaling/v1`` Scale view of a Deployment (the ``scale`` subresource)."""
        obj = self.get(rt, namespace, name)
        if rt.custom is not None and rt.custom.scale is not None:
            return crds.scale_of(obj, rt.custom.scale)
        return scale_of(obj)

    def set_scale(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        patch_type: str = "",
        manager: str | None = None,
    ) -> dict[str, Any]:
        """PUT (``patch_type`` empty) or PATCH the Scale; only ``spec.replicas`` is taken from it."""
        self._lock()
        current = self.scale(rt, namespace, name)
        if patch_type:
            body = self._patched(current, patch_type, body)
        if not isinstance(body, dict) or not isinstance(body.get("spec"), dict):
            raise BadRequest('Scale in version "v1" cannot be handled as a Scale: spec is required')
        replicas = body["spec"].get("replicas", 0)
        meta = body.get("metadata") or {}
        if meta.get("resourceVersion") and meta["resourceVersion"] != current["metadata"]["resourceVersion"]:
            raise Conflict.modified(rt.resource, rt.group, name)
        obj = self.get(rt, namespace, name)
        obj["metadata"].pop("resourceVersion", None)
        if rt.custom is not None and rt.custom.scale is not None:
            crds.set_path(obj, rt.custom.scale["specReplicasPath"], replicas)
            updated = self.update(rt, namespace, name, obj, manager=manager, via="scale")
            return crds.scale_of(updated, rt.custom.scale)
        obj["spec"]["replicas"] = replicas
        return scale_of(self.update(rt, namespace, name, obj, manager=manager, via="scale"))

    def delete(
        self, rt: ResourceType, namespace: str, name: str, options: DeleteOptions | None = None
    ) -> tuple[dict[str, Any], bool]:
        """DELETE as kube's generic registry does it; the object and whether it is gone.

        An object that keeps finalizers (its own, or the garbage collector's ``orphan`` or
        ``foregroundDeletion`` that ``options`` ask for) is only marked as deleting and stays; a
        second delete of it changes nothing. A namespace's strategy first makes it Terminating.
        """
        options = options or DeleteOptions()
        pre = options.preconditions
        self._lock()
        obj = self.get(rt, namespace, name)
        meta = obj["metadata"]
        if pre.get("uid") and pre["uid"] != meta["uid"]:
            raise Conflict(
                f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {meta['uid']}",
                {"name": name, "kind": rt.resource, **({"group": rt.group} if rt.group else {})},
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
            raise Conflict(
                f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                f"ResourceVersion in object meta: {meta['resourceVersion']}",
                {"name": name, "kind": rt.resource, **({"group": rt.group} if rt.group else {})},
            )
        strategy = strategy_for(rt)
        held = strategy.before_delete(obj, options, rfc3339(self.now))
        if held is not None:  # the strategy keeps the object (a namespace still terminating)
            held = _ordered(held)
            return (obj if held == obj else self._rewrite(rt, namespace, name, held, obj)), False
        finalizers = gc_finalizers(list(meta.get("finalizers") or []), options)
        if finalizers:
            marked = copy.deepcopy(obj)
            marked["metadata"]["finalizers"] = finalizers
            mark_deleting(marked, rfc3339(self.now))
            marked = _ordered(marked)
            if marked == obj:
                return obj, False
            return self._rewrite(rt, namespace, name, marked, obj), False
        self._remove(rt.group, rt.resource, namespace if rt.namespaced else "", name, self._encode(rt, obj))
        strategy.after_delete(self, obj)
        return obj, True

    def remove_all(self, group: str, resource: str) -> None:
        """Every object of ``group/resource`` in the cluster goes (a deleted CRD's custom resources)."""
        rows = self.conn.execute(
            sa.select(objects.c.namespace, objects.c.name, objects.c.body)
            .where(
                objects.c.cluster_id == self.cluster_id,
                objects.c.api_group == group,
                objects.c.resource == resource,
            )
            .order_by(objects.c.namespace, objects.c.name)
        ).all()
        for namespace, item, stored in rows:
            self._remove(group, resource, namespace, item, stored)

    def _remove(self, group: str, resource: str, namespace: str, name: str, stored: str) -> dict[str, Any]:
        """Delete one row; its DELETED event carries its last state with the delete's version (returned)."""
        rv = self._next_rv()
        last = self._decode(stored)
        last["metadata"]["resourceVersion"] = str(rv)
        _DELETE.execute(self.conn, self._key(group, resource, namespace, name))
        self._record(
            self._event(group, resource, namespace, name, rv, "DELETED", self._reencode(stored, last), stored)
        )
        return last

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        match: Matcher | None,
        options: DeleteOptions | None = None,
    ) -> list[dict[str, Any]]:
        """Delete every matching object with ``options`` (preconditions aside); each as its delete
        left it (kept with a deletionTimestamp when it has finalizers)."""
        self._lock()
        items, _ = self.list_objects(rt, namespace, match)
        if options is not None:
            options = dataclasses.replace(options, preconditions={})
        return [
            self.delete(rt, o["metadata"].get("namespace", ""), o["metadata"]["name"], options)[0]
            for o in items
        ]


def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    selector = spec.get("selector") or {}
    # a LabelSelector (apps/v1) or, for a ReplicationController, a plain map of labels
    labeled = "matchLabels" in selector or "matchExpressions" in selector
    match = (selector.get("matchLabels") or {}) if labeled else selector
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {
            "replicas": status.get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in match.items()),
        },
    }


def _spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _ordered(obj: dict[str, Any]) -> dict[str, Any]:
    """kind, apiVersion, metadata first, status last: the order the apiserver serialises."""
    head: dict[str, Any] = {k: obj[k] for k in ("kind", "apiVersion", "metadata") if k in obj}
    body = {k: v for k, v in obj.items() if k not in head and k != "status"}
    tail = {"status": obj["status"]} if "status" in obj else {}
    return {**head, **body, **tail}
