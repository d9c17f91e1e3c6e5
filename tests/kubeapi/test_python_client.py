"""The official ``kubernetes`` Python client (v37, strict pydantic models) against the embedded API."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client, config, watch

from kymaprov.backends.base import ClusterAccess
from tests.kubeapi.conftest import write_kubeconfig


@pytest.fixture
def api(tmp_path: Path, access: ClusterAccess) -> client.ApiClient:
    return config.new_client_from_config(str(write_kubeconfig(tmp_path / "kubeconfig", access)))


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


def test_python_client_lists_the_seeded_namespaces_and_deployments(
    api: client.ApiClient, core: client.CoreV1Api
) -> None:
    names = [n.metadata.name for n in core.list_namespace().items if n.metadata is not None]
    assert {"default", "kube-system", "kyma-system"} <= set(names)
    deployments = client.AppsV1Api(api).list_namespaced_deployment("kyma-system").items
    assert {d.metadata.name for d in deployments if d.metadata is not None} >= {
        "istio-controller-manager",
        "btp-manager-controller-manager",
    }
    assert core.list_namespaced_pod("default").items == []


def test_python_client_creates_patches_watches_and_deletes_a_pod(core: client.CoreV1Api) -> None:
    pod = core.create_namespaced_pod(
        "default",
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="py1"),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="nginx")]),
        ),
    )
    assert pod.status is not None and pod.status.phase == "Pending"
    assert pod.metadata is not None and pod.metadata.creation_timestamp is not None
    patched = core.patch_namespaced_pod("py1", "default", {"metadata": {"labels": {"x": "y"}}})
    assert patched.metadata is not None and patched.metadata.labels == {"x": "y"}
    events = [e["type"] for e in watch.Watch().stream(core.list_namespaced_pod, "default", timeout_seconds=1)]
    assert events[0] == "ADDED" and set(events) <= {"ADDED", "MODIFIED"}  # scheduled, started...
    # a bound pod waits for its kubelet unless deleted with grace 0 (kubectl delete --force)
    deleted = core.delete_namespaced_pod("py1", "default", grace_period_seconds=0)
    assert deleted.metadata is not None and deleted.metadata.name == "py1"
    with pytest.raises(client.ApiException) as missing:
        core.read_namespaced_pod("py1", "default")
    assert missing.value.status == 404


def test_python_client_self_subject_access_review_allows_the_admin(api: client.ApiClient) -> None:
    review = client.AuthorizationV1Api(api).create_self_subject_access_review(
        client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    namespace="default", verb="list", resource="pods"
                )
            )
        )
    )
    assert review.status is not None and review.status.allowed is True


def test_python_client_token_request_for_a_service_account(core: client.CoreV1Api) -> None:
    token = core.create_namespaced_service_account_token(
        "default",
        "default",
        client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
        ),
    )
    assert token.status is not None
    assert token.status.token and token.status.expiration_timestamp is not None


def test_python_client_lists_cluster_roles(api: client.ApiClient) -> None:
    roles = client.RbacAuthorizationV1Api(api).list_cluster_role().items
    assert "cluster-admin" in {r.metadata.name for r in roles if r.metadata is not None}
