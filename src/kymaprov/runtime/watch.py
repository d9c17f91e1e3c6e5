"""Watch by polling the database: events are the difference between what the watcher has seen and
the rows written since its last resourceVersion. Works across replicas sharing one database.

Deletions that happen between a client's list and its watch request are not replayed (there is no
event history); everything after the watch opened is.
"""

from __future__ import annotations

import copy
from typing import Any

from kymaprov.context import Context
from kymaprov.runtime.errors import BadRequest
from kymaprov.runtime.objects import Matcher, ObjectStore
from kymaprov.runtime.resources import ResourceType

Key = tuple[str, str]
Event = tuple[str, dict[str, Any]]


def _key(obj: dict[str, Any]) -> Key:
    meta = obj["metadata"]
    return meta.get("namespace", ""), meta["name"]


class Watch:
    """One watcher's state: the resourceVersion it has seen and the matching objects it knows."""

    def __init__(
        self, ctx: Context, cluster_id: str, rt: ResourceType, namespace: str | None, match: Matcher
    ) -> None:
        self.ctx = ctx
        self.cluster_id = cluster_id
        self.rt = rt
        self.namespace = namespace
        self.match = match
        self.rv = 0
        self.known: dict[Key, dict[str, Any]] = {}

    def start(self, store: ObjectStore, resource_version: str, send_initial: bool) -> list[Event]:
        """Initial events, in the request's transaction: synthetic ADDEDs for rv ""/"0", else catch-up."""
        items, current = store.list_objects(self.rt, self.namespace, self.match)
        self.known = {_key(o): o for o in items}
        self.rv = current
        if send_initial or resource_version in ("", "0"):
            events: list[Event] = [("ADDED", o) for o in items]
            if send_initial:
                bookmark = self.bookmark()
                bookmark["metadata"]["annotations"] = {"k8s.io/initial-events-end": "true"}
                events.append(("BOOKMARK", bookmark))
            return events
        if not resource_version.isascii() or not resource_version.isdigit():  # a uint64, as Go parses it
            raise BadRequest(f'invalid resource version: "{resource_version}"')
        since = int(resource_version)
        if since >= current:  # also keeps a number beyond BIGINT away from the database
            return []
        return [
            ("ADDED" if created else "MODIFIED", obj)
            for obj, created in store.changed_since(self.rt, self.namespace, since)
            if self.match(obj)
        ]

    def poll(self) -> list[Event]:
        """Events since the last call; raises NotFound once the cluster is gone."""
        with self.ctx.store.read() as conn:
            store = ObjectStore(conn, self.cluster_id, self.ctx.clock.now(), self.ctx.sealer)
            current = store.current_rv()
            if current == self.rv:
                return []
            changed = store.changed_since(self.rt, self.namespace, self.rv)
            present = store.keys(self.rt, self.namespace)
        events: list[Event] = []
        for obj, _ in changed:
            key = _key(obj)
            if self.match(obj):
                events.append(("MODIFIED" if key in self.known else "ADDED", obj))
                self.known[key] = obj
            elif key in self.known:
                events.append(("DELETED", obj))
                del self.known[key]
        for key in [k for k in self.known if k not in present]:
            gone = copy.deepcopy(self.known.pop(key))
            gone["metadata"]["resourceVersion"] = str(current)
            events.append(("DELETED", gone))
        self.rv = current
        return events

    def bookmark(self) -> dict[str, Any]:
        return {
            "kind": self.rt.kind,
            "apiVersion": self.rt.api_version,
            "metadata": {"resourceVersion": str(self.rv)},
        }
