"""``PoolRuntimes``: runtimes on existing clusters (kind, k3d, a lab's), each given by a kubeconfig.

An environment claims a free cluster with one conditional insert into ``pool_claims`` (primary key:
pool and member), so replicas sharing the database never hand the same cluster out twice, and a
repeated create of the same environment finds its claim instead of taking a second cluster.

Right after claiming, the pool notes what the cluster already holds (its baseline): namespaces,
``kyma-binding-*`` objects, the administrators' ClusterRoleBindings, the ``sap-btp-manager`` Secret and
the Kyma CR's spec. Giving the cluster back removes what the environment and its bindings added and
restores what it changed, all through the cluster's Kubernetes API, then frees the claim. A cluster
without ``kyma-system`` gets it (the service writes its Secret and bindings' ServiceAccounts there).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from kymaprov.backends.base import DONE, ClusterAccess, ClusterShape, Progress
from kymaprov.backends.kubeclient import KubeClient, KubeClientError
from kymaprov.context import Context
from kymaprov.store import metadata

log = logging.getLogger(__name__)

pool_claims = sa.Table(
    "pool_claims",
    metadata,
    sa.Column("pool", sa.String(64), primary_key=True),
    sa.Column("member", sa.String(128), primary_key=True),
    sa.Column("cluster_id", sa.String(64), nullable=False, unique=True),
    sa.Column("baseline", sa.JSON, nullable=True),  # None until noted right after the claim
    sa.Column("claimed_ms", sa.BigInteger, nullable=False),
)

RBAC = "/apis/rbac.authorization.k8s.io/v1"
NAMESPACES = "/api/v1/namespaces"
KYMA_SYSTEM = "kyma-system"
BINDING_PATHS = (
    f"{RBAC}/clusterrolebindings",
    f"{RBAC}/clusterroles",
    f"{NAMESPACES}/{KYMA_SYSTEM}/serviceaccounts",
)
BINDING_SELECTOR = "app.kubernetes.io/managed-by=kcp-kyma-environment-broker"
BINDING_PREFIX = "kyma-binding-"
ADMINS_PATH = f"{RBAC}/clusterrolebindings"
ADMINS_SELECTOR = "reconciler.kyma-project.io/managed-by=infrastructure-manager"
BTP_SECRET = f"{NAMESPACES}/{KYMA_SYSTEM}/secrets/sap-btp-manager"
KYMA = f"/apis/operator.kyma-project.io/v1beta2/namespaces/{KYMA_SYSTEM}/kymas/default"


@dataclass(frozen=True)
class PoolMember:
    name: str
    access: ClusterAccess


def _names(items: list[dict[str, Any]]) -> list[str]:
    return sorted(str(i["metadata"]["name"]) for i in items)


def _restorable(body: dict[str, Any]) -> dict[str, Any]:
    """An object as it can be created again: no server-set metadata."""
    meta = body.get("metadata") or {}
    kept = {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta}
    return {**{k: v for k, v in body.items() if k not in ("metadata", "status")}, "metadata": kept}


def _get(kube: KubeClient, path: str) -> dict[str, Any] | None:
    try:
        return kube.get(path)
    except KubeClientError as exc:
        if exc.status == 404:
            return None
        raise


class PoolRuntimes:
    """A ``RuntimeBackend`` over a fixed list of clusters; ``clean_namespaces`` also deletes the
    namespaces an environment created when it gives its cluster back."""

    def __init__(
        self, ctx: Context, name: str, members: list[PoolMember], *, clean_namespaces: bool = False
    ) -> None:
        self.ctx = ctx
        self.name = name
        self.members = {m.name: m for m in members}
        self.clean_namespaces = clean_namespaces
        self._mine = pool_claims.c.pool == name

    def _claim_of(self, cluster_id: str) -> Any:
        with self.ctx.store.read() as conn:
            return conn.execute(
                sa.select(pool_claims).where(self._mine, pool_claims.c.cluster_id == cluster_id)
            ).first()

    # --- RuntimeBackend -------------------------------------------------------------------------

    def create(self, cluster_id: str, name: str, shape: ClusterShape) -> Progress:
        claim = self._claim_of(cluster_id)
        if claim is None:
            claim = self._claim(cluster_id)
            if claim is None:
                return Progress(
                    False,
                    failed=f"No free cluster in the pool {self.name!r}: all {len(self.members)} "
                    "clusters are in use by other environments",
                )
        if claim.baseline is not None:
            return DONE
        member = self.members.get(claim.member)
        if member is None:
            return Progress(False, failed=f"Cluster {claim.member!r} is no longer in the pool {self.name!r}")
        try:
            baseline = self._baseline(member.access)
        except KubeClientError as exc:
            return Progress(False, f"Cluster {member.name} is not reachable yet: {exc}", retry_after=10)
        if baseline is None:
            message = f"Cluster {member.name} is still removing {KYMA_SYSTEM} of its previous environment"
            return Progress(False, message, retry_after=5)
        with self.ctx.store.write() as conn:
            conn.execute(
                sa.update(pool_claims)
                .where(pool_claims.c.pool == self.name, pool_claims.c.member == member.name)
                .values(baseline=baseline)
            )
        log.info("pool %s: cluster %s claimed for %s", self.name, member.name, cluster_id)
        return DONE

    def _claim(self, cluster_id: str) -> Any:
        """Take the first free member; a member another replica claimed first is skipped."""
        for member in self.members:
            try:
                with self.ctx.store.write() as conn:
                    conn.execute(
                        sa.insert(pool_claims).values(
                            pool=self.name,
                            member=member,
                            cluster_id=cluster_id,
                            baseline=None,
                            claimed_ms=self.ctx.clock.now_ms(),
                        )
                    )
            except sa.exc.IntegrityError:
                claim = self._claim_of(cluster_id)  # the same environment, claimed concurrently
                if claim is not None:
                    return claim
                continue
            return self._claim_of(cluster_id)
        return None

    def status(self, cluster_id: str) -> Progress:
        return DONE

    def update(self, cluster_id: str, shape: ClusterShape) -> Progress:
        """A pool member's nodes are what they are: an update changes nothing in the cluster."""
        return DONE

    def delete(self, cluster_id: str) -> Progress:
        claim = self._claim_of(cluster_id)
        if claim is None:
            return DONE
        member = self.members.get(claim.member)
        if member is not None and claim.baseline is not None:
            try:
                with KubeClient(member.access) as kube:
                    self._clean(kube, claim.baseline)
            except KubeClientError as exc:
                message = f"Cleaning cluster {member.name} failed, retrying: {exc}"
                return Progress(False, message, retry_after=10)
        with self.ctx.store.write() as conn:
            conn.execute(sa.delete(pool_claims).where(self._mine, pool_claims.c.cluster_id == cluster_id))
        log.info("pool %s: cluster %s returned clean by %s", self.name, claim.member, cluster_id)
        return DONE

    def access(self, cluster_id: str) -> ClusterAccess | None:
        claim = self._claim_of(cluster_id)
        member = None if claim is None or claim.baseline is None else self.members.get(claim.member)
        return None if member is None else member.access

    def owns(self, cluster_id: str) -> bool:
        return self._claim_of(cluster_id) is not None

    def reset(self) -> None:
        """Give every claimed cluster back (``POST /admin/reset`` deletes every environment)."""
        for cluster_id in self._claimed():
            self.delete(cluster_id)

    def _claimed(self) -> Iterator[str]:
        with self.ctx.store.read() as conn:
            ids = conn.execute(sa.select(pool_claims.c.cluster_id).where(pool_claims.c.pool == self.name))
            yield from list(ids.scalars())

    # --- baseline and cleaning ------------------------------------------------------------------

    def _baseline(self, access: ClusterAccess) -> dict[str, Any] | None:
        """What the cluster holds now; None while ``kyma-system`` (which a former environment's release
        deleted) is still terminating, as nothing can be written into it until it is gone."""
        with KubeClient(access) as kube:
            listed = kube.list(NAMESPACES)
            terminating = {n["metadata"]["name"] for n in listed if n["metadata"].get("deletionTimestamp")}
            if KYMA_SYSTEM in terminating:
                return None
            namespaces = _names(listed)
            if KYMA_SYSTEM not in namespaces:
                namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": KYMA_SYSTEM}}
                kube.create(NAMESPACES, namespace)
            bindings = {path: _names(kube.list(path, BINDING_SELECTOR)) for path in BINDING_PATHS}
            admins = [_restorable(c) for c in kube.list(ADMINS_PATH, ADMINS_SELECTOR)]
            secret = _get(kube, BTP_SECRET)
            kyma = _get(kube, KYMA)
        return {
            "namespaces": namespaces,
            "bindings": bindings,
            "admins": admins,
            "btpSecret": None if secret is None else _restorable(secret),
            "kymaSpec": None if kyma is None else kyma.get("spec"),
        }

    def _clean(self, kube: KubeClient, baseline: dict[str, Any]) -> None:
        """Remove what the environment added and restore what it changed; each part idempotent."""
        for path in BINDING_PATHS:  # the CRBs first: their removal revokes the rights at once
            before = set(baseline["bindings"].get(path, []))
            for name in _names(kube.list(path, BINDING_SELECTOR)):
                if name.startswith(BINDING_PREFIX) and name not in before:
                    kube.delete(f"{path}/{name}")
        admins = {c["metadata"]["name"]: c for c in baseline["admins"]}
        for name in _names(kube.list(ADMINS_PATH, ADMINS_SELECTOR)):
            if name not in admins:
                kube.delete(f"{ADMINS_PATH}/{name}")
        for body in admins.values():
            kube.create(ADMINS_PATH, body)  # one the environment's administrators replaced
        kube.delete(BTP_SECRET)
        if baseline["btpSecret"] is not None:
            kube.create(BTP_SECRET.rsplit("/", 1)[0], baseline["btpSecret"])
        kyma = _get(kube, KYMA)
        if kyma is not None and baseline["kymaSpec"] is not None and kyma.get("spec") != baseline["kymaSpec"]:
            kube.put(KYMA, {**kyma, "spec": baseline["kymaSpec"]})
        before = set(baseline["namespaces"])
        for name in _names(kube.list(NAMESPACES)):
            if name not in before and (self.clean_namespaces or name == KYMA_SYSTEM):
                kube.delete(f"{NAMESPACES}/{name}")
