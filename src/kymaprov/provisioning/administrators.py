"""The environment's ``administrators`` in the runtime, as Kyma's infrastructure manager (KIM) binds them.

KIM (``runtime_fsm_apply_clusterrolebindings.go``) gives each administrator a ClusterRoleBinding to
``cluster-admin`` with ``generateName: admin-``, one ``User`` subject and the label
``reconciler.kyma-project.io/managed-by: infrastructure-manager``; on every reconcile it deletes the
bindings it manages whose users left the list and creates those missing. The same here, through the
runtime's Kubernetes API (``KubeClient``), on provisioning and on an update that names administrators.
"""

from __future__ import annotations

from typing import Any

from kymaprov.backends.base import ClusterAccess
from kymaprov.backends.kubeclient import KubeClient

RBAC = "rbac.authorization.k8s.io"
CRBS = f"/apis/{RBAC}/v1/clusterrolebindings"
MANAGED_BY = {"reconciler.kyma-project.io/managed-by": "infrastructure-manager"}
SELECTOR = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())


def administrators_of(parameters: dict[str, Any], default_user: str | None) -> list[str] | None:
    """The administrators to apply: the parameter when given, else the creating user (KEB's default);
    None when there is nothing to apply."""
    admins = parameters.get("administrators")
    if isinstance(admins, list) and admins:
        return [str(a) for a in admins]
    return [default_user] if default_user else None


def _users(crb: dict[str, Any]) -> set[str]:
    return {str(s.get("name")) for s in crb.get("subjects") or [] if s.get("kind") == "User"}


def _is_admin_binding(crb: dict[str, Any]) -> bool:
    ref = crb.get("roleRef") or {}
    return ref.get("kind") == "ClusterRole" and ref.get("name") == "cluster-admin" and bool(_users(crb))


def binding(user: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"generateName": "admin-", "labels": dict(MANAGED_BY)},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": RBAC, "kind": "User", "name": user}],
    }


def apply(access: ClusterAccess, administrators: list[str]) -> None:
    """Make the runtime's KIM-managed admin bindings exactly ``administrators`` (idempotent)."""
    with KubeClient(access) as kube:
        managed = [c for c in kube.list(CRBS, SELECTOR) if _is_admin_binding(c)]
        for crb in managed:
            if not _users(crb) & set(administrators):
                kube.delete(f"{CRBS}/{crb['metadata']['name']}")
        present = set().union(*(_users(c) for c in managed)) if managed else set()
        for user in administrators:
            if user not in present:
                kube.create(CRBS, binding(user), exist_ok=False)
