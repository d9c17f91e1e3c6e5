"""The official ``kubernetes`` Python client (v37, strict pydantic models) against the embedded API."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client, config, watch

from kymaprov.backends.base import ClusterAccess
from tests.kubeapi.conftest import write_kubeconfig


def test_python_client(tmp_path: Path, access: ClusterAccess) -> None:
    api = config.new_client_from_config(str(write_kubeconfig(tmp_path / "kubeconfig", access)))
    core = client.CoreV1Api(api)
    names = [n.metadata.name for n in core.list_namespace().items]
    assert {"default", "kube-system", "kyma-system"} <= set(names)
    deployments = client.AppsV1Api(api).list_namespaced_deployment("kyma-system").items
    assert {d.metadata.name for d in deployments} >= {
        "istio-controller-manager",
        "btp-manager-controller-manager",
    }
    assert core.list_namespaced_pod("default").items == []

    pod = core.create_namespaced_pod(
        "default", {"metadata": {"name": "py1"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    )
    assert pod.status.phase == "Pending" and pod.metadata.creation_timestamp is not None
    patched = core.patch_namespaced_pod("py1", "default", {"metadata": {"labels": {"x": "y"}}})
    assert patched.metadata.labels == {"x": "y"}
    events = [e["type"] for e in watch.Watch().stream(core.list_namespaced_pod, "default", timeout_seconds=1)]
    assert events[0] == "ADDED" and set(events) <= {"ADDED", "MODIFIED"}  # scheduled, started...

    review = client.AuthorizationV1Api(api).create_self_subject_access_review(
        client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    namespace="default", verb="list", resource="pods"
                )
            )
        )
    )
    assert review.status.allowed is True
    token = core.create_namespaced_service_account_token(
        "default",
        "default",
        client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
        ),
    )
    assert token.status.token and token.status.expiration_timestamp is not None
    # a bound pod waits for its kubelet unless deleted with grace 0 (kubectl delete --force)
    assert core.delete_namespaced_pod("py1", "default", grace_period_seconds=0).metadata.name == "py1"
    with pytest.raises(client.ApiException) as missing:
        core.read_namespaced_pod("py1", "default")
    assert missing.value.status == 404
    roles = client.RbacAuthorizationV1Api(api).list_cluster_role().items
    assert "cluster-admin" in {r.metadata.name for r in roles}
