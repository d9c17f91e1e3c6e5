"""``EmbeddedRuntimes``: the ``RuntimeBackend`` whose clusters live in kymaprov's own database.

A cluster is a row with its own CA, serving certificate, ServiceAccount signing key and admin token,
plus its objects. ``ssl_context()`` serves them all on one port: a default certificate from an
installation-wide CA, and per cluster its own certificate, chosen by SNI. A cluster's
``certificate-authority-data`` bundles its own CA with the installation CA, so its kubeconfig verifies
for clients that send ``tls-server-name`` (the cluster's certificate) and for those that ignore it and
get the default certificate (lightkube, kopf/aiohttp); no other cluster's certificate verifies.
"""

from __future__ import annotations

import base64
import logging
import re
import ssl
import urllib.parse
from typing import Any

import sqlalchemy as sa
import uvicorn
from sqlalchemy.engine import Connection

from kymaprov.backends.base import DONE, ClusterAccess, Progress
from kymaprov.backends.kubeclient import KubeClient, KubeClientError
from kymaprov.backends.shape import DEFAULT_SHAPE, ClusterShape
from kymaprov.context import Context
from kymaprov.crypto import CertPair, fingerprint, issue_ca, issue_server_cert, new_ec_key_pem, random_token
from kymaprov.kubeapi import nodes, tls
from kymaprov.kubeapi.app import KubeApi
from kymaprov.kubeapi.auth import Authenticator
from kymaprov.kubeapi.loopback import Loopback
from kymaprov.kubeapi.models import LIVE, change_log, clusters, controller_leases, objects
from kymaprov.kubeapi.objects import ObjectStore
from kymaprov.kubeapi.seed import seed_cluster
from kymaprov.lru import LRU
from kymaprov.store import Query, settings

log = logging.getLogger(__name__)

_CLUSTER_ID = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DEFAULT_TLS_KEY = "kube.default_tls"
# built once: every call the service makes to a runtime asks for its access first
_ACCESS = Query(
    sa.select(clusters.c.ca_cert, clusters.c.admin_token).where(
        clusters.c.id == sa.bindparam("cluster"), LIVE
    )
)


