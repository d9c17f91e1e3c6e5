"""Watch from the cluster's change log: every write after the watch's resourceVersion, in order, once.

A watch remembers the version it has delivered up to and, when woken (see ``changes``), reads the
log's events after it. Selectors are applied as kube's cacher applies them to an event and the object
before it: an object that starts matching is ``ADDED``, one that stops matching is ``DELETED`` (its
previous state with the event's version). A version older than the log's compaction point gets one
``ERROR`` event with a 410 ``Expired`` Status, as kube-apiserver sends it, and the watch ends.
"""

from __future__ import annotations

import copy
from typing import Any

from kymaprov.context import Context
from kymaprov.kubeapi.errors import BadRequest, Expired
from kymaprov.kubeapi.objects import Matcher, ObjectStore
from kymaprov.kubeapi.resources import ResourceType

Event = tuple[str, dict[str, Any]]
_MAX_RV = 2**63 - 1  # BIGINT: a later version cannot exist


def too_old(since: int, compacted: int) -> dict[str, Any]:
    """The ``ERROR`` event's object for a version whose events are gone (``watch_cache.go``)."""
    return Expired(f"too old resource version: {since} ({compacted})").status()


class Watch:
    """One watcher's position in the log; ``ended`` once it sent an ``ERROR``."""

    def __init__(
        self, ctx: Context, cluster_id: str, rt: ResourceType, namespace: str | None, match: Matcher | None
    ) -> None:
        self.ctx = ctx
        self.cluster_id = cluster_id
        self.rt = rt
        self.namespace = namespace
        self.match = match
        self.rv = 0  # every event up to this version has been delivered
        self.authorized_at = 0  # the cluster's version when the request was authorized
        self.ended = False

    def start(self, store: ObjectStore, resource_version: str, send_initial: bool) -> list[Event]:
        """Initial events, in the request's transaction: synthetic ADDEDs for rv ""/"0", else catch-up."""
        current = store.current_rv()
        self.authorized_at = current
        if send_initial or resource_version in ("", "0"):
            items, _, _ = store.list_at(self.rt, self.namespace, self.match, current)
            self.rv = current
            events: list[Event] = [("ADDED", o) for o in items]
            if send_initial:
                bookmark = self.bookmark()
                bookmark["metadata"]["annotations"] = {"k8s.io/initial-events-end": "true"}
                events.append(("BOOKMARK", bookmark))
            return events
        if not resource_version.isascii() or not resource_version.isdigit():  # a uint64, as Go parses it
            raise BadRequest(f'invalid resource version: "{resource_version}"')
        since = int(resource_version)
        if since >= current:  # nothing to catch up on (also keeps numbers beyond BIGINT from the database)
            self.rv = min(since, _MAX_RV)
            return []
        self.rv = since
        return self._read(store, current)

    def poll(self) -> list[Event]:
        """Events since the last call; raises NotFound once the cluster is gone."""
        with self.ctx.store.read() as conn:
            store = ObjectStore(conn, self.cluster_id, self.ctx.clock.now(), self.ctx.sealer)
            current = store.current_rv()  # first: on PostgreSQL each statement sees its own snapshot
            if current <= self.rv:
                return []
            return self._read(store, current)

    def _read(self, store: ObjectStore, upto: int) -> list[Event]:
        changes = store.changes_since(self.rt, self.namespace, self.rv, upto)
        compacted = store.compaction_point()  # after the read: what it returned is complete if still here
        if compacted > self.rv:
            self.ended = True
            return [("ERROR", too_old(self.rv, compacted))]
        events: list[Event] = []
        for rv, kind, obj, prev in changes:
            now_matches = kind != "DELETED" and self._matches(obj)
            matched = prev is not None and self._matches(prev)
            if now_matches:
                events.append(("MODIFIED" if matched else "ADDED", obj))
            elif matched and prev is not None:
                gone = copy.deepcopy(prev)
                gone["metadata"]["resourceVersion"] = str(rv)
                events.append(("DELETED", gone))
        self.rv = upto
        return events

    def _matches(self, obj: dict[str, Any]) -> bool:
        return self.match is None or self.match(obj)

    def bookmark(self) -> dict[str, Any]:
        return {
            "kind": self.rt.kind,
            "apiVersion": self.rt.api_version,
            "metadata": {"resourceVersion": str(self.rv)},
        }
