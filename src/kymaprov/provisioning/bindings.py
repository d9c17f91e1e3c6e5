"""Kyma bindings, made as KEB makes them: through the runtime's Kubernetes API.

Create: record the binding first (so it counts toward the limit of 10 non-expired bindings while it
is being made), then create ServiceAccount, ClusterRole and ClusterRoleBinding ``kyma-binding-<id>``
and a TokenRequest, and render KEB's kubeconfig template. Delete removes the three objects (CRB
first), which revokes the token on the runtime's next request.

Both are recoverable: a row is ``MAKING`` until its PUT answers (not listed, not readable, but counted),
``READY`` after, ``REMOVING`` while its objects go. Every Kubernetes step is idempotent (AlreadyExists
and NotFound tolerated), state changes are compare-and-set on the row's state, and ``reconcile()``
removes what a dead process left behind: rows stuck in ``MAKING``/``REMOVING`` longer than
``STUCK_SECONDS`` of wall time, and ``kyma-binding-*`` objects in a runtime that no live row claims.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kymaprov.backends.base import ClusterAccess, RuntimeBackend
from kymaprov.backends.kubeclient import KubeClient, KubeClientError, KubeClients
from kymaprov.context import Context
from kymaprov.provisioning.environments import find, lookup
from kymaprov.provisioning.exceptions import (
    BindingDeleted,
    BindingGone,
    BindingNotFound,
    BindingNotReadable,
    BindingRejected,
    RuntimeFailure,
)
from kymaprov.provisioning.models import Environment, environments, expires_at_text, iso_ms, kyma_bindings
from kymaprov.store import Query
from kymaprov.uaa.models import Principal

DEFAULT_EXPIRATION = 600
MIN_EXPIRATION = 600
MAX_EXPIRATION = 7200
MAX_BINDINGS = 10
NAMESPACE = "kyma-system"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kcp-kyma-environment-broker"}
MANAGED_BY_SELECTOR = "app.kubernetes.io/managed-by=kcp-kyma-environment-broker"
PREFIX = "kyma-binding-"
# which environment made a binding's objects: the orphan sweep touches only its own, never a
# ``kyma-binding-*`` object someone else made in the cluster (another broker's, when the runtime is shared)
INSTANCE_ANNOTATION = "kymaprov.io/instance-id"

MAKING, READY, REMOVING = "MAKING", "READY", "REMOVING"
# the statements of the GETs and writes, built once (making a statement costs more than running it)
# and run on the driver's cursor (``store.Query``): a PUT+DELETE pair runs each write once
_BY_ID = Query(
    sa.select(kyma_bindings).where(
        kyma_bindings.c.id == sa.bindparam("id"),
        kyma_bindings.c.environment_id == sa.bindparam("environment_id"),
    )
)
_READY_OF_ENVIRONMENT = Query(
    sa.select(kyma_bindings)
    .where(kyma_bindings.c.environment_id == sa.bindparam("environment_id"), kyma_bindings.c.state == READY)
    .order_by(kyma_bindings.c.created_ms)
)
_LIVE_COUNT = Query(
    sa.select(sa.func.count().label("live")).where(
        kyma_bindings.c.environment_id == sa.bindparam("environment_id"),
        kyma_bindings.c.expires_ms > sa.bindparam("now"),
    )
)
_INSERT = Query.insert(kyma_bindings)
_FINISH = Query(
    sa.update(kyma_bindings)
    .where(kyma_bindings.c.id == sa.bindparam("b_id"), kyma_bindings.c.state == MAKING)
    .values(
        kubeconfig=sa.bindparam("b_kubeconfig"),
        expires_ms=sa.bindparam("b_expires_ms"),
        state=READY,
        state_since=sa.bindparam("since"),
    )
)
_MOVE_STATEMENT = (
    sa.update(kyma_bindings)
    .where(kyma_bindings.c.id == sa.bindparam("b_id"))
    .values(state=sa.bindparam("b_state"), state_since=sa.bindparam("since"))
)
_MOVE = Query(_MOVE_STATEMENT)
_MOVE_FROM = Query(_MOVE_STATEMENT.where(kyma_bindings.c.state == sa.bindparam("from_state")))
_DROP = Query(sa.delete(kyma_bindings).where(kyma_bindings.c.id == sa.bindparam("b_id")))
# wall time after which a row's owner is taken for dead: far beyond a PUT (4 calls of at most 10 s)
STUCK_SECONDS = 60.0
RECONCILE_SECONDS = 3.0  # how often reconcile() does its work when called from the worker loop
# runtimes the orphan pass looks into per reconcile, in turn: each pass costs the same at any number of
# runtimes (three lists each), and every runtime is looked at within RECONCILE_SECONDS x count / slice
ORPHAN_SLICE = 25

# the binding's objects, in KEB's deletion order: the CRB first revokes the rights at once
CRB_PATH = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
CR_PATH = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
SA_PATH = f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts"
OBJECT_PATHS = (CRB_PATH, CR_PATH, SA_PATH)

log = logging.getLogger(__name__)

KUBECONFIG_TEMPLATE = """
---
apiVersion: v1
kind: Config
current-context: {context}
clusters:
- name: {context}
  cluster:
    certificate-authority-data: {ca}
    server: {server}{tls_server_name}