class EmbeddedRuntimes:
    """Creates, deletes and serves the embedded clusters; state is all in ``ctx.store``."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.authenticator = Authenticator(ctx.sealer)
        self._api = KubeApi(ctx, self.authenticator)  # for the service's calls (``kubeapi/loopback.py``)
        self._contexts: LRU[str, ssl.SSLContext] = LRU()  # ~38 KB each: the recently served only
        self._installation_ca: str | None = None

    def admin_token(self, cluster_id: str) -> str | None:
        """The cluster's admin token (for its controllers), None if it does not exist."""
        access = self.access(cluster_id)
        return access.token if access else None

    # --- RuntimeBackend -------------------------------------------------------------------------

    def create(self, cluster_id: str, name: str, shape: ClusterShape) -> Progress:
        """An embedded cluster is ready as soon as its row is written: done in one call."""
        self.create_cluster(cluster_id, name, shape)
        return DONE

    def status(self, cluster_id: str) -> Progress:
        return DONE

    def update(self, cluster_id: str, shape: ClusterShape) -> Progress:
        """Re-size the worker pool through the runtime's API, as Gardener's machine controller would
        (``resize_pool``)."""
        access = self.access(cluster_id)
        if access is None:
            return Progress(False, failed=f"the runtime {cluster_id} does not exist")
        with KubeClient(access) as kube:
            try:
                resize_pool(kube, cluster_id, shape, self.ctx.clock.now())
            except KubeClientError as exc:
                return Progress(False, f"Re-sizing the worker pool, retrying: {exc}", retry_after=2)
        return DONE

    def delete(self, cluster_id: str) -> Progress:
        self.delete_cluster(cluster_id)
        return DONE

    def create_cluster(self, cluster_id: str, name: str, shape: ClusterShape | None = None) -> ClusterAccess:
        """Create the cluster (own CA, serving cert, signing key, admin token, seed objects, the
        shape's Nodes) or return it."""
        if not _CLUSTER_ID.match(cluster_id) or len(cluster_id) > 63:
            raise ValueError(f"cluster id must be a lowercase DNS label: {cluster_id!r}")
        existing = self.access(cluster_id)
        if existing is not None:
            return existing
        ca = issue_ca(f"kymaprov cluster {cluster_id}")
        dns, ips = tls.split_hosts(self._hosts())
        serving = issue_server_cert(ca, [tls.server_name(cluster_id), *dns], ips)
        token = random_token()
        sealer = self.ctx.sealer
        try:
            with self.ctx.store.write() as conn:
                if self._row(conn, cluster_id) is None:
                    conn.execute(sa.delete(clusters).where(clusters.c.id == cluster_id))  # a tombstone
                    conn.execute(sa.delete(change_log).where(change_log.c.cluster_id == cluster_id))
                    conn.execute(
                        sa.insert(clusters).values(
                            id=cluster_id,
                            name=name,
                            ca_cert=ca.cert_pem,
                            ca_key=sealer.seal(ca.key_pem),
                            serving_cert=serving.cert_pem,
                            serving_key=sealer.seal(serving.key_pem),
                            sa_signing_key=sealer.seal(new_ec_key_pem()),
                            admin_token_fp=fingerprint(token),
                            admin_token=sealer.seal(token),
                            resource_version=0,
                            created_ms=self.ctx.clock.now_ms(),
                        )
                    )
                    store = ObjectStore(conn, cluster_id, self.ctx.clock.now(), sealer)
                    seed_cluster(store, cluster_id, shape or DEFAULT_SHAPE)
        except sa.exc.IntegrityError:  # another replica created it first
            log.info("cluster %s was created concurrently", cluster_id)
        self._forget(cluster_id)
        access = self.access(cluster_id)
        assert access is not None
        return access

    def delete_cluster(self, cluster_id: str) -> None:
        """Remove the cluster, its objects and its controllers' lease; its tokens are refused (401) now.

        The row stays as a tombstone with only the serving certificate, so kubeconfigs of the deleted
        cluster still complete the TLS handshake and see ``Unauthorized`` rather than a TLS error.

        The cluster's row is tombstoned first: that locks it before any of its objects, in the order
        every object write takes (``ObjectStore._lock``), so a write in flight (a Node Lease renewal)
        finishes first and the writes queued behind this one find no live cluster. Deleting the
        objects first would lock them while a writer holding the row waits for one of them: a deadlock.
        """
        with self.ctx.store.write() as conn:
            conn.execute(
                sa.update(clusters)
                .where(clusters.c.id == cluster_id, LIVE)
                .values(
                    deleted_ms=self.ctx.clock.now_ms(),
                    ca_key="",
                    sa_signing_key="",
                    admin_token_fp="",
                    admin_token="",
                )
            )
            conn.execute(sa.delete(objects).where(objects.c.cluster_id == cluster_id))
            conn.execute(sa.delete(change_log).where(change_log.c.cluster_id == cluster_id))
            conn.execute(sa.delete(controller_leases).where(controller_leases.c.cluster_id == cluster_id))
        self._forget(cluster_id)

    def reset(self) -> None:
        """Delete every cluster with its objects, change log and controller leases, tombstones included."""
        with self.ctx.store.write() as conn:  # the rows locked first, in id order, as writers do
            cluster_ids = (
                conn.execute(sa.select(clusters.c.id).order_by(clusters.c.id).with_for_update())
                .scalars()
                .all()
            )
            for table in (objects, change_log, controller_leases, clusters):
                conn.execute(sa.delete(table))
        for cluster_id in cluster_ids:
            self._forget(cluster_id)

    # --- queries --------------------------------------------------------------------------------

    @staticmethod
    def _row(conn: Connection, cluster_id: str) -> Any:
        return conn.execute(sa.select(clusters).where(clusters.c.id == cluster_id, LIVE)).first()

    def access(self, cluster_id: str) -> ClusterAccess | None:
        """Admin access to an existing cluster, or None.

        Every replica serves every cluster, so the service calls its own listener (``direct_server``),
        while ``server``, which kubeconfigs and the APIServerURL label name, is ``--kube-public-url``
        when set (a load balancer in front of the replicas), else this replica's advertised address.
        """
        rows = self.ctx.store.query(_ACCESS, {"cluster": cluster_id})
        if not rows:
            return None
        row = rows[0]
        s = self.ctx.settings
        server = f"{s.kube_public_base_url}/clusters/{cluster_id}"
        direct = f"{s.kube_local_url}/clusters/{cluster_id}"
        return ClusterAccess(
            server=server,
            direct_server=None if direct == server else direct,
            ca_data=base64.b64encode(self._ca_bundle(row["ca_cert"]).encode()).decode(),
            token=self.ctx.sealer.open_str(row["admin_token"]),
            tls_server_name=tls.server_name(cluster_id),
            loopback=Loopback(self._api, cluster_id),
        )

    def _ca_bundle(self, cluster_ca: str) -> str:
        """The cluster's CA, then the installation CA that signs the default (non-SNI) certificate."""
        if self._installation_ca is None:
            self._installation_ca = self.default_ca_pem()
        return cluster_ca.rstrip("\n") + "\n" + self._installation_ca.rstrip("\n") + "\n"

    def _hosts(self) -> list[str]:
        """Names the serving certificates are valid for: this replica's and the public URL's host."""
        hosts = ["localhost", "127.0.0.1", self.ctx.settings.public_host]
        if self.ctx.settings.kube_public_url:
            public = urllib.parse.urlsplit(self.ctx.settings.kube_public_url).hostname
            if public:
                hosts.append(public)
        return hosts

    def cluster_ids(self) -> list[str]:
        with self.ctx.store.read() as conn:
            rows = conn.execute(sa.select(clusters.c.id).where(LIVE).order_by(clusters.c.id))
            return [r[0] for r in rows]

    def resource_versions(self) -> dict[str, int]:
        """Every live cluster's current resourceVersion (one query): which ones any replica wrote to."""
        with self.ctx.store.read() as conn:
            rows = conn.execute(sa.select(clusters.c.id, clusters.c.resource_version).where(LIVE))
            return {r[0]: int(r[1]) for r in rows}

    # --- TLS ------------------------------------------------------------------------------------

    def configure_server(self, config: uvicorn.Config) -> None:
        """TLS for a loaded uvicorn config: ``ssl_context()``, and each connection's SNI cluster
        passed on to the app (``tls.CLUSTER_STATE``)."""
        if not config.loaded:
            config.load()
        config.ssl = self.ssl_context()
        config.http_protocol_class = tls.with_sni_cluster(config.http_protocol_class)

    def ssl_context(self) -> ssl.SSLContext:
        """The server context: default certificate, switched per cluster by SNI."""
        default = self._default_pair()
        context = tls.server_context(default.cert_pem, default.key_pem)
        context.sni_callback = self._on_sni
        return context

    def default_ca_pem(self) -> str:
        """The installation-wide CA that signs the default (non-SNI) certificate."""
        setting = self.ctx.store.get_setting(_DEFAULT_TLS_KEY)
        if setting is None:
            self._default_pair()
            setting = self.ctx.store.get_setting(_DEFAULT_TLS_KEY)
        return str(setting["ca_cert"])

    def _default_pair(self) -> CertPair:
        """Create the installation CA once; reissue the serving cert if the public host changed."""
        sealer = self.ctx.sealer
        dns, ips = tls.split_hosts(self._hosts())
        hosts = sorted(dns + ips)
        with self.ctx.store.write() as conn:
            current = conn.execute(
                sa.select(settings.c.value).where(settings.c.key == _DEFAULT_TLS_KEY)
            ).scalar()
            if current is not None and sorted(current.get("hosts", [])) == hosts:
                return CertPair(current["cert"], sealer.open_str(current["key"]))
            if current is None:
                ca = issue_ca("kymaprov embedded Kubernetes API")
            else:
                ca = CertPair(current["ca_cert"], sealer.open_str(current["ca_key"]))
            serving = issue_server_cert(ca, dns, ips)
            value = {
                "ca_cert": ca.cert_pem,
                "ca_key": sealer.seal(ca.key_pem),
                "cert": serving.cert_pem,
                "key": sealer.seal(serving.key_pem),
                "hosts": hosts,
            }
            self.ctx.store.set_setting(_DEFAULT_TLS_KEY, value, conn)
        return serving

    def _cluster_context(self, cluster_id: str) -> ssl.SSLContext | None:
        cached = self._contexts.get(cluster_id)
        if cached is not None:
            return cached
        with self.ctx.store.read() as conn:
            row = conn.execute(
                sa.select(clusters.c.serving_cert, clusters.c.serving_key).where(clusters.c.id == cluster_id)
            ).first()
        if row is None:
            return None
        context = tls.server_context(row.serving_cert, self.ctx.sealer.open_str(row.serving_key))
        self._contexts.put(cluster_id, context)
        return context

    def _on_sni(self, sock: ssl.SSLObject, server_name: str | None, _default: ssl.SSLContext) -> None:
        cluster_id = tls.cluster_of(server_name)
        if cluster_id is None:
            return
        tls.remember_cluster(sock, cluster_id)
        try:
            context = self._cluster_context(cluster_id)
        except Exception:  # a broken row must not take the handshake down with an obscure error
            log.exception("cannot load the TLS context of cluster %s", cluster_id)
            return
        if context is not None:
            sock.context = context

    def _forget(self, cluster_id: str) -> None:
        self._contexts.pop(cluster_id)
        self.authenticator.forget(cluster_id)


