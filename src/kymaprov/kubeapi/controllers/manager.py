"""Runs the controllers of every cluster in one background thread per process.

Woken by writes (a listener on the change log's hub: ``kubeapi/changes.py``), it waits
``SETTLE_SECONDS`` for the rest of a burst (a binding's seven calls, a rollout's pods), then passes over
each cluster that changed: bring its graph up to date from the change log, then let every registered
controller (``registry.py``) that has work act through the API. A pass makes at most
``WRITES_PER_PASS`` writes per cluster (a big namespace is emptied over several passes, other
clusters get their turn in between); a cluster whose pass ran out of budget or met a conflict is
passed over again after ``RETRY_SECONDS``.
Idle, the thread sleeps; once every ``RESYNC_SECONDS`` one query of every cluster's resourceVersion
catches writes made by other processes (replicas on one PostgreSQL), which cannot call our listener.

Controllers may ask to run again at a service-clock time (a readiness delay, a back-off, a schedule):
the manager keeps those timers per cluster and controller and sleeps until the earliest. Advancing
the service clock (``Clock.advance``, a listener here; another replica's advance is seen at the next
resync) passes at once over every cluster with a timer, so workloads move with the clock. A cluster
nobody wrote to and with no timer costs nothing.

One process acts per cluster: a pass first takes or renews the cluster's row in
``kube_controller_leases`` (``LEASE_SECONDS``, wall time), so replicas never both delete or patch for
one cluster; the lease lapses on its own when its holder stops or the cluster goes idle, and any
replica that sees work then takes it over, rebuilding its graph from the change log. A DB row rather
than a ``coordination.k8s.io`` Lease object: renewing a Lease in every runtime would write to every
idle runtime's change log (and wake its watchers) every few seconds.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import sqlalchemy as sa

from kymaprov.context import Context
from kymaprov.kubeapi import changes
from kymaprov.kubeapi.app import KubeApi
from kymaprov.kubeapi.auth import Authenticator
from kymaprov.kubeapi.controllers.base import Controller, Pass, View
from kymaprov.kubeapi.controllers.client import ApiClient
from kymaprov.kubeapi.controllers.events import EventRecorder
from kymaprov.kubeapi.controllers.graph import ClusterGone, Graph
from kymaprov.kubeapi.controllers.registry import all_controllers, kept_kinds
from kymaprov.kubeapi.models import LIVE, clusters, controller_leases

log = logging.getLogger("kymaprov.kubeapi")

WRITES_PER_PASS = 100
# a write wakes the thread, which first waits this long for more (a binding's or a rollout's writes
# come in bursts): one pass then covers the burst, as a workqueue coalesces a key's events
SETTLE_SECONDS = 0.02
RETRY_SECONDS = 0.5
RESYNC_SECONDS = 5.0
LEASE_SECONDS = 15.0
GRAPHS = 64  # clusters whose graph stays in memory between passes (~150 KB for a new Kyma runtime)


class ControllerManager:
    """``start()`` / ``stop()``; everything else runs in its thread."""

    def __init__(
        self,
        ctx: Context,
        authenticator: Authenticator,
        admin_token: Callable[[str], str | None],
        chosen: tuple[Controller, ...] | None = None,
    ) -> None:
        self.ctx = ctx
        self.controllers = all_controllers() if chosen is None else chosen
        self._keep = kept_kinds(self.controllers)
        self.admin_token = admin_token  # a cluster's admin token, None once it is gone
        self.api = KubeApi(ctx, authenticator)
        self.holder = secrets.token_hex(8)
        self._cond = threading.Condition()
        self._dirty: set[str] = set()
        self._dirty_since = 0.0  # monotonic time of the first write not yet passed over
        self._retry_at: dict[str, float] = {}
        self._seen: dict[str, int] = {}
        self._graphs: OrderedDict[str, Graph] = OrderedDict()  # the GRAPHS most recently passed
        self._tokens: dict[str, str] = {}
        self._events: dict[str, EventRecorder] = {}
        # cluster -> controller name -> the graph version at which it last had no work
        self._clean: dict[str, dict[str, int]] = {}
        self._ca: dict[str, str] = {}
        # cluster -> controller name -> the service-clock time it asked to run again
        self._timers: dict[str, dict[str, float]] = {}
        self._offset = ctx.clock.offset()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._unlisten: Callable[[], None] = lambda: None
        self._unlisten_clock: Callable[[], None] = lambda: None

    def start(self) -> None:
        self._unlisten = changes.hub(self.ctx.store.engine).listen(self._changed)
        self._unlisten_clock = self.ctx.clock.listen(self._clock_moved)
        self._thread = threading.Thread(target=self._run, name="kube-controllers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._unlisten()
        self._unlisten_clock()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(10)
        self._release()

    def _release(self) -> None:
        """Give up this process's leases, so another replica takes its clusters over at once."""
        try:
            with self.ctx.store.write() as conn:
                conn.execute(sa.delete(controller_leases).where(controller_leases.c.holder == self.holder))
        except Exception as exc:  # stopping anyway: the leases lapse on their own
            log.debug("controllers: releasing leases failed: %s", type(exc).__name__)

    def _changed(self, cluster_id: str, _kinds: object = None) -> None:
        with self._cond:
            if not self._dirty:
                self._dirty_since = time.monotonic()
                self._cond.notify_all()
            self._dirty.add(cluster_id)

    def _clock_moved(self) -> None:
        """The service clock jumped: every cluster with a timer is due for a pass."""
        offset = self.ctx.clock.offset()  # just set by the advance: no read
        with self._cond:
            self._offset = offset
            self._dirty |= set(self._timers)
            self._cond.notify_all()

    def _postpone(self, cluster_id: str, seconds: float) -> None:
        """Due timers of a cluster whose pass failed wait a little (no busy loop on a database outage)."""
        with self._cond:
            timers = self._timers.get(cluster_id)
            if timers:
                later = time.time() + self._offset + seconds
                self._timers[cluster_id] = {n: max(t, later) for n, t in timers.items()}

    def _timer_wait(self, now_monotonic: float) -> tuple[set[str], float]:
        """The clusters whose timers are due, and the monotonic time of the next one."""
        if not self._timers:
            return set(), float("inf")
        service_now = time.time() + self._offset  # no database read while holding the lock
        due = set()
        soonest = float("inf")
        for cluster_id, timers in self._timers.items():
            at = min(timers.values())
            if at <= service_now:
                due.add(cluster_id)
            soonest = min(soonest, now_monotonic + max(at - service_now, 0.0))
        return due, soonest

    # --- the loop -------------------------------------------------------------------------------

    def _run(self) -> None:
        next_resync = 0.0  # at once: clusters may have work left from before this process started
        while True:
            with self._cond:
                while not self._stopping:
                    now = time.monotonic()
                    due = {c for c, at in self._retry_at.items() if at <= now}
                    timed, next_timer = self._timer_wait(now)
                    due |= timed
                    settled = self._dirty_since + SETTLE_SECONDS
                    if (self._dirty and now >= settled) or due or now >= next_resync:
                        break
                    wake = min([next_resync, next_timer, *self._retry_at.values()])
                    if self._dirty:
                        wake = min(wake, settled)
                    self._cond.wait(max(wake - now, 0.0))
                if self._stopping:
                    return
                todo = self._dirty | due
                self._dirty = set()
                for c in due:
                    self._retry_at.pop(c, None)
            if time.monotonic() >= next_resync:
                next_resync = time.monotonic() + RESYNC_SECONDS
                todo |= self._moved()
                offset = self.ctx.clock.offset()  # another replica may have advanced the clock
                with self._cond:
                    if offset != self._offset:
                        self._offset = offset
                        todo |= set(self._timers)
            for cluster_id in sorted(todo):
                if self._stopping:
                    return
                try:
                    again = self._pass(cluster_id)
                except Exception:
                    log.exception("controllers: a pass over cluster %s failed", cluster_id)
                    again = True
                    self._postpone(cluster_id, RETRY_SECONDS)
                if again:
                    with self._cond:
                        self._retry_at[cluster_id] = time.monotonic() + RETRY_SECONDS

    def _moved(self) -> set[str]:
        """Clusters whose resourceVersion moved since we last looked (writes of other processes)."""
        try:
            with self.ctx.store.read() as conn:
                rows = conn.execute(sa.select(clusters.c.id, clusters.c.resource_version).where(LIVE)).all()
        except Exception as exc:
            log.debug("controllers: resync failed: %s", type(exc).__name__)
            return set()
        current = {r[0]: int(r[1]) for r in rows}
        for gone in (set(self._graphs) | set(self._timers)) - set(current):
            self._forget(gone)
        moved = {c for c, rv in current.items() if self._seen.get(c) != rv}
        self._seen = current
        return moved

    def _forget(self, cluster_id: str) -> None:
        self._graphs.pop(cluster_id, None)
        self._tokens.pop(cluster_id, None)
        self._seen.pop(cluster_id, None)
        self._events.pop(cluster_id, None)
        self._clean.pop(cluster_id, None)
        self._ca.pop(cluster_id, None)
        with self._cond:
            self._timers.pop(cluster_id, None)

    def _lease(self, cluster_id: str) -> bool:
        """Take or renew this cluster's lease; whether we hold it."""
        now_ms = int(time.time() * 1000)
        until = now_ms + int(LEASE_SECONDS * 1000)
        row = controller_leases.c
        try:
            with self.ctx.store.write() as conn:
                taken = conn.execute(
                    sa.update(controller_leases)
                    .where(
                        row.cluster_id == cluster_id,
                        sa.or_(row.holder == self.holder, row.expires_ms < now_ms),
                    )
                    .values(holder=self.holder, expires_ms=until)
                ).rowcount
                if taken:
                    return True
                exists = conn.execute(sa.select(row.holder).where(row.cluster_id == cluster_id)).first()
                if exists is not None:
                    return False
                # only for a live cluster, its row share-locked: a lease inserted after a delete or a
                # reset took the cluster away would outlive it
                live = (
                    sa.select(clusters.c.id, sa.literal(self.holder), sa.literal(until))
                    .where(clusters.c.id == cluster_id, LIVE)
                    .with_for_update(read=True)
                )
                inserted = conn.execute(
                    sa.insert(controller_leases).from_select(["cluster_id", "holder", "expires_ms"], live)
                ).rowcount
                return bool(inserted)
        except sa.exc.IntegrityError:  # another replica inserted it first
            return False

    def _pass(self, cluster_id: str) -> bool:
        """One pass over a cluster; whether to come back soon."""
        graph = self._graphs.get(cluster_id)
        if graph is None:
            graph = self._graphs[cluster_id] = Graph(cluster_id, self.ctx.sealer, self._keep)
            while len(self._graphs) > GRAPHS:  # a cluster passed again later rebuilds its graph
                evicted, _ = self._graphs.popitem(last=False)
                self._events.pop(evicted, None)
                self._tokens.pop(evicted, None)
        self._graphs.move_to_end(cluster_id)
        try:
            with self.ctx.store.read() as conn:
                graph.refresh(conn)
                ca_pem = self._ca.get(cluster_id)
                if ca_pem is None:  # written with the cluster, never changed
                    ca_query = sa.select(clusters.c.ca_cert).where(clusters.c.id == cluster_id)
                    ca_pem = self._ca[cluster_id] = str(conn.execute(ca_query).scalar() or "")
        except ClusterGone:
            self._forget(cluster_id)
            return False
        self._seen[cluster_id] = graph.rv
        events = self._events.setdefault(cluster_id, EventRecorder())
        view = View(cluster_id, graph, self.ctx.clock.now(), ca_pem, events)
        with self._cond:
            timers = dict(self._timers.get(cluster_id, {}))
        chosen = self._choose(cluster_id, view, timers)
        if not chosen:
            return False
        client = self._client(cluster_id) if self._lease(cluster_id) else None
        if client is None:  # another process acts on it (its lease lapses if it stops), or it is gone
            with self._cond:
                if cluster_id in self._timers:  # look again once that lease could have lapsed
                    later = view.now + LEASE_SECONDS
                    self._timers[cluster_id] = {n: max(t, later) for n, t in timers.items()}
                else:  # the work stays: look again, in case its holder stopped without releasing
                    self._retry_at[cluster_id] = time.monotonic() + RESYNC_SECONDS
            return False
        work = Pass(WRITES_PER_PASS)
        events.bind(client, work, view.now)
        try:
            for controller in chosen:
                if work.exhausted:
                    break
                timers.pop(controller.name, None)
                again = controller.sync(view, client, work)
                if again is not None:
                    timers[controller.name] = again
        finally:
            events.bind(None, None, 0.0)
            with self._cond:
                if timers:
                    self._timers[cluster_id] = timers
                else:
                    self._timers.pop(cluster_id, None)
        return work.retry or work.exhausted

    def _choose(self, cluster_id: str, view: View, timers: dict[str, float]) -> list[Controller]:
        """The controllers with work: a due timer, or ``needs_work``. A controller that found none at
        some version is not asked again until a kind it watches changes (or the graph is rebuilt): its
        answer depends on nothing else, and whatever depends on time is a timer."""
        graph = view.graph
        clean = self._clean.setdefault(cluster_id, {})
        chosen = []
        for c in self.controllers:
            at = clean.pop(c.name, None)
            if timers.get(c.name, float("inf")) <= view.now:
                chosen.append(c)
            elif at is not None and c.watches is not None and graph.unchanged_since(at, c.watches):
                clean[c.name] = at
            elif c.needs_work(view):
                chosen.append(c)
            else:
                clean[c.name] = graph.rv
        return chosen

    def _client(self, cluster_id: str) -> ApiClient | None:
        token = self._tokens.get(cluster_id)
        if token is None:
            token = self.admin_token(cluster_id)
            if token is None:
                return None
            self._tokens[cluster_id] = token
        return ApiClient(self.api, cluster_id, token)
