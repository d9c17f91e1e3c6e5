"""RBAC escalation prevention as kube-apiserver's ``policybased`` storages do it.

A writer may only grant (in a Role/ClusterRole) or bind (in a RoleBinding/ClusterRoleBinding) the
permissions it holds, unless it has the ``escalate`` verb on roles or the ``bind`` verb on the role.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kymaprov.backends.base import ClusterAccess
from tests.kubeapi.conftest import Kube, Kubectl

RBAC = "/apis/rbac.authorization.k8s.io/v1"
GROUPS = '["system:serviceaccounts" "system:serviceaccounts:default" "system:authenticated"]'
CLUSTER_ADMIN_RULES = '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n{NonResourceURLs:["*"], Verbs:["*"]}'


def not_held(account: str, *rules: str) -> str:
    """The escalation error of ``ConfirmNoEscalation``."""
    return (
        f'user "system:serviceaccount:default:{account}" (groups={GROUPS}) is attempting to grant RBAC '
        "permissions not currently held:\n" + "\n".join(rules)
    )


def account_with(admin: Kube, name: str, rules: list[dict[str, Any]]) -> Kube:
    """A ServiceAccount in ``default`` holding exactly ``rules`` cluster-wide, and a client for it."""
    admin.create("/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": name}})
    admin.create(f"{RBAC}/clusterroles", {"metadata": {"name": f"{name}-role"}, "rules": rules})
    admin.create(
        f"{RBAC}/clusterrolebindings",
        {
            "metadata": {"name": f"{name}-binding"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"{name}-role",
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "default"}],
        },
    )
    token = admin.create(f"/api/v1/namespaces/default/serviceaccounts/{name}/token", {})["status"]["token"]
    return Kube(admin.access, token=token)


BINDING_WRITER = {
    "apiGroups": ["rbac.authorization.k8s.io"],
    "resources": ["clusterrolebindings", "rolebindings"],
    "verbs": ["create", "get", "update", "patch"],
}
ROLE_WRITER = {
    "apiGroups": ["rbac.authorization.k8s.io"],
    "resources": ["roles", "clusterroles"],
    "verbs": ["create", "get", "update", "patch"],
}


def cluster_admin_binding(name: str, account: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": "default"}],
    }


def test_binding_writer_cannot_bind_itself_to_cluster_admin(
    tmp_path: Path, access: ClusterAccess, admin: Kube
) -> None:
    binder = account_with(admin, "binder", [BINDING_WRITER])
    token = binder.client.headers["authorization"].removeprefix("Bearer ")
    kubectl = Kubectl(tmp_path, access, token=token, version="1.30")
    result = kubectl(
        "create",
        "clusterrolebinding",
        "pwn",
        "--clusterrole=cluster-admin",
        "--serviceaccount=default:binder",
    )
    assert result.returncode == 1
    expected = 'clusterrolebindings.rbac.authorization.k8s.io "pwn" is forbidden: ' + not_held(
        "binder", CLUSTER_ADMIN_RULES
    )
    assert expected in result.stderr, result.stderr

    refused = binder.post(f"{RBAC}/clusterrolebindings", cluster_admin_binding("pwn", "binder"))
    assert refused.status_code == 403, refused.text
    assert refused.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": expected,
        "reason": "Forbidden",
        "details": {"name": "pwn", "group": "rbac.authorization.k8s.io", "kind": "clusterrolebindings"},
        "code": 403,
    }
    namespaced = binder.post(
        f"{RBAC}/namespaces/default/rolebindings", cluster_admin_binding("pwn", "binder")
    )
    assert namespaced.status_code == 403
    assert namespaced.json()["message"] == (
        'rolebindings.rbac.authorization.k8s.io "pwn" is forbidden: '
        + not_held("binder", CLUSTER_ADMIN_RULES)
    )
    assert admin.get(f"{RBAC}/clusterrolebindings/pwn").status_code == 404
    assert admin.get(f"{RBAC}/namespaces/default/rolebindings/pwn").status_code == 404
    assert binder.get("/api/v1/namespaces/default/secrets").status_code == 403

    # a binding it already has may not be re-pointed either (update and patch)
    own = admin.get(f"{RBAC}/clusterrolebindings/binder-binding").json()
    own["roleRef"]["name"] = "cluster-admin"
    assert binder.request("PUT", f"{RBAC}/clusterrolebindings/binder-binding", json=own).status_code == 403


def test_bind_verb_allows_binding_a_role_not_held(tmp_path: Path, access: ClusterAccess, admin: Kube) -> None:
    bind = {
        "apiGroups": ["rbac.authorization.k8s.io"],
        "resources": ["clusterroles"],
        "verbs": ["bind"],
        "resourceNames": ["cluster-admin"],
    }
    binder = account_with(admin, "binder", [BINDING_WRITER, bind])
    other = binder.post(
        f"{RBAC}/clusterrolebindings",
        {
            **cluster_admin_binding("other", "binder"),
            "roleRef": {**cluster_admin_binding("", "")["roleRef"], "name": "admin"},
        },
    )
    assert other.status_code == 403, other.text  # bind names cluster-admin only
    token = binder.client.headers["authorization"].removeprefix("Bearer ")
    kubectl = Kubectl(tmp_path, access, token=token, version="1.30")
    result = kubectl(
        "create",
        "clusterrolebinding",
        "granted",
        "--clusterrole=cluster-admin",
        "--serviceaccount=default:binder",
    )
    assert result.returncode == 0, result.stderr
    assert binder.get("/api/v1/namespaces/default/secrets").status_code == 200


def test_binding_rules_the_writer_holds_and_missing_roles(admin: Kube) -> None:
    pods = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}
    binder = account_with(admin, "binder", [BINDING_WRITER, pods])
    admin.create(f"{RBAC}/namespaces/default/roles", {"metadata": {"name": "pod-reader"}, "rules": [pods]})
    binding: dict[str, Any] = {
        "metadata": {"name": "readers"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [{"kind": "Group", "name": "readers"}],
    }
    assert binder.post(f"{RBAC}/namespaces/default/rolebindings", binding).status_code == 201
    missing = {**binding, "metadata": {"name": "ghost"}, "roleRef": {**binding["roleRef"], "name": "ghost"}}
    reply = binder.post(f"{RBAC}/namespaces/default/rolebindings", missing)
    assert reply.status_code == 404
    assert reply.json()["message"] == 'roles.rbac.authorization.k8s.io "ghost" not found'


STAR: dict[str, Any] = {
    "metadata": {"name": "star"},
    "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
}
HELD = {"metadata": {"name": "held"}, "rules": [{**ROLE_WRITER, "verbs": ["get"]}]}


@pytest.fixture
def writer(admin: Kube) -> Kube:
    """A ServiceAccount that may write roles and cluster roles, and holds nothing else."""
    return account_with(admin, "writer", [ROLE_WRITER])


def test_role_writer_cannot_create_a_role_granting_what_it_does_not_hold(writer: Kube) -> None:
    star = STAR
    refused = writer.post(f"{RBAC}/namespaces/default/roles", star)
    assert refused.status_code == 403, refused.text
    assert refused.json()["message"] == (
        'roles.rbac.authorization.k8s.io "star" is forbidden: '
        + not_held("writer", '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}')
    )
    refused = writer.post(f"{RBAC}/clusterroles", star)
    assert refused.status_code == 403
    assert refused.json()["details"] == {
        "name": "star",
        "group": "rbac.authorization.k8s.io",
        "kind": "clusterroles",
    }


def test_the_refusal_lists_each_missing_rule_with_compacted_verbs(writer: Kube) -> None:
    # missing rules are broken down and their verbs compacted per resource, sorted
    mixed = {
        "metadata": {"name": "mixed"},
        "rules": [
            {
                "apiGroups": ["rbac.authorization.k8s.io"],
                "resources": ["roles"],
                "verbs": ["get", "delete", "list"],
            },
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["a", "b"]},
        ],
    }
    reply = writer.post(f"{RBAC}/namespaces/default/roles", mixed).json()
    assert reply["message"] == 'roles.rbac.authorization.k8s.io "mixed" is forbidden: ' + not_held(
        "writer",
        '{APIGroups:[""], Resources:["secrets"], ResourceNames:["a"], Verbs:["get"]}',
        '{APIGroups:[""], Resources:["secrets"], ResourceNames:["b"], Verbs:["get"]}',
        '{APIGroups:["rbac.authorization.k8s.io"], Resources:["roles"], Verbs:["delete" "list"]}',
    )
    assert writer.post(f"{RBAC}/namespaces/default/roles", HELD).status_code == 201


def test_role_writer_cannot_escalate_by_update_patch_or_apply(admin: Kube, writer: Kube) -> None:
    star, held = STAR, HELD
    assert writer.post(f"{RBAC}/namespaces/default/roles", held).status_code == 201
    # updates and patches are checked too; the role stays as it was
    updated = writer.get(f"{RBAC}/namespaces/default/roles/held").json()
    updated["rules"] = star["rules"]
    assert writer.request("PUT", f"{RBAC}/namespaces/default/roles/held", json=updated).status_code == 403
    patched = writer.request(
        "PATCH",
        f"{RBAC}/namespaces/default/roles/held",
        json=[{"op": "add", "path": "/rules/-", "value": star["rules"][0]}],
        headers={"content-type": "application/json-patch+json"},
    )
    assert patched.status_code == 403, patched.text
    applied = writer.request(
        "PATCH",
        f"{RBAC}/namespaces/default/roles/applied?fieldManager=test",
        json={
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            **star,
            "metadata": {"name": "applied"},
        },
        headers={"content-type": "application/apply-patch+yaml"},
    )
    assert applied.status_code == 403, applied.text
    assert admin.get(f"{RBAC}/namespaces/default/roles/held").json()["rules"] == held["rules"]
    assert admin.get(f"{RBAC}/namespaces/default/roles/applied").status_code == 404


def test_role_writer_may_change_labels_of_a_role_it_holds(writer: Kube) -> None:
    assert writer.post(f"{RBAC}/namespaces/default/roles", HELD).status_code == 201
    # a label change only (no new rules) is fine
    labelled = writer.request(
        "PATCH",
        f"{RBAC}/namespaces/default/roles/held",
        json={"metadata": {"labels": {"a": "b"}}},
        headers={"content-type": "application/merge-patch+json"},
    )
    assert labelled.status_code == 200, labelled.text


def test_a_role_cannot_authorize_its_own_update(admin: Kube) -> None:
    """The writer's rules are those before the write: editing the role that grants the edit does not count."""
    admin.create("/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "self"}})
    admin.create(f"{RBAC}/namespaces/default/roles", {"metadata": {"name": "self"}, "rules": [ROLE_WRITER]})
    admin.create(
        f"{RBAC}/namespaces/default/rolebindings",
        {
            "metadata": {"name": "self"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "self"},
            "subjects": [{"kind": "ServiceAccount", "name": "self"}],
        },
    )
    token = admin.create("/api/v1/namespaces/default/serviceaccounts/self/token", {})["status"]["token"]
    writer = Kube(admin.access, token=token)
    role = writer.get(f"{RBAC}/namespaces/default/roles/self").json()
    role["rules"].append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]})
    reply = writer.request("PUT", f"{RBAC}/namespaces/default/roles/self", json=role)
    assert reply.status_code == 403, reply.text
    assert reply.json()["message"].endswith('{APIGroups:[""], Resources:["secrets"], Verbs:["*"]}')


