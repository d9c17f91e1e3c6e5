"""Kyma bindings, made as KEB makes them: through the runtime's Kubernetes API.

Create: record the binding first (so it counts toward the limit of 10 non-expired bindings while it
is being made), then create ServiceAccount, ClusterRole and ClusterRoleBinding ``kyma-binding-<id>``
and a TokenRequest, and render KEB's kubeconfig template. Delete removes the three objects (CRB
first), which revokes the token on the runtime's next request.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kymaprov.context import Context
from kymaprov.kube.client import KubeClient, KubeClientError
from kymaprov.provisioning.exceptions import (
    BindingGone,
    BindingNotFound,
    BindingNotReadable,
    BindingRejected,
    EnvironmentNotFound,
    ProvisioningError,
)
from kymaprov.provisioning.models import Environment, environments, expires_at_text, iso_ms, kyma_bindings
from kymaprov.runtimes import ClusterAccess
from kymaprov.uaa.models import Principal

DEFAULT_EXPIRATION = 600
MIN_EXPIRATION = 600
MAX_EXPIRATION = 7200
MAX_BINDINGS = 10
NAMESPACE = "kyma-system"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kcp-kyma-environment-broker"}

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
    return f"kyma-binding-{binding_id}"


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
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def _access(self, env: Environment) -> ClusterAccess | None:
        sealed = env.row.get("cluster_access")
        if not sealed:
            return None
        return ClusterAccess(**json.loads(self._ctx.sealer.open_str(sealed)))

    def _environment(
        self, conn: sa.Connection, p: Principal, env_id: str, *, lock: bool = False
    ) -> Environment:
        query = sa.select(environments).where(
            environments.c.id == env_id, environments.c.subaccount_id == (p.subaccount_id or "")
        )
        if lock:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise EnvironmentNotFound()
        return Environment(row._asdict())

    # -- create ---------------------------------------------------------------------------------

    def create(self, p: Principal, env_id: str, body: Any) -> CreatedBinding:
        expiration = parse_expiration(body)
        binding_id = str(uuid.uuid4())
        now = self._ctx.clock.now_ms()
        with self._ctx.store.write() as conn:
            env = self._environment(conn, p, env_id, lock=True)
            self._check_bindable(env)
            live = conn.execute(
                sa.select(sa.func.count()).where(
                    kyma_bindings.c.environment_id == env.id, kyma_bindings.c.expires_ms > now
                )
            ).scalar_one()
            if live >= MAX_BINDINGS:
                raise BindingRejected(f"maximum number of non expired bindings reached: {MAX_BINDINGS}")
            conn.execute(
                sa.insert(kyma_bindings).values(
                    id=binding_id,
                    environment_id=env.id,
                    subaccount_id=env.row["subaccount_id"],
                    expiration_seconds=expiration,
                    created_by=str(p.user_name or p.client_id),
                    created_ms=now,
                    expires_ms=now + expiration * 1000,
                    kubeconfig="",
                    cleaned=False,
                )
            )
        access = self._access(env)
        assert access is not None  # _check_bindable guarantees a provisioned cluster
        try:
            kubeconfig, expires_ms = self._make_on_cluster(env, access, binding_id, expiration)
        except KubeClientError as exc:
            with self._ctx.store.write() as conn:
                conn.execute(sa.delete(kyma_bindings).where(kyma_bindings.c.id == binding_id))
            raise ProvisioningError(
                f"failed to create a Kyma binding using service account's kubeconfig: {exc}", code=42010
            ) from exc
        with self._ctx.store.write() as conn:
            conn.execute(
                sa.update(kyma_bindings)
                .where(kyma_bindings.c.id == binding_id)
                .values(kubeconfig=self._ctx.sealer.seal(kubeconfig), expires_ms=expires_ms)
            )
        return CreatedBinding(binding_id, self._credentials_body(kubeconfig, expires_ms, expiration))

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
        with KubeClient(access) as kube:
            kube.create(
                f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts",
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": name, "namespace": NAMESPACE, "labels": MANAGED_BY},
                },
            )
            kube.create(
                "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRole",
                    "metadata": {"name": name, "labels": MANAGED_BY},
                    "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
                },
            )
            kube.create(
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {"name": name, "labels": MANAGED_BY},
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
    def _metadata(row: Any) -> dict[str, str]:
        return {
            "bindingId": row.id,
            "instanceId": row.environment_id,
            "createdBy": row.created_by or "",
            "createdDate": iso_ms(row.created_ms),
            "expiresAt": iso_ms(row.expires_ms),
        }

    def list_all(self, p: Principal, env_id: str) -> dict[str, Any]:
        with self._ctx.store.read() as conn:
            env = self._environment(conn, p, env_id)
            rows = conn.execute(
                sa.select(kyma_bindings)
                .where(kyma_bindings.c.environment_id == env.id)
                .order_by(kyma_bindings.c.created_ms)
            ).all()
        return {"bindings": [self._metadata(r) for r in rows]}

    def get(self, p: Principal, env_id: str, binding_id: str) -> dict[str, Any]:
        """Credentials while live; metadata only once expired; 404 while unknown or being made."""
        with self._ctx.store.read() as conn:
            env = self._environment(conn, p, env_id)
            row = conn.execute(
                sa.select(kyma_bindings).where(
                    kyma_bindings.c.id == binding_id, kyma_bindings.c.environment_id == env.id
                )
            ).first()
        if row is None or not row.kubeconfig:
            raise BindingNotReadable()
        if row.expires_ms <= self._ctx.clock.now_ms():
            return self._metadata(row)
        kubeconfig = self._ctx.sealer.open_str(row.kubeconfig)
        return self._credentials_body(kubeconfig, row.expires_ms, row.expiration_seconds)

    # -- delete ---------------------------------------------------------------------------------

    def delete(self, p: Principal, env_id: str, binding_id: str) -> dict[str, Any]:
        with self._ctx.store.read() as conn:
            env = self._environment(conn, p, env_id)
            row = conn.execute(
                sa.select(kyma_bindings).where(
                    kyma_bindings.c.id == binding_id, kyma_bindings.c.environment_id == env.id
                )
            ).first()
        if row is None:
            raise BindingNotFound()
        expired = row.expires_ms <= self._ctx.clock.now_ms()
        if not row.cleaned:
            self._remove_from_cluster(env, binding_id, strict=not expired)
        with self._ctx.store.write() as conn:
            conn.execute(sa.delete(kyma_bindings).where(kyma_bindings.c.id == binding_id))
        if expired:
            raise BindingGone()
        return {"bindingId": binding_id, "planId": env.row["plan_id"], "serviceId": env.id}

    def _remove_from_cluster(self, env: Environment, binding_id: str, *, strict: bool) -> None:
        """CRB, then ClusterRole, then ServiceAccount, as KEB does; skipped while deprovisioning."""
        access = self._access(env)
        if access is None or env.state == "DELETING":
            return
        name = resource_name(binding_id)
        try:
            with KubeClient(access) as kube:
                kube.delete(f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{name}")
                kube.delete(f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}")
                kube.delete(f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{name}")
        except KubeClientError as exc:
            if strict:
                raise ProvisioningError(
                    f"failed to delete resources for binding {binding_id} and instance {env.id}: {exc}",
                    code=42011,
                ) from exc

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
                    kyma_bindings.c.kubeconfig != "",
                )
                .limit(limit)
            ).all()
        for r in rows:
            binding_id = str(r[0])
            env = Environment({c.name: r._mapping[environments.c[c.name]] for c in environments.columns})
            self._remove_from_cluster(env, binding_id, strict=False)
            with self._ctx.store.write() as conn:
                conn.execute(
                    sa.update(kyma_bindings).where(kyma_bindings.c.id == binding_id).values(cleaned=True)
                )
        return len(rows)