contexts:
- name: {context}
  context:
    cluster: {context}
    user: {context}
users:
- name: {context}
  user:
    token: {token}
  """


def render_kubeconfig(context: str, access: ClusterAccess, token: str) -> str:
    """KEB's ``kubeconfigTemplateForKymaBindings``; ``tls-server-name`` added when SNI selects the CA."""
    sni = f"\n    tls-server-name: {access.tls_server_name}" if access.tls_server_name else ""
    return KUBECONFIG_TEMPLATE.format(
        context=context, ca=access.ca_data, server=access.server, tls_server_name=sni, token=token
    )


def resource_name(binding_id: str) -> str:
    return f"{PREFIX}{binding_id}"


@dataclass(frozen=True)
class CreatedBinding:
    id: str
    body: dict[str, Any]


def parse_expiration(body: Any) -> int:
    """KEB's rules and messages: absent or 0 means 600; only integers between 600 and 7200."""
    if body is None:
        return DEFAULT_EXPIRATION
    if not isinstance(body, dict):
        raise BindingRejected("failed to unmarshal request body: the body must be a JSON object")
    params = body.get("parameters")
    if params is None:
        return DEFAULT_EXPIRATION
    if not isinstance(params, dict):
        raise BindingRejected(
            f"failed to unmarshal parameters: cannot unmarshal {_go_type(params)} into parameters"
        )
    value = params.get("expiration_seconds")
    if value is None:
        return DEFAULT_EXPIRATION
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not value.is_integer())
    ):
        kind = _go_type(value)
        shown = f"number {value}" if kind == "number" else kind
        raise BindingRejected(
            f"failed to unmarshal parameters: cannot unmarshal {shown} into expiration_seconds of type int"
        )
    seconds = int(value)
    if seconds == 0:
        return DEFAULT_EXPIRATION
    if seconds > MAX_EXPIRATION:
        raise BindingRejected(f"expiration_seconds cannot be greater than {MAX_EXPIRATION}")
    if seconds < MIN_EXPIRATION:
        raise BindingRejected(f"expiration_seconds cannot be less than {MIN_EXPIRATION}")
    return seconds


def _go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    return "object"