@pytest.mark.parametrize("scope", ["namespaces/default/roles", "clusterroles"])
def test_escalate_verb_allows_granting_anything(admin: Kube, scope: str) -> None:
    escalate = {
        "apiGroups": ["rbac.authorization.k8s.io"],
        "resources": ["roles", "clusterroles"],
        "verbs": ["escalate"],
    }
    writer = account_with(admin, "escalator", [ROLE_WRITER, escalate])
    star: dict[str, Any] = {
        "metadata": {"name": "star"},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    }
    assert writer.post(f"{RBAC}/{scope}", star).status_code == 201
    aggregated = {
        "metadata": {"name": "agg"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]},
    }
    if scope == "clusterroles":
        assert writer.post(f"{RBAC}/{scope}", aggregated).status_code == 201
        plain = account_with(admin, "plain", [ROLE_WRITER])
        reply = plain.post(f"{RBAC}/clusterroles", {**aggregated, "metadata": {"name": "agg2"}})
        assert reply.status_code == 403
        assert reply.json()["message"] == (
            'clusterroles.rbac.authorization.k8s.io "agg2" is forbidden: '
            "must have cluster-admin privileges to use the aggregationRule"
        )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("namespaces/default/roles", {"metadata": {"name": "r"}, "rules": "all"}),
        ("namespaces/default/roles", {"metadata": {"name": "r"}, "rules": [5, {"verbs": "*"}]}),
        ("clusterroles", {"metadata": {"name": "r"}, "rules": [{"apiGroups": [5], "verbs": [None]}]}),
        ("clusterrolebindings", {"metadata": {"name": "b"}, "roleRef": "cluster-admin"}),
        ("clusterrolebindings", {"metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": 5}}),
        (
            "clusterrolebindings",
            {"metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "a\x00"}},
        ),
        (
            "namespaces/default/rolebindings",
            {"metadata": {"name": "b"}, "roleRef": {"kind": "Role", "name": "x" * 300}},
        ),
        ("namespaces/default/rolebindings", {"metadata": 5, "roleRef": {"kind": "Pod", "name": "x"}}),
    ],
)
def test_malformed_rbac_bodies_from_a_restricted_writer_are_client_errors(
    admin: Kube, path: str, body: dict[str, Any]
) -> None:
    """Never a 500; what the server stores anyway (it does not yet check rule field types) grants nothing
    the writer lacks (see the next test)."""
    writer = account_with(admin, "writer", [ROLE_WRITER, BINDING_WRITER])
    reply = writer.post(f"{RBAC}/{path}", body)
    assert reply.status_code < 500, reply.text


@pytest.mark.parametrize(
    "rule",
    [
        {"apiGroups": "*", "resources": "*", "verbs": "*"},
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"], "resourceNames": "s"},
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"], "resourceNames": [5]},
    ],
)
def test_malformed_rules_are_refused(admin: Kube, rule: dict[str, Any]) -> None:
    """A rule with strings where lists belong is a Go decoding error (400), as kube-apiserver answers;
    it is never stored, so it cannot match by substring or count as unrestricted."""
    reply = admin.post(f"{RBAC}/clusterroles", {"metadata": {"name": "malformed"}, "rules": [rule]})
    assert reply.status_code == 400, reply.text
    assert "cannot unmarshal" in reply.json()["message"]
    assert admin.get(f"{RBAC}/clusterroles/malformed").status_code == 404
