"""Wire-level behaviour of the embedded API: discovery, CRUD semantics, Tables, errors, TokenRequest."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from tests.kubeapi.conftest import Kube, KubeServer

AGG = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
CM = "/api/v1/namespaces/default/configmaps"


def test_version_and_legacy_core_group(admin: Kube) -> None:
    assert admin.get("/version").json()["gitVersion"].startswith("v1.")
    legacy = admin.get("/api").json()
    assert legacy["kind"] == "APIVersions" and legacy["versions"] == ["v1"]
    assert legacy["serverAddressByClientCIDRs"]


def test_aggregated_discovery(admin: Kube) -> None:
    aggregated = admin.get("/apis", headers={"accept": AGG})
    assert (
        aggregated.headers["content-type"]
        == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    )
    groups = {item["metadata"]["name"] for item in aggregated.json()["items"]}
    assert {"apps", "rbac.authorization.k8s.io", "authorization.k8s.io", "authentication.k8s.io"} <= groups
    core = admin.get("/api", headers={"accept": AGG}).json()
    assert [i["metadata"]["name"] for i in core["items"]] == [""]


def test_resource_lists_name_subresources_and_scope(admin: Kube) -> None:
    resources = admin.get("/api/v1").json()["resources"]
    names = {r["name"]: r for r in resources}
    assert names["pods"]["namespaced"] is True and names["namespaces"]["namespaced"] is False
    assert names["serviceaccounts/token"]["group"] == "authentication.k8s.io"
    assert names["serviceaccounts/token"]["kind"] == "TokenRequest"
    assert "pods/status" in names
    assert admin.get("/apis/apps").json()["preferredVersion"]["groupVersion"] == "apps/v1"
    assert admin.get("/apis/apps/v1").json()["groupVersion"] == "apps/v1"


def test_openapi_v3_index_and_group_document_and_v2(admin: Kube) -> None:
    root = admin.get("/openapi/v3").json()["paths"]
    assert root["apis/apps/v1"]["serverRelativeURL"].startswith("/openapi/v3/apis/apps/v1?hash=")
    doc = admin.get("/openapi/v3/apis/apps/v1").json()
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    assert admin.get("/openapi/v2").json()["swagger"] == "2.0"


def test_unknown_group_is_404_with_kubes_message(admin: Kube) -> None:
    missing = admin.get("/apis/nope.example.com/v1/things")
    assert missing.status_code == 404
    assert missing.json()["message"] == "the server could not find the requested resource"


@pytest.fixture
def cm1(admin: Kube) -> dict[str, Any]:
    """ConfigMap ``cm1`` (label a=b, data k=v) in ``default``, as the create answered it."""
    return admin.create(
        CM, {"metadata": {"name": "cm1", "creationTimestamp": None, "labels": {"a": "b"}}, "data": {"k": "v"}}
    )


def test_create_answers_the_stored_object(cm1: dict[str, Any]) -> None:
    meta = cm1["metadata"]
    assert (cm1["kind"], cm1["apiVersion"]) == ("ConfigMap", "v1")
    assert meta["namespace"] == "default" and meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert int(meta["resourceVersion"]) > 0


def test_create_of_an_existing_name_is_409_already_exists(admin: Kube, cm1: dict[str, Any]) -> None:
    duplicate = admin.post(CM, {"metadata": {"name": "cm1"}})
    assert duplicate.status_code == 409
    assert duplicate.json()["reason"] == "AlreadyExists"
    assert duplicate.json()["message"] == 'configmaps "cm1" already exists'


def test_update_with_a_stale_resource_version_is_409_conflict(admin: Kube, cm1: dict[str, Any]) -> None:
    updated = admin.request("PUT", f"{CM}/cm1", json={**cm1, "data": {"k": "v2"}})
    assert updated.status_code == 200, updated.text
    assert int(updated.json()["metadata"]["resourceVersion"]) > int(cm1["metadata"]["resourceVersion"])
    stale = admin.request("PUT", f"{CM}/cm1", json={**cm1, "data": {"k": "v3"}})
    assert stale.status_code == 409
    assert stale.json()["reason"] == "Conflict"
    assert stale.json()["message"] == (
        'Operation cannot be fulfilled on configmaps "cm1": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert stale.json()["details"] == {"name": "cm1", "kind": "configmaps"}
    assert admin.get(CM, params={"fieldSelector": "metadata.name=cm1"}).json()["items"][0]["data"] == {
        "k": "v2"
    }


def test_lists_filter_by_label_and_field_selectors(admin: Kube, cm1: dict[str, Any]) -> None:
    listed = admin.get(CM, params={"labelSelector": "a in (b,c),!missing"}).json()
    assert listed["kind"] == "ConfigMapList" and listed["apiVersion"] == "v1"
    assert [i["metadata"]["name"] for i in listed["items"]] == ["cm1"]
    # every namespace also has kube-root-ca.crt (kube-controller-manager's root CA publisher)
    mine = "metadata.name!=kube-root-ca.crt"
    assert admin.get(CM, params={"labelSelector": "a!=b", "fieldSelector": mine}).json()["items"] == []
    assert admin.get(CM, params={"fieldSelector": "metadata.name=cm1"}).json()["items"][0]["data"] == {
        "k": "v"
    }
    everywhere = admin.get(
        "/api/v1/configmaps", params={"fieldSelector": f"metadata.namespace=default,{mine}"}
    ).json()
    assert [i["metadata"]["name"] for i in everywhere["items"]] == ["cm1"]


def test_delete_answers_success_and_the_object_is_then_404(admin: Kube, cm1: dict[str, Any]) -> None:
    deleted = admin.delete(f"{CM}/cm1")
    assert deleted.status_code == 200
    assert (
        deleted.json()["status"] == "Success" and deleted.json()["details"]["uid"] == cm1["metadata"]["uid"]
    )
    gone = admin.get(f"{CM}/cm1")
    assert gone.status_code == 404
    assert gone.json()["details"] == {"name": "cm1", "kind": "configmaps"}


def test_not_found_in_a_named_group_names_the_group(admin: Kube) -> None:
    deployment = admin.get("/apis/apps/v1/namespaces/default/deployments/web").json()
    assert deployment["message"] == 'deployments.apps "web" not found'
    assert deployment["details"] == {"name": "web", "group": "apps", "kind": "deployments"}


POD = "/api/v1/namespaces/default/pods/p1"
Patch = Callable[[str, Any], dict[str, Any]]


@pytest.fixture
def patch(admin: Kube) -> Patch:
    """Pod ``p1`` (containers a: nginx, b: busybox) made; ``patch(kind, body)`` patches it, expecting 200."""
    pod = {
        "metadata": {"name": "p1"},
        "spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "busybox"}]},
    }
    created = admin.create("/api/v1/namespaces/default/pods", pod)
    assert created["status"]["phase"] == "Pending"

    def patch(kind: str, body: Any) -> dict[str, Any]:
        r = admin.request(
            "PATCH", POD, content=json.dumps(body), headers={"content-type": f"application/{kind}"}
        )
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()
        return result

    return patch


def test_strategic_merge_patch_merges_containers_by_name(patch: Patch) -> None:
    smp = patch("strategic-merge-patch+json", {"spec": {"containers": [{"name": "b", "image": "busybox:2"}]}})
    assert [(c["name"], c["image"]) for c in smp["spec"]["containers"]] == [
        ("a", "nginx"),
        ("b", "busybox:2"),
    ]


def test_strategic_merge_patch_delete_directive_removes_a_container(patch: Patch) -> None:
    deleted = patch(
        "strategic-merge-patch+json", {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}
    )
    assert [c["name"] for c in deleted["spec"]["containers"]] == ["b"]


def test_merge_patch_sets_and_null_removes_a_label(patch: Patch) -> None:
    merge = patch("merge-patch+json", {"metadata": {"labels": {"x": "1"}}})
    assert merge["metadata"]["labels"] == {"x": "1"}
    removed = patch("merge-patch+json", {"metadata": {"labels": {"x": None}}})
    assert removed["metadata"].get("labels", {}) == {}


def test_json_patch_adds_annotations(patch: Patch) -> None:
    json_patch = patch(
        "json-patch+json", [{"op": "add", "path": "/metadata/annotations", "value": {"n": "v"}}]
    )
    assert json_patch["metadata"]["annotations"] == {"n": "v"}


def test_json_patch_failing_test_op_is_422_and_unknown_patch_type_415(admin: Kube, patch: Patch) -> None:
    failing = admin.request(
        "PATCH", POD, content='[{"op":"test","path":"/metadata/name","value":"x"}]',
        headers={"content-type": "application/json-patch+json"},
    )  # fmt: skip
    assert failing.status_code == 422
    unsupported = admin.request("PATCH", POD, content="{}", headers={"content-type": "text/plain"})
    assert unsupported.status_code == 415


def test_status_subresource_patch_and_pod_delete_answers_the_pod(admin: Kube, patch: Patch) -> None:
    status = admin.request(
        "PATCH", f"{POD}/status", content='{"status":{"phase":"Running"}}',
        headers={"content-type": "application/merge-patch+json"},
    )  # fmt: skip
    assert status.json()["status"]["phase"] == "Running"
    removed_pod = admin.delete(POD).json()
    assert removed_pod["kind"] == "Pod" and removed_pod["metadata"]["name"] == "p1"


JSON = {"content-type": "application/json"}


def test_malformed_and_too_deep_json_is_400_bad_request(admin: Kube) -> None:
    bad = admin.request("POST", CM, content=b"{not json", headers=JSON)
    assert bad.status_code == 400
    assert bad.json()["reason"] == "BadRequest" and bad.json()["kind"] == "Status"
    deep = admin.request("POST", CM, content=b"[" * 100_000 + b"]" * 100_000, headers=JSON)
    assert deep.status_code == 400 and deep.json()["reason"] == "BadRequest"


def test_a_body_over_3_mib_is_413(admin: Kube) -> None:
    huge = admin.request("POST", CM, content=b" " * (3 * 1024 * 1024 + 1), headers=JSON)
    assert huge.status_code == 413
    assert huge.json()["reason"] == "RequestEntityTooLarge"
    assert huge.json()["message"] == "Request entity too large: limit is 3145728"


def test_wrongly_typed_fields_and_non_objects_are_400(admin: Kube) -> None:
    wrong_type = admin.post(CM, {"metadata": {"name": "x", "labels": {"a": 1}}})
    assert wrong_type.status_code == 400
    assert wrong_type.json()["message"].startswith(
        'ConfigMap in version "v1" cannot be handled as a ConfigMap'
    )
    not_object = admin.post(CM, ["a"])
    assert not_object.status_code == 400


def test_create_in_a_missing_namespace_is_404(admin: Kube) -> None:
    no_ns = admin.post("/api/v1/namespaces/nope/configmaps", {"metadata": {"name": "x"}})
    assert no_ns.status_code == 404 and no_ns.json()["message"] == 'namespaces "nope" not found'


def test_invalid_or_missing_names_are_422_and_generate_name_makes_one(admin: Kube) -> None:
    invalid = admin.post(CM, {"metadata": {"name": "Bad_Name"}})
    assert invalid.status_code == 422
    assert invalid.json()["details"]["causes"][0]["field"] == "metadata.name"
    nameless = admin.post(CM, {"metadata": {}})
    assert nameless.json()["message"] == (
        'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required'
    )
    generated = admin.create(CM, {"metadata": {"generateName": "gen-"}})
    assert generated["metadata"]["name"].startswith("gen-") and len(generated["metadata"]["name"]) == 9


def test_a_body_without_content_type_is_read_as_json(admin: Kube) -> None:
    no_content_type = admin.request("POST", CM, content=b'{"metadata":{"name":"plain"}}')
    assert no_content_type.status_code == 201


def test_bad_selectors_are_400_and_put_on_a_collection_405(admin: Kube) -> None:
    assert admin.get(CM, params={"labelSelector": "a in (b"}).status_code == 400
    assert admin.get(CM, params={"fieldSelector": "spec.foo=bar"}).status_code == 400
    assert admin.request("PUT", "/api/v1/namespaces/default/configmaps", json={}).status_code == 405


def test_a_negative_replica_count_is_422_with_kubes_message(admin: Kube) -> None:
    deployment = admin.post(
        "/apis/apps/v1/namespaces/default/deployments",
        {"metadata": {"name": "d"}, "spec": {"replicas": -1, "selector": {"matchLabels": {"a": "b"}},
         "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}},
    )  # fmt: skip
    assert deployment.status_code == 422
    assert deployment.json()["message"] == (
        'Deployment.apps "d" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'
    )


def test_namespace_defaults_and_cascade(admin: Kube) -> None:
    namespace = admin.create("/api/v1/namespaces", {"metadata": {"name": "team"}})
    assert namespace["status"]["phase"] == "Active"
    admin.create("/api/v1/namespaces/team/configmaps", {"metadata": {"name": "c"}})
    deleted = admin.delete("/api/v1/namespaces/team").json()
    assert deleted["kind"] == "Namespace" and deleted["status"]["phase"] == "Terminating"
    deadline = time.monotonic() + 10  # the namespace controller empties it, then it goes
    while admin.get("/api/v1/namespaces/team").status_code != 404:
        assert time.monotonic() < deadline, "the namespace was not deleted"
        time.sleep(0.05)
    assert admin.get("/api/v1/namespaces/team/configmaps/c").status_code == 404


def test_pod_table_columns_and_rows(admin: Kube) -> None:
    admin.create(
        "/api/v1/namespaces/default/pods",
        {"metadata": {"name": "t"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
    )
    pods = admin.get("/api/v1/namespaces/default/pods", headers={"accept": TABLE}).json()
    assert pods["kind"] == "Table" and pods["apiVersion"] == "meta.k8s.io/v1"
    assert pods["metadata"]["resourceVersion"]
    columns = [(c["name"], c["priority"]) for c in pods["columnDefinitions"]]
    assert columns[:7] == [
        ("Name", 0),
        ("Ready", 0),
        ("Status", 0),
        ("Restarts", 0),
        ("Age", 0),
        ("IP", 1),
        ("Node", 1),
    ]
    row = pods["rows"][0]
    assert row["cells"][1:4] == ["0/1", "Pending", "0"]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["namespace"] == "default"


def test_namespace_and_cluster_role_tables(admin: Kube) -> None:
    namespaces = admin.get("/api/v1/namespaces", headers={"accept": TABLE}).json()
    assert [c["name"] for c in namespaces["columnDefinitions"]] == ["Name", "Status", "Age"]
    roles = admin.get(
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/view", headers={"accept": TABLE}
    ).json()
    assert [c["name"] for c in roles["columnDefinitions"]] == ["Name", "Created At"]
    assert len(roles["rows"]) == 1


TOKEN = "/api/v1/namespaces/kyma-system/serviceaccounts/default/token"


def test_token_request_issues_a_service_account_jwt(kube_server: KubeServer, admin: Kube) -> None:
    reply = admin.create(
        TOKEN, {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    )
    assert reply["kind"] == "TokenRequest" and reply["spec"]["expirationSeconds"] == 3600
    token = reply["status"]["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    account = admin.get("/api/v1/namespaces/kyma-system/serviceaccounts/default").json()
    assert claims["iss"] == "https://kubernetes.default.svc.cluster.local"
    assert claims["aud"] == ["https://kubernetes.default.svc.cluster.local"]
    assert claims["sub"] == "system:serviceaccount:kyma-system:default"
    assert claims["kubernetes.io"] == {
        "namespace": "kyma-system",
        "serviceaccount": {"name": "default", "uid": account["metadata"]["uid"]},
    }
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - kube_server.ctx.clock.now()) < 5
    expiry = reply["status"]["expirationTimestamp"]
    assert len(expiry) == 20 and expiry.endswith("Z")
    assert base64.b64decode(admin.access.ca_data).startswith(b"-----BEGIN CERTIFICATE-----")


def test_token_request_shorter_than_10_minutes_is_422(admin: Kube) -> None:
    short = admin.post(TOKEN, {"spec": {"expirationSeconds": 60}})
    assert short.status_code == 422
    assert short.json()["message"] == (
        'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: '
        "Invalid value: 60: may not specify a duration less than 10 minutes"
    )


def test_token_request_for_a_missing_service_account_is_404(admin: Kube) -> None:
    missing = admin.post("/api/v1/namespaces/kyma-system/serviceaccounts/ghost/token", {})
    assert missing.status_code == 404
    assert missing.json()["message"] == 'serviceaccounts "ghost" not found'


def test_dry_run_does_not_persist(admin: Kube) -> None:
    r = admin.post(CM, {"metadata": {"name": "dry"}}, params={"dryRun": "All"})
    assert r.status_code == 201 and r.json()["metadata"]["uid"]
    assert admin.get(f"{CM}/dry").status_code == 404


def test_dry_run_answers_with_the_stored_resource_version(admin: Kube) -> None:
    """As kube-apiserver's dry-run storage: a create has no resourceVersion, an update keeps the stored one
    (``kubectl diff`` would otherwise show a resourceVersion change for every object)."""
    created = admin.post(CM, {"metadata": {"name": "dry"}}, params={"dryRun": "All"}).json()
    assert "resourceVersion" not in created["metadata"]
    stored = admin.create(CM, {"metadata": {"name": "real"}, "data": {"a": "1"}})["metadata"][
        "resourceVersion"
    ]
    r = admin.request(
        "PATCH", f"{CM}/real", params={"dryRun": "All"}, content=b'{"data":{"a":"2"}}',
        headers={"content-type": "application/merge-patch+json"},
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["data"] == {"a": "2"}
    assert r.json()["metadata"]["resourceVersion"] == stored
    assert admin.get(f"{CM}/real").json()["data"] == {"a": "1"}