class BindingService:
    def __init__(self, ctx: Context, backend: RuntimeBackend) -> None:
        self._ctx = ctx
        self._backend = backend
        self._kube = KubeClients()
        self._last_reconcile = 0.0
        self._orphans_after = ""  # the last environment id the orphan pass looked into

    def access(self, env: Environment) -> ClusterAccess | None:
        """Asked of the backend on every use: the address may depend on the replica that asks."""
        if not env.row.get("cluster_access"):
            return None
        return self._backend.access(env.cluster_id)

    @property
    def backend(self) -> RuntimeBackend:
        return self._backend

    def reset(self) -> None:
        """Forget every binding (``POST /admin/reset``); the runtimes holding their objects go too."""
        with self._ctx.store.write() as conn:
            conn.execute(sa.delete(kyma_bindings))

    def _set_state(self, binding_id: str, state: str, *, only_from: str | None = None) -> bool:
        """Move a row to ``state`` (only from ``only_from`` if given); False if no row moved."""
        params = {"b_id": binding_id, "b_state": state, "since": time.time()}
        with self._ctx.store.write() as conn:
            if only_from is None:
                return bool(_MOVE.execute(conn, params))
            return bool(_MOVE_FROM.execute(conn, {**params, "from_state": only_from}))

    def _drop_row(self, binding_id: str) -> None:
        with self._ctx.store.write() as conn:
            _DROP.execute(conn, {"b_id": binding_id})

    # -- create ---------------------------------------------------------------------------------

    def create(self, p: Principal, env_id: str, body: Any) -> CreatedBinding:
        expiration = parse_expiration(body)
        binding_id = str(uuid.uuid4())
        now = self._ctx.clock.now_ms()
        with self._ctx.store.write() as conn:
            env = lookup(conn, p, env_id, lock=True)
            self._check_bindable(env)
            live = _LIVE_COUNT.fetch(conn, {"environment_id": env.id, "now": now})[0]["live"]
            if live >= MAX_BINDINGS:
                raise BindingRejected(f"maximum number of non expired bindings reached: {MAX_BINDINGS}")
            _INSERT.execute(
                conn,
                {
                    "id": binding_id,
                    "environment_id": env.id,
                    "subaccount_id": env.row["subaccount_id"],
                    "expiration_seconds": expiration,
                    "created_by": str(p.user_name or p.client_id),
                    "created_ms": now,
                    "expires_ms": now + expiration * 1000,
                    "kubeconfig": "",
                    "cleaned": False,
                    "state": MAKING,
                    "state_since": time.time(),
                },
            )
        try:
            access = self.access(env)
            if access is None:
                raise KubeClientError(0, f"the runtime of instance {env.id} does not exist")
            kubeconfig, expires_ms = self._make_on_cluster(env, access, binding_id, expiration)
        except KubeClientError as exc:
            if not self._abandon(env, binding_id):
                raise BindingDeleted() from exc
            raise RuntimeFailure(
                f"failed to create a Kyma binding using service account's kubeconfig: {exc}", code=42010
            ) from exc
        with self._ctx.store.write() as conn:
            finished = _FINISH.execute(
                conn,
                {
                    "b_id": binding_id,
                    "b_kubeconfig": self._ctx.sealer.seal(kubeconfig),
                    "b_expires_ms": expires_ms,
                    "since": time.time(),
                },
            )
        if not finished:  # deleted meanwhile: what this PUT made after the delete must go too
            self._remove_from_cluster(env, binding_id, strict=False)
            raise BindingDeleted()
        return CreatedBinding(binding_id, self._credentials_body(kubeconfig, expires_ms, expiration))

    def _abandon(self, env: Environment, binding_id: str) -> bool:
        """Undo a failed PUT: objects, then row. False if someone else had already taken the row over.

        If the runtime cannot be reached to undo, the row stays ``REMOVING`` for the reconcile.
        """
        claimed = self._set_state(binding_id, REMOVING, only_from=MAKING)
        try:
            self._remove_from_cluster(env, binding_id, strict=True)
        except RuntimeFailure:
            log.warning("binding %s: cleanup after a failed create deferred to the reconcile", binding_id)
            return claimed
        if claimed:
            with self._ctx.store.write() as conn:
                conn.execute(
                    sa.delete(kyma_bindings).where(
                        kyma_bindings.c.id == binding_id, kyma_bindings.c.state == REMOVING
                    )
                )
        return claimed

    @staticmethod
    def _check_bindable(env: Environment) -> None:
        state = env.state
        if state == "CREATING":
            raise BindingRejected(f"instance {env.id} creation is in progress")
        if state == "CREATION_FAILED":
            raise BindingRejected(f"instance {env.id} creation failed")
        if state == "DELETING":
            raise BindingRejected(f"instance {env.id} deprovisioning is in progress")
        if not env.row.get("cluster_access"):
            raise BindingRejected(f"instance {env.id} has no runtime")

    def _make_on_cluster(
        self, env: Environment, access: ClusterAccess, binding_id: str, expiration: int
    ) -> tuple[str, int]:
        name = resource_name(binding_id)
        mine = {INSTANCE_ANNOTATION: env.id}
        kube = self._kube.get(access)
        kube.create(
            SA_PATH,
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {
                    "name": name,
                    "namespace": NAMESPACE,
                    "labels": MANAGED_BY,
                    "annotations": mine,
                },
            },
        )
        kube.create(
            CR_PATH,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": name, "labels": MANAGED_BY, "annotations": mine},
                "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
            },
        )
        kube.create(
            CRB_PATH,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": name, "labels": MANAGED_BY, "annotations": mine},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}],
            },
        )
        status = kube.request_token(NAMESPACE, name, expiration)
        expires = datetime.fromisoformat(str(status["expirationTimestamp"]).replace("Z", "+00:00"))
        return render_kubeconfig(env.cluster_name, access, str(status["token"])), int(
            expires.timestamp() * 1000
        )

    @staticmethod
    def _credentials_body(kubeconfig: str, expires_ms: int, expiration: int) -> dict[str, Any]:
        return {
            "credentials": {"kubeconfig": kubeconfig},
            "parameters": {"expiration_seconds": expiration},
            "metadata": {"expires_at": expires_at_text(expires_ms)},
        }

    # -- read -----------------------------------------------------------------------------------

    @staticmethod
    def _metadata(row: Mapping[str, Any]) -> dict[str, str]:
        return {
            "bindingId": row["id"],
            "instanceId": row["environment_id"],
            "createdBy": row["created_by"] or "",
            "createdDate": iso_ms(row["created_ms"]),
            "expiresAt": iso_ms(row["expires_ms"]),
        }

    def list_all(self, p: Principal, env_id: str) -> dict[str, Any]:
        """Finished bindings only: one being made or removed is not (yet, or any longer) a binding."""
        env = find(self._ctx.store, p, env_id)
        rows = self._ctx.store.query(_READY_OF_ENVIRONMENT, {"environment_id": env.id})
        return {"bindings": [self._metadata(r) for r in rows]}

    def get(self, p: Principal, env_id: str, binding_id: str) -> dict[str, Any]:
        """Credentials while live; metadata only once expired; 404 while unknown or being made."""
        with self._ctx.store.read() as conn:
            env = lookup(conn, p, env_id)
            rows = _BY_ID.fetch(conn, {"id": binding_id, "environment_id": env.id})
        row = rows[0] if rows else None
        if row is None or row["state"] != READY or not row["kubeconfig"]:
            raise BindingNotReadable()
        if row["expires_ms"] <= self._ctx.clock.now_ms():
            return self._metadata(row)
        kubeconfig = self._ctx.sealer.open_str(row["kubeconfig"])
        return self._credentials_body(kubeconfig, row["expires_ms"], row["expiration_seconds"])

    # -- delete ---------------------------------------------------------------------------------

    def delete(self, p: Principal, env_id: str, binding_id: str) -> dict[str, Any]:
        """KEB's unbind, also for a binding still being made (KEB answers 200 there too).

        The row turns ``REMOVING`` first, so a PUT still making it sees that and undoes its own work;
        if the runtime fails, the row stays ``REMOVING`` (retry, or the reconcile finishes it).
        """
        with self._ctx.store.write() as conn:  # read and claim in one transaction
            env = lookup(conn, p, env_id)
            rows = _BY_ID.fetch(conn, {"id": binding_id, "environment_id": env.id})
            if not rows:
                raise BindingNotFound()
            row = rows[0]
            _MOVE.execute(conn, {"b_id": binding_id, "b_state": REMOVING, "since": time.time()})
        expired = row["state"] == READY and row["expires_ms"] <= self._ctx.clock.now_ms()
        if not row["cleaned"]:
            self._remove_from_cluster(env, binding_id, strict=not expired)
        self._drop_row(binding_id)
        if expired:
            raise BindingGone()
        return {"bindingId": binding_id, "planId": env.row["plan_id"], "serviceId": env.id}

    def _remove_from_cluster(self, env: Environment, binding_id: str, *, strict: bool) -> None:
        """CRB, then ClusterRole, then ServiceAccount, as KEB does; skipped while deprovisioning."""
        access = self.access(env)
        if access is None or env.state == "DELETING":
            return
        try:
            self._remove_objects(self._kube.get(access), binding_id)
        except KubeClientError as exc:
            if strict and not self._deprovisioned_since(env):
                raise RuntimeFailure(
                    f"failed to delete resources for binding {binding_id} and instance {env.id}: {exc}",
                    code=42011,
                ) from exc

    def _deprovisioned_since(self, env: Environment) -> bool:
        """Whether a deprovision began after the delete read the environment (its runtime then refuses
        the service's token): the binding's objects go with the runtime, as when it was DELETING."""
        with self._ctx.store.read() as conn:
            state = conn.execute(sa.select(environments.c.state).where(environments.c.id == env.id)).scalar()
        return state in (None, "DELETING") or self.access(env) is None

    @staticmethod
    def _remove_objects(kube: KubeClient, binding_id: str) -> None:
        name = resource_name(binding_id)
        for path in OBJECT_PATHS:
            kube.delete(f"{path}/{name}")

    # -- expiry ---------------------------------------------------------------------------------

    def clean_expired(self, limit: int = 20) -> int:
        """Remove the cluster objects of expired bindings; the metadata stays until DELETE (410)."""
        now = self._ctx.clock.now_ms()
        with self._ctx.store.read() as conn:
            rows = conn.execute(
                sa.select(kyma_bindings.c.id, environments)
                .join(environments, environments.c.id == kyma_bindings.c.environment_id)
                .where(
                    kyma_bindings.c.expires_ms <= now,
                    kyma_bindings.c.cleaned.is_(False),
                    kyma_bindings.c.state == READY,
                )
                .limit(limit)
            ).all()
        for r in rows:
            binding_id = str(r[0])
            self._remove_from_cluster(self._joined_environment(r), binding_id, strict=False)
            with self._ctx.store.write() as conn:
                conn.execute(
                    sa.update(kyma_bindings).where(kyma_bindings.c.id == binding_id).values(cleaned=True)
                )
        return len(rows)

    @staticmethod
    def _joined_environment(row: Any) -> Environment:
        return Environment({c.name: row._mapping[environments.c[c.name]] for c in environments.columns})

    # -- recovery -------------------------------------------------------------------------------

    def reconcile(self, *, force: bool = False) -> int:
        """Finish what dead processes left: stuck rows, then orphan objects; return how many went.

        Called from the lifecycle worker loop; does its work at most every ``RECONCILE_SECONDS``
        unless ``force``. Safe on every replica at once: each step is a compare-and-set or idempotent.
        """
        if not force and time.monotonic() - self._last_reconcile < RECONCILE_SECONDS:
            return 0
        self._last_reconcile = time.monotonic()
        return self._remove_stuck() + self._remove_orphans()

    def _remove_stuck(self, limit: int = 20) -> int:
        """Rows ``MAKING`` or ``REMOVING`` for longer than ``STUCK_SECONDS``: their owner is gone."""
        with self._ctx.store.read() as conn:
            rows = conn.execute(
                sa.select(kyma_bindings.c.id, kyma_bindings.c.state_since, environments)
                .join(environments, environments.c.id == kyma_bindings.c.environment_id)
                .where(
                    kyma_bindings.c.state.in_((MAKING, REMOVING)),
                    sa.or_(
                        kyma_bindings.c.state_since.is_(None),
                        kyma_bindings.c.state_since < time.time() - STUCK_SECONDS,
                    ),
                )
                .limit(limit)
            ).all()
        removed = 0
        for r in rows:
            binding_id = str(r[0])
            with self._ctx.store.write() as conn:  # take it over unless someone moved it meanwhile
                since = kyma_bindings.c.state_since
                taken = conn.execute(
                    sa.update(kyma_bindings)
                    .where(
                        kyma_bindings.c.id == binding_id,
                        since.is_(None) if r[1] is None else since == r[1],
                    )
                    .values(state=REMOVING, state_since=time.time())
                ).rowcount
            if not taken:
                continue
            try:
                self._remove_from_cluster(self._joined_environment(r), binding_id, strict=True)
            except RuntimeFailure:
                log.warning("binding %s: runtime unreachable, removal retried later", binding_id)
                continue
            self._drop_row(binding_id)
            log.info("binding %s: removed, its creation or removal was interrupted", binding_id)
            removed += 1
        return removed

    def _orphan_slice(self, after: str) -> list[Environment]:
        """The next ``ORPHAN_SLICE`` environments with a runtime, by id after ``after``."""
        with self._ctx.store.read() as conn:
            return [
                Environment(r._asdict())
                for r in conn.execute(
                    sa.select(environments)
                    .where(
                        environments.c.cluster_access.is_not(None),
                        environments.c.state != "DELETING",
                        environments.c.id > after,
                    )
                    .order_by(environments.c.id)
                    .limit(ORPHAN_SLICE)
                )
            ]

    def _remove_orphans(self) -> int:
        """``kyma-binding-*`` objects no live row claims, found by KEB's label in the next
        ``ORPHAN_SLICE`` runtimes.

        A row is written before its objects, so an object whose row is missing (or already cleaned
        after expiry) when read after listing can never belong to a binding being made right now.
        """
        envs = self._orphan_slice(self._orphans_after)
        if not envs and self._orphans_after:  # past the last one: start over
            envs = self._orphan_slice("")
        # the next pass goes on after these, or starts over once the end was reached
        self._orphans_after = envs[-1].id if len(envs) == ORPHAN_SLICE else ""
        removed = 0
        for env in envs:
            access = self.access(env)
            if access is None:
                continue
            try:
                kube = self._kube.get(access)
                found = {
                    name[len(PREFIX) :]
                    for path in OBJECT_PATHS
                    for item in kube.list(path, MANAGED_BY_SELECTOR)
                    if (name := str((item.get("metadata") or {}).get("name", ""))).startswith(PREFIX)
                    and ((item.get("metadata") or {}).get("annotations") or {}).get(INSTANCE_ANNOTATION)
                    == env.id
                }
                if not found:
                    continue
                with self._ctx.store.read() as conn:
                    claimed = set(
                        conn.execute(
                            sa.select(kyma_bindings.c.id).where(
                                kyma_bindings.c.environment_id == env.id,
                                kyma_bindings.c.id.in_(found),
                                kyma_bindings.c.cleaned.is_(False),
                            )
                        ).scalars()
                    )
                for binding_id in sorted(found - claimed):
                    self._remove_objects(kube, binding_id)
                    log.info("binding %s: removed orphan objects from instance %s", binding_id, env.id)
                    removed += 1
            except KubeClientError as exc:
                log.warning("instance %s: orphan binding objects not checked: %s", env.id, exc)
        return removed
