"""Wake-ups for watchers: who learns that a cluster's change log grew, and how fast.

Watch streams do not poll per watch. Every write registers an after-commit callback that tells the
process's ``Hub`` the cluster's new resourceVersion; the hub wakes every watch of that cluster on
its event loop (``call_soon_threadsafe``: writes run in worker threads, watches in the event loop).
An idle watch costs nothing.

Writes made by another process (a replica on the same PostgreSQL, or another process on the same
SQLite file) cannot call us, so one thread per process polls ``kube_clusters.resource_version`` of
the clusters someone here watches, every ``POLL_SECONDS``, and wakes their watchers when it moved
(or the cluster was deleted). It is one cheap indexed query per process, not per watch, and runs only
while a watch is open. PostgreSQL ``LISTEN/NOTIFY`` would save the poll but needs a dedicated
connection and reconnect handling per process, and would not cover SQLite; a replica's write reaches
watchers elsewhere within ``POLL_SECONDS``.

A hub belongs to one database engine (one ``Store``), so two stores in one process (tests running two
replicas) only hear each other through the poll, as two real replicas would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from kymaprov.kubeapi.models import clusters
from kymaprov.listeners import Listeners

log = logging.getLogger("kymaprov.kubeapi")

POLL_SECONDS = 0.5
Kinds = frozenset[tuple[str, str]]  # (api group, resource) pairs
GONE = -1  # the version reported for a deleted cluster


class Subscription:
    """One watch's doorbell, rung from any thread, awaited on the loop that created it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()

    def ring(self) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self._loop.call_soon_threadsafe(self._event.set)

    async def wait(self, timeout: float) -> bool:
        """Wait until rung or ``timeout`` seconds passed; whether it was rung (and reset it)."""
        if not self._event.is_set():
            try:
                await asyncio.wait_for(self._event.wait(), max(timeout, 0.0))
            except TimeoutError:
                return False
        self._event.clear()
        return True


class Hub:
    """Per-engine registry of watchers by cluster, the versions last seen, and the shared poller."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Condition()
        self._subscribers: dict[str, set[Subscription]] = {}
        self._seen: dict[str, int] = {}
        self._poller: threading.Thread | None = None
        self.compacted_at: dict[str, float] = {}  # cluster -> service time of its last compaction
        self._listeners: Listeners[[str, Kinds | None]] = Listeners()  # in-process controllers, per write

    def listen(self, callback: Callable[[str, Kinds | None], None]) -> Callable[[], None]:
        """Call ``callback(cluster_id, kinds)`` after each commit of a write here (from the writer's
        thread, so it must only note the cluster and return); ``kinds``: the (group, resource)s the
        write touched, None when unknown (another process wrote). The returned function stops it."""
        return self._listeners.add(callback)

    def notify(self, cluster_id: str, rv: int, kinds: Kinds | None = None) -> None:
        """A write committed ``rv`` (or the cluster is ``GONE``) touching ``kinds`` (None: unknown):
        wake the cluster's watchers."""
        with self._lock:
            fresh = rv == GONE or rv > self._seen.get(cluster_id, 0)
            if fresh:
                self._seen[cluster_id] = rv
            subscribers = list(self._subscribers.get(cluster_id, ())) if fresh else []
        if not fresh and kinds is None:
            return
        # a version seen already still tells the listeners its kinds: the poll may have read it first
        # (kinds unknown), or a later commit's callback may have run before this one's
        for sub in subscribers:
            sub.ring()
        self._listeners.call(cluster_id, kinds)

    def seen(self, cluster_id: str) -> int:
        """The newest version this process knows of (0 if none yet, ``GONE`` once deleted)."""
        with self._lock:
            return self._seen.get(cluster_id, 0)

    @contextmanager
    def subscribe(self, cluster_id: str) -> Iterator[Subscription]:
        """A subscription for the calling event loop, removed on exit."""
        sub = Subscription(asyncio.get_running_loop())
        with self._lock:
            self._subscribers.setdefault(cluster_id, set()).add(sub)
            if self._poller is None or not self._poller.is_alive():
                self._poller = threading.Thread(target=self._poll, name="kube-watch-poll", daemon=True)
                self._poller.start()
            self._lock.notify_all()
        try:
            yield sub
        finally:
            with self._lock:
                group = self._subscribers.get(cluster_id)
                if group is not None:
                    group.discard(sub)
                    if not group:
                        del self._subscribers[cluster_id]

    def _poll(self) -> None:
        """The process's one cross-process poll; sleeps without querying while nobody watches."""
        while True:
            with self._lock:
                while not self._subscribers:
                    self._lock.wait()
                watched = sorted(self._subscribers)
            try:
                with self._engine.connect() as conn:
                    rows = conn.execute(
                        sa.select(clusters.c.id, clusters.c.resource_version, clusters.c.deleted_ms).where(
                            clusters.c.id.in_(watched)
                        )
                    ).all()
                    conn.rollback()
            except Exception as exc:  # a database hiccup: try again next round
                log.debug("watch poll failed: %s", type(exc).__name__)
                rows = None
            if rows is not None:
                found = {r.id: (GONE if r.deleted_ms is not None else int(r.resource_version)) for r in rows}
                for cluster_id in watched:
                    self.notify(cluster_id, found.get(cluster_id, GONE))
            with self._lock:
                self._lock.wait(POLL_SECONDS)


_HUBS: weakref.WeakKeyDictionary[Engine, Hub] = weakref.WeakKeyDictionary()
_HUBS_LOCK = threading.Lock()


def hub(engine: Engine) -> Hub:
    """The hub of ``engine`` (one per ``Store``)."""
    with _HUBS_LOCK:
        found = _HUBS.get(engine)
        if found is None:
            found = _HUBS[engine] = Hub(engine)
        return found
