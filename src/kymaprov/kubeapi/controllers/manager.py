"""Runs the controllers of every cluster in one background thread per process.

Woken by writes (a listener on the change log's hub: ``kubeapi/changes.py``), it passes over each
cluster that changed: bring its graph up to date from the change log, then let the garbage collector,
the namespace controller and the root CA publisher act through the API. A pass makes at most
``WRITES_PER_PASS`` writes per cluster (a big namespace is emptied over several passes, other
clusters get their turn in between); a cluster whose pass ran out of budget or met a conflict is
passed over again after ``RETRY_SECONDS``.
Idle, the thread sleeps; once every ``RESYNC_SECONDS`` one query of every cluster's resourceVersion
catches writes made by other processes (replicas on one PostgreSQL), which cannot call our listener.

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
from collections.abc import Callable

import sqlalchemy as sa

from kymaprov.context import Context
from kymaprov.kubeapi import changes
from kymaprov.kubeapi.app import KubeApi
from kymaprov.kubeapi.auth import Authenticator
from kymaprov.kubeapi.controllers import garbagecollector, kyma, namespace, rootcacertpublisher
from kymaprov.kubeapi.controllers.client import ApiClient
from kymaprov.kubeapi.controllers.garbagecollector import Pass
from kymaprov.kubeapi.controllers.graph import ClusterGone, Graph
from kymaprov.kubeapi.models import LIVE, clusters, controller_leases
from kymaprov.kubeapi.times import rfc3339

log = logging.getLogger("kymaprov.kubeapi")

WRITES_PER_PASS = 100
RETRY_SECONDS = 0.5
RESYNC_SECONDS = 5.0
LEASE_SECONDS = 15.0


class ControllerManager:
    """``start()`` / ``stop()``; everything else runs in its thread."""

    def __init__(
        self, ctx: Context, authenticator: Authenticator, admin_token: Callable[[str], str | None]
    ) -> None:
        self.ctx = ctx
        self.admin_token = admin_token  # a cluster's admin token, None once it is gone
        self.api = KubeApi(ctx, authenticator)
        self.holder = secrets.token_hex(8)
        self._cond = threading.Condition()
        self._dirty: set[str] = set()
        self._retry_at: dict[str, float] = {}
        self._seen: dict[str, int] = {}
        self._graphs: dict[str, Graph] = {}
        self._tokens: dict[str, str] = {}
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._unlisten = lambda: None

    def start(self) -> None:
        self._unlisten = changes.hub(self.ctx.store.engine).listen(self._changed)
        self._thread = threading.Thread(target=self._run, name="kube-controllers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._unlisten()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(10)

    def _changed(self, cluster_id: str) -> None:
        with self._cond:
            self._dirty.add(cluster_id)
            self._cond.notify_all()

    # --- the loop -------------------------------------------------------------------------------

    def _run(self) -> None:
        next_resync = 0.0  # at once: clusters may have work left from before this process started
        while True:
            with self._cond:
                while not self._stopping:
                    now = time.monotonic()
                    due = {c for c, at in self._retry_at.items() if at <= now}
                    if self._dirty or due or now >= next_resync:
                        break
                    wake = min([next_resync, *self._retry_at.values()])
                    self._cond.wait(max(wake - now, 0.0))
                if self._stopping:
                    return
                todo = self._dirty | due
                self._dirty = set()
                for c in due:
                    del self._retry_at[c]
            if time.monotonic() >= next_resync:
                next_resync = time.monotonic() + RESYNC_SECONDS
                todo |= self._moved()
            for cluster_id in sorted(todo):
                if self._stopping:
                    return
                try:
                    again = self._pass(cluster_id)
                except Exception:
                    log.exception("controllers: a pass over cluster %s failed", cluster_id)
                    again = True
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
        for gone in set(self._graphs) - set(current):
            self._forget(gone)
        moved = {c for c, rv in current.items() if self._seen.get(c) != rv}
        self._seen = current
        return moved

    def _forget(self, cluster_id: str) -> None:
        self._graphs.pop(cluster_id, None)
        self._tokens.pop(cluster_id, None)
        self._seen.pop(cluster_id, None)

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
                conn.execute(
                    sa.insert(controller_leases).values(
                        cluster_id=cluster_id, holder=self.holder, expires_ms=until
                    )
                )
                return True
        except sa.exc.IntegrityError:  # another replica inserted it first
            return False

    def _pass(self, cluster_id: str) -> bool:
        """One pass over a cluster; whether to come back soon."""
        graph = self._graphs.get(cluster_id)
        if graph is None:
            graph = self._graphs[cluster_id] = Graph(cluster_id, self.ctx.sealer)
        try:
            with self.ctx.store.read() as conn:
                graph.refresh(conn)
                ca_pem = conn.execute(
                    sa.select(clusters.c.ca_cert).where(clusters.c.id == cluster_id)
                ).scalar()
        except ClusterGone:
            self._forget(cluster_id)
            return False
        self._seen[cluster_id] = graph.rv
        ca_pem = str(ca_pem or "")
        if not _has_work(graph, ca_pem):
            return False
        if not self._lease(cluster_id):
            return False  # another process acts on it; its lease lapses if it stops
        client = self._client(cluster_id)
        if client is None:
            return False
        work = Pass(WRITES_PER_PASS)
        garbagecollector.sync(graph, client, work)
        namespace.sync(graph, client, work, rfc3339(self.ctx.clock.now()))
        if ca_pem:
            rootcacertpublisher.sync(graph, client, work, ca_pem)
        kyma.sync(graph, client, work, rfc3339(self.ctx.clock.now()))
        return work.retry or work.exhausted

    def _client(self, cluster_id: str) -> ApiClient | None:
        token = self._tokens.get(cluster_id)
        if token is None:
            token = self.admin_token(cluster_id)
            if token is None:
                return None
            self._tokens[cluster_id] = token
        return ApiClient(self.api, cluster_id, token)


def _has_work(graph: Graph, ca_pem: str) -> bool:
    """Anything being deleted or owned, or a namespace without its root CA: only then is the lease
    worth taking."""
    return (
        any(n.deleting or n.owners for n in graph.nodes.values())
        or (bool(ca_pem) and rootcacertpublisher.needs_work(graph, ca_pem))
        or kyma.needs_work(graph)
    )
