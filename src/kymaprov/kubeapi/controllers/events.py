"""Events as client-go's ``record.EventRecorder`` writes them: core/v1 ``Event`` objects.

``kubectl describe`` and ``kubectl events`` both list core/v1 Events (by ``involvedObject``), so
that is what is written; ``events.k8s.io/v1`` is another view of the same objects in kube and is left
alone here. Repeats are aggregated as client-go's ``EventCorrelator`` does: the same source, object,
type, reason and message patch the earlier Event's ``count`` and ``lastTimestamp`` instead of
creating another (within one process; after a restart a repeat starts a new Event, as in kube).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from kymaprov.kubeapi.controllers.client import ApiClient, collection_path, object_path
from kymaprov.kubeapi.controllers.graph import Node
from kymaprov.kubeapi.times import rfc3339

MAX_REMEMBERED = 4096  # client-go's LRU cache size of the correlator


@dataclass
class _Seen:
    name: str
    namespace: str
    count: int


class EventRecorder:
    """One cluster's recorder; ``bind`` gives it the pass's client and write budget."""

    def __init__(self) -> None:
        self._seen: OrderedDict[tuple[str, ...], _Seen] = OrderedDict()
        self._client: ApiClient | None = None
        self._work: Any = None
        self._now = 0.0
        self._sequence = 0  # keeps the names of events written in one pass apart

    def bind(self, client: ApiClient | None, work: Any, now: float) -> None:
        self._client, self._work, self._now = client, work, now

    def normal(self, obj: Node, reason: str, message: str, component: str, host: str = "") -> None:
        self.emit(obj, "Normal", reason, message, component, host)

    def warning(self, obj: Node, reason: str, message: str, component: str, host: str = "") -> None:
        self.emit(obj, "Warning", reason, message, component, host)

    def emit(
        self,
        obj: Node,
        kind: str,
        reason: str,
        message: str,
        component: str,
        host: str = "",
        field_path: str = "",
    ) -> None:
        """Write (or count again) one Event about ``obj``; a failure to write is not retried (events
        are best effort in kube too)."""
        client, work = self._client, self._work
        if client is None or work is None:
            return
        key = (component, host, obj.uid, obj.object_kind, field_path, kind, reason, message)
        now_text = rfc3339(self._now)
        namespace = obj.namespace or "default"
        seen = self._seen.get(key)
        work.writes += 1
        if seen is not None:
            patch = {"count": seen.count + 1, "lastTimestamp": now_text}
            path = object_path("v1", "events", seen.namespace, seen.name)
            try:
                client.merge_patch(path, patch)
                seen.count += 1
                self._seen.move_to_end(key)
                return
            except Exception:
                del self._seen[key]
        involved: dict[str, Any] = {
            "kind": obj.object_kind,
            "namespace": obj.namespace or None,
            "name": obj.name,
            "uid": obj.uid,
            "apiVersion": obj.api_version,
            "resourceVersion": obj.resource_version,
        }
        if field_path:
            involved["fieldPath"] = field_path
        self._sequence += 1
        name = f"{obj.name}.{int(self._now * 1e9) + self._sequence:x}"
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {k: v for k, v in involved.items() if v is not None},
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": component, **({"host": host} if host else {})},
            "firstTimestamp": now_text,
            "lastTimestamp": now_text,
            "count": 1,
            "reportingComponent": component,
            "reportingInstance": host,
        }
        try:
            created = client.create(collection_path("v1", "events", namespace), event)
        except Exception:
            return
        self._seen[key] = _Seen(str(created["metadata"]["name"]), namespace, 1)
        while len(self._seen) > MAX_REMEMBERED:
            self._seen.popitem(last=False)