def resize_pool(kube: KubeClient, cluster_id: str, shape: ClusterShape, now: float) -> None:
    """Make the worker pool's Nodes what ``shape`` asks, through the API with the admin token.

    As a Gardener worker-pool update rolls out: Nodes of another machine type are replaced (new
    Nodes registered first, then the old ones removed), and the pool grows to ``autoScalerMin``. It
    does not shrink when the minimum falls: the cluster-autoscaler removes only unneeded Nodes, and
    nothing here measures need. A removed Node's Lease goes with it (the garbage collector), and its
    pods with it (``controllers/podgc.py``), to be made again on the Nodes that remain. Idempotent: a
    retry after a failure finishes the same work.
    """
    pool = kube.list("/api/v1/nodes", f"worker.gardener.cloud/pool={nodes.POOL}")
    names = {n["metadata"]["name"] for n in pool}
    current = [n for n in pool if n["metadata"]["labels"].get(_INSTANCE_TYPE) == shape.machine_type]
    index = 0
    for _ in range(max(shape.nodes, 1) - len(current)):
        while nodes.node_name(shape, cluster_id, index) in names:
            index += 1
        created = kube.create("/api/v1/nodes", nodes.node(shape, cluster_id, index, now), exist_ok=False)
        kube.create(
            f"/apis/coordination.k8s.io/v1/namespaces/{nodes.LEASE_NAMESPACE}/leases",
            nodes.lease(created, now),
        )
        names.add(created["metadata"]["name"])
    for old in pool:
        if old["metadata"]["labels"].get(_INSTANCE_TYPE) != shape.machine_type:
            kube.delete(f"/api/v1/nodes/{old['metadata']['name']}")


_INSTANCE_TYPE = "node.kubernetes.io/instance-type"
