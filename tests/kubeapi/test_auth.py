"""Authentication, authorization and TLS isolation between clusters."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kymaprov.backends.base import ClusterAccess
from tests.kubeapi.conftest import Kube, Kubectl, KubeServer, binding_token, ca_context

UNAUTHORIZED = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "Unauthorized",
    "reason": "Unauthorized",
    "code": 401,
}


def test_requests_without_or_with_bad_tokens_are_401(access: ClusterAccess) -> None:
    for token in ("", "not-a-token", "a.b.c"):
        response = Kube(access, token=token).get("/api/v1/namespaces")
        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED


def test_unknown_cluster_is_401(kube_server: KubeServer, access: ClusterAccess) -> None:
    other = ClusterAccess(
        server=access.server.rsplit("/", 1)[0] + "/no-such-cluster",
        ca_data=access.ca_data,
        token=access.token,
        tls_server_name=access.tls_server_name,
    )
    assert Kube(other).get("/api/v1/namespaces").status_code == 401


def test_token_of_one_cluster_is_refused_by_another(kube_server: KubeServer, admin: Kube) -> None:
    token = binding_token(admin)
    other = kube_server.cluster()
    assert Kube(admin.access, token=token).get("/api/v1/pods").status_code == 200
    assert Kube(other, token=token).get("/api/v1/pods").json() == UNAUTHORIZED
    assert Kube(other, token=admin.access.token).get("/api/v1/pods").status_code == 401


def test_ca_of_one_cluster_does_not_verify_another(kube_server: KubeServer, access: ClusterAccess) -> None:
    other = kube_server.cluster()
    assert access.ca_data != other.ca_data
    crossed = ClusterAccess(other.server, access.ca_data, other.token, other.tls_server_name)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        Kube(crossed).get("/version")


def test_default_certificate_without_sni(kube_server: KubeServer) -> None:
    """Clients that send no cluster SNI name get the installation certificate (localhost, 127.0.0.1)."""
    context = ssl.create_default_context(cadata=kube_server.runtimes.default_ca_pem())
    response = httpx.get(f"https://127.0.0.1:{kube_server.kube_port}/clusters/x/version", verify=context)
    assert response.status_code == 401
    access = kube_server.cluster()  # its kubeconfig's CA bundle includes the installation CA
    assert (
        httpx.get(f"https://127.0.0.1:{kube_server.kube_port}/version", verify=ca_context(access)).status_code
        == 404
    )


def test_expiry_follows_the_service_clock(tmp_path: Path, kube_server: KubeServer, admin: Kube) -> None:
    token = binding_token(admin, "kyma-binding-exp", expiration=600)
    kubectl = Kubectl(tmp_path, admin.access, token=token)
    assert kubectl("get", "ns").returncode == 0
    kube_server.ctx.clock.advance(601)
    expired = kubectl("get", "ns")
    assert expired.returncode == 1
    assert "You must be logged in to the server (Unauthorized)" in expired.stderr


def test_recreated_service_account_does_not_revive_tokens(admin: Kube) -> None:
    token = binding_token(admin, "kyma-binding-re")
    user = Kube(admin.access, token=token)
    assert user.get("/api/v1/namespaces").status_code == 200
    admin.delete("/api/v1/namespaces/kyma-system/serviceaccounts/kyma-binding-re")
    admin.create("/api/v1/namespaces/kyma-system/serviceaccounts", {"metadata": {"name": "kyma-binding-re"}})
    assert user.get("/api/v1/namespaces").status_code == 401


def test_deleting_the_cluster_revokes_everything(tmp_path: Path, kube_server: KubeServer) -> None:
    access = kube_server.cluster()
    admin = Kube(access)
    token = binding_token(admin)
    kubectl = Kubectl(tmp_path, access, token=token)
    assert kubectl("get", "pods").returncode == 0
    assert access.tls_server_name is not None
    kube_server.runtimes.delete_cluster(access.tls_server_name.split(".")[0])
    kube_server.runtimes.delete_cluster("never-existed")  # idempotent
    gone = kubectl("get", "pods")
    assert "You must be logged in to the server (Unauthorized)" in gone.stderr
    assert admin.get("/api/v1/namespaces").status_code == 401


VIEWER = 'User "system:serviceaccount:kyma-system:viewer"'


@pytest.fixture
def viewer(admin: Kube) -> Iterator[Kube]:
    """ServiceAccount kyma-system/viewer bound to ClusterRole ``view`` in ``default``, and a client for it."""
    admin.create("/api/v1/namespaces/kyma-system/serviceaccounts", {"metadata": {"name": "viewer"}})
    admin.create(
        "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
        {
            "metadata": {"name": "viewer"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": "kyma-system"}],
        },
    )
    token = admin.create("/api/v1/namespaces/kyma-system/serviceaccounts/viewer/token", {})["status"]["token"]
    client = Kube(admin.access, token=token)
    yield client
    client.close()


def test_rbac_allows_what_the_binding_grants_and_discovery(viewer: Kube) -> None:
    assert viewer.get("/api/v1/namespaces/default/pods").status_code == 200
    assert viewer.get("/api").status_code == 200  # discovery for every authenticated user


def test_rbac_forbidden_is_kubes_status_for_namespaced_named_and_cluster_requests(viewer: Kube) -> None:
    user = VIEWER
    denied = viewer.get("/api/v1/namespaces/kube-system/pods")
    assert denied.status_code == 403
    assert denied.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'pods is forbidden: {user} cannot list resource "pods" in API group "" in the namespace "kube-system"',
        "reason": "Forbidden",
        "details": {"kind": "pods"},
        "code": 403,
    }
    secret = viewer.get("/api/v1/namespaces/default/secrets/s1").json()
    assert secret["message"] == (
        f'secrets "s1" is forbidden: {user} cannot get resource "secrets" in API group "" in the namespace "default"'
    )
    assert secret["details"] == {"name": "s1", "kind": "secrets"}
    cluster = viewer.get("/apis/rbac.authorization.k8s.io/v1/clusterroles").json()
    assert cluster["message"] == (
        f"clusterroles.rbac.authorization.k8s.io is forbidden: {user} cannot list resource "
        '"clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope'
    )


def test_self_subject_access_review_answers_allowed_and_the_reason(viewer: Kube) -> None:
    review = viewer.post(
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        {"spec": {"resourceAttributes": {"namespace": "default", "verb": "delete", "resource": "pods"}}},
    )
    assert review.status_code == 201
    assert review.json()["status"] == {"allowed": False}
    allowed = viewer.post(
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        {"spec": {"resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"}}},
    ).json()["status"]
    assert allowed["allowed"] is True
    assert allowed["reason"].startswith('RBAC: allowed by RoleBinding "viewer/default" of ClusterRole "view"')


def test_a_binding_to_a_deleted_cluster_role_names_it_in_the_refusal(admin: Kube, viewer: Kube) -> None:
    assert viewer.get("/api/v1/namespaces/default/pods").status_code == 200
    admin.delete("/apis/rbac.authorization.k8s.io/v1/clusterroles/view")
    dangling = viewer.get("/api/v1/namespaces/default/pods").json()
    assert dangling["message"].endswith(': RBAC: clusterrole.rbac.authorization.k8s.io "view" not found')


def test_token_with_foreign_audience_is_refused(admin: Kube) -> None:
    reply = admin.create(
        "/api/v1/namespaces/default/serviceaccounts/default/token", {"spec": {"audiences": ["vault"]}}
    )
    assert reply["spec"]["audiences"] == ["vault"]
    assert Kube(admin.access, token=reply["status"]["token"]).get("/api").status_code == 401


def test_impersonation_is_authorized_then_evaluated_as_the_target(admin: Kube) -> None:
    as_bob = {"impersonate-user": "bob"}
    assert admin.get("/api/v1/namespaces/default/pods", headers=as_bob).status_code == 403
    admin.create(
        "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
        {
            "metadata": {"name": "bob-view"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "bob"}],
        },
    )
    assert admin.get("/api/v1/namespaces/default/pods", headers=as_bob).status_code == 200
    token = binding_token(admin, "kyma-binding-imp")
    admin.delete("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/kyma-binding-imp")
    denied = Kube(admin.access, token=token).get("/api/v1/namespaces/default/pods", headers=as_bob)
    assert denied.status_code == 403
    assert denied.json()["message"] == (
        'users "bob" is forbidden: User "system:serviceaccount:kyma-system:kyma-binding-imp" cannot impersonate '
        'resource "users" in API group "" at the cluster scope'
    )
