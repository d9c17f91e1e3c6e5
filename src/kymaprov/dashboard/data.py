"""What the dashboard shows, read from the service's tables and the runtime's Kubernetes API."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from kymaprov.accounts.models import list_subaccounts
from kymaprov.backends.base import RuntimeBackend
from kymaprov.backends.kubeclient import KubeClient, KubeClientError
from kymaprov.context import Context
from kymaprov.provisioning.models import Environment, environments, kyma_bindings, operations

READY = "READY"  # a binding that answered its PUT (provisioning/bindings.py)

# what "workloads" means on the runtime page: (kind, collection path)
WORKLOADS = (
    ("Deployment", "/apis/apps/v1/deployments"),
    ("StatefulSet", "/apis/apps/v1/statefulsets"),
    ("DaemonSet", "/apis/apps/v1/daemonsets"),
    ("Job", "/apis/batch/v1/jobs"),
    ("CronJob", "/apis/batch/v1/cronjobs"),
    ("Pod", "/api/v1/pods"),
)


@dataclass
class Runtime:
    """A runtime's objects, or why they could not be read."""

    namespaces: list[dict[str, Any]] = field(default_factory=list)
    workloads: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""


def subaccount_names(ctx: Context, global_account_id: str) -> dict[str, str]:
    return {s.id: s.display_name for s in list_subaccounts(ctx, global_account_id)}


def account_environments(ctx: Context, global_account_id: str) -> list[Environment]:
    with ctx.store.read() as conn:
        rows = conn.execute(
            sa.select(environments)
            .where(environments.c.global_account_id == global_account_id)
            .order_by(environments.c.created_ms)
        ).all()
    return [Environment(r._asdict()) for r in rows]


def environment(ctx: Context, global_account_id: str, env_id: str) -> Environment | None:
    with ctx.store.read() as conn:
        row = conn.execute(
            sa.select(environments).where(
                environments.c.id == env_id, environments.c.global_account_id == global_account_id
            )
        ).first()
    return None if row is None else Environment(row._asdict())


def environment_operations(ctx: Context, env_id: str) -> list[dict[str, Any]]:
    with ctx.store.read() as conn:
        rows = conn.execute(
            sa.select(operations)
            .where(operations.c.environment_id == env_id)
            .order_by(operations.c.created_ms)
        ).all()
    return [r._asdict() for r in rows]


def environment_bindings(ctx: Context, env_id: str) -> list[dict[str, Any]]:
    with ctx.store.read() as conn:
        rows = conn.execute(
            sa.select(
                kyma_bindings.c.id,
                kyma_bindings.c.created_by,
                kyma_bindings.c.created_ms,
                kyma_bindings.c.expires_ms,
            )
            .where(kyma_bindings.c.environment_id == env_id, kyma_bindings.c.state == READY)
            .order_by(kyma_bindings.c.created_ms)
        ).all()
    return [r._asdict() for r in rows]


def runtime(backend: RuntimeBackend, env: Environment) -> Runtime:
    """The runtime's namespaces, workloads and events; an error text if it has none or cannot be read."""
    access = backend.access(env.cluster_id) if env.row.get("cluster_access") else None
    if access is None:
        return Runtime(error="this environment has no runtime (yet, or any more)")
    found = Runtime()
    try:
        with KubeClient(access) as kube:
            found.namespaces = kube.list("/api/v1/namespaces", "")
            for kind, path in WORKLOADS:
                found.workloads += [(kind, item) for item in kube.list(path, "")]
            found.events = sorted(
                kube.list("/api/v1/events", ""),
                key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""),
                reverse=True,
            )[:50]
    except KubeClientError as exc:
        found.error = f"the runtime's API answered: {exc}"
    return found


def parameters(env: Environment) -> dict[str, Any]:
    try:
        value = json.loads(env.row["parameters"])
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
