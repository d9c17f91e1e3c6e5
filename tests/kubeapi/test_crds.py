"""CustomResourceDefinitions against the real server: kubectl 1.27/1.30/1.33, raw HTTP and the Python client."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kymaprov.backends.base import ClusterAccess
from tests.conftest import requires_postgres
from tests.kubeapi.conftest import Kube, Kubectl, KubeServer, write_kubeconfig

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {
                    "status": {},
                    "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"},
                },
                "additionalPrinterColumns": [
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                    {"name": "Color", "type": "string", "jsonPath": ".spec.color"},
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                ],
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "description": "The widget's desired state.",
                                "required": ["color"],
                                "properties": {
                                    "replicas": {
                                        "type": "integer",
                                        "minimum": 0,
                                        "maximum": 10,
                                        "default": 1,
                                        "description": "How many widgets to run.",
                                    },
                                    "color": {"type": "string", "enum": ["red", "blue"]},
                                    "name": {"type": "string", "maxLength": 8, "pattern": "^[a-z]+$"},
                                    "port": {"x-kubernetes-int-or-string": True},
                                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                    "note": {"type": "string", "nullable": True},
                                },
                            },
                            "status": {
                                "type": "object",
                                "properties": {"replicas": {"type": "integer"}, "phase": {"type": "string"}},
                            },
                        },
                    }
                },
            }
        ],
    },
}


def widget(object_name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": object_name}, "spec": spec}


def wait_for(what: str, check: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# --- kubectl ------------------------------------------------------------------------------------------


class WidgetsKubectl:
    """A kubectl of one version on a fresh cluster where it applied WIDGET_CRD and waited for it."""

    def __init__(self, tmp_path: Path, access: ClusterAccess, version: str) -> None:
        self.tmp_path, self.access, self.version = tmp_path, access, version
        self.kubectl = Kubectl(tmp_path, access, version=version)
        self.crd_file = tmp_path / "crd.yaml"
        self.crd_file.write_text(yaml.safe_dump(WIDGET_CRD))
        self.applied = self.kubectl("apply", "-f", str(self.crd_file))
        assert self.applied.returncode == 0, self.applied.stderr
        self.waited = self.kubectl(
            "wait", "--for", "condition=established", "--timeout=20s", "crd/widgets.example.com"
        )
        assert self.waited.returncode == 0, self.waited.stderr

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.kubectl(*args)

    def apply(self, *args: str, **spec: Any) -> subprocess.CompletedProcess[str]:
        """Write widget ``w1`` with ``spec`` to a file and ``kubectl apply`` it (``args`` go before -f)."""
        manifest = self.tmp_path / "w1.yaml"
        manifest.write_text(yaml.safe_dump(widget("w1", **spec)))
        return self.kubectl("apply", *args, "-f", str(manifest))


@pytest.fixture(params=("1.27", "1.30", "1.33"))
def widgets_kubectl(request: pytest.FixtureRequest, tmp_path: Path, access: ClusterAccess) -> WidgetsKubectl:
    return WidgetsKubectl(tmp_path, access, request.param)


def test_kubectl_applies_a_crd_and_waits_until_established(widgets_kubectl: WidgetsKubectl) -> None:
    applied, waited = widgets_kubectl.applied, widgets_kubectl.waited
    assert "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created" in applied.stdout
    assert "condition met" in waited.stdout


def test_kubectl_lists_custom_resources_with_printer_columns_and_short_name(
    widgets_kubectl: WidgetsKubectl,
) -> None:
    kubectl = widgets_kubectl
    created = kubectl.apply(color="red", replicas=3)
    assert created.returncode == 0, created.stderr
    assert "widget.example.com/w1 created" in created.stdout
    listed = kubectl("get", "widgets")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.strip().splitlines()
    assert header.split() == ["NAME", "REPLICAS", "COLOR", "PHASE"]
    assert rows[0].split() == ["w1", "3", "red"]  # no phase yet: a null cell, printed blank
    short = kubectl("get", "wd", "w1", "-o", "jsonpath={.spec.replicas}")
    assert (short.returncode, short.stdout) == (0, "3"), short.stderr


def test_kubectl_reapply_of_a_changed_custom_resource_configures_it(widgets_kubectl: WidgetsKubectl) -> None:
    kubectl = widgets_kubectl
    assert kubectl.apply(color="red", replicas=3).returncode == 0
    # a second apply of the same file with a change: client-side apply's merge patch
    reapplied = kubectl.apply(color="blue", replicas=3)
    assert reapplied.returncode == 0, reapplied.stderr
    assert "widget.example.com/w1 configured" in reapplied.stdout
    assert kubectl("get", "wd", "w1", "-o", "jsonpath={.spec.color}").stdout == "blue"


def test_kubectl_shows_the_schemas_errors(widgets_kubectl: WidgetsKubectl, tmp_path: Path) -> None:
    kubectl = widgets_kubectl
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(widget("w2", color="red", replicas="three")))
    refused = kubectl("apply", "-f", str(bad))
    assert refused.returncode == 1
    assert (
        'The Widget "w2" is invalid: spec.replicas: Invalid value: "string": '
        'spec.replicas in body must be of type integer: "string"' in refused.stderr
    ), refused.stderr
    bad.write_text(yaml.safe_dump(widget("w2", replicas=2)))
    missing = kubectl("create", "-f", str(bad))
    assert missing.returncode == 1
    assert 'The Widget "w2" is invalid: spec.color: Required value' in missing.stderr, missing.stderr
    bad.write_text(yaml.safe_dump(widget("w2", color="red", replicaz=2)))
    unknown = kubectl("create", "--validate=strict", "-f", str(bad))
    assert unknown.returncode == 1
    assert 'unknown field "spec.replicaz"' in unknown.stderr, unknown.stderr


def test_kubectl_explain_shows_the_crds_schema(widgets_kubectl: WidgetsKubectl) -> None:
    explained = widgets_kubectl("explain", "widget.spec")
    assert explained.returncode == 0, explained.stderr
    assert "replicas" in explained.stdout and "How many widgets to run." in explained.stdout


def test_kubectl_patches_the_status_subresource_and_scales(widgets_kubectl: WidgetsKubectl) -> None:
    kubectl = widgets_kubectl
    assert kubectl.apply(color="blue", replicas=3).returncode == 0
    status = kubectl(
        "patch", "widget", "w1", "--subresource=status", "--type=merge", "-p", '{"status":{"phase":"Ready"}}'
    )
    assert status.returncode == 0, status.stderr
    phase = kubectl("get", "widgets", "w1")
    assert phase.stdout.strip().splitlines()[1].split() == ["w1", "3", "blue", "Ready"]
    scaled = kubectl("scale", "widget/w1", "--replicas=5")
    assert scaled.returncode == 0, scaled.stderr
    assert kubectl("get", "wd", "w1", "-o", "jsonpath={.spec.replicas}").stdout == "5"


def test_kubectl_after_the_crd_is_deleted_a_stale_cache_lists_404_a_fresh_one_knows_no_type(
    widgets_kubectl: WidgetsKubectl,
) -> None:
    kubectl = widgets_kubectl
    assert kubectl.apply(color="red").returncode == 0
    assert kubectl("get", "widgets").returncode == 0  # discovery now cached
    deleted = kubectl("delete", "-f", str(kubectl.crd_file))
    assert deleted.returncode == 0, deleted.stderr
    stale = kubectl("get", "widgets")  # kubectl trusts its discovery cache (6 h), so the list is a 404
    assert stale.returncode == 1
    assert 'Unable to list "example.com/v1, Resource=widgets": the server could not find' in stale.stderr
    gone = Kubectl(kubectl.tmp_path, kubectl.access, version=kubectl.version)(
        "get", "widgets"
    )  # a fresh cache
    assert gone.returncode == 1
    assert 'the server doesn\'t have a resource type "widgets"' in gone.stderr, gone.stderr


# --- the API ------------------------------------------------------------------------------------------


def test_crd_validation_names_each_invalid_field_as_kube_does(admin: Kube) -> None:
    bad = json.loads(json.dumps(WIDGET_CRD))
    bad["metadata"]["name"] = "gadgets.example.com"
    bad["spec"]["group"] = "example"
    bad["spec"]["scope"] = "Global"
    bad["spec"]["versions"][0]["storage"] = False
    del bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["type"]
    r = admin.post(CRDS, bad)
    assert r.status_code == 422, r.text
    status = r.json()
    assert status["reason"] == "Invalid"
    assert status["details"]["kind"] == "CustomResourceDefinition"
    fields = {c["field"]: c["message"] for c in status["details"]["causes"]}
    assert (
        fields["metadata.name"]
        == 'Invalid value: "gadgets.example.com": must be spec.names.plural+"."+spec.group'
    )
    assert fields["spec.group"] == 'Invalid value: "example": should be a domain with at least one dot'
    assert fields["spec.scope"] == 'Unsupported value: "Global": supported values: "Cluster", "Namespaced"'
    assert fields["spec.versions"].endswith("must have exactly one version marked as storage version")
    assert (
        fields["spec.versions[0].schema.openAPIV3Schema.properties[spec].type"]
        == "Required value: must not be empty for specified object fields"
    )
    assert admin.get("/apis/example.com/v1").status_code == 404  # nothing was stored


def test_a_crd_without_a_schema_is_422(admin: Kube) -> None:
    no_schema = json.loads(json.dumps(WIDGET_CRD))
    del no_schema["spec"]["versions"][0]["schema"]
    r = admin.post(CRDS, no_schema)
    assert r.status_code == 422
    assert r.json()["details"]["causes"] == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value: schemas are required",
            "field": "spec.versions[0].schema.openAPIV3Schema",
        }
    ]
    assert admin.get("/apis/example.com/v1").status_code == 404  # nothing was stored


def test_a_crd_default_of_the_wrong_type_is_422(admin: Kube) -> None:
    bad_default = json.loads(json.dumps(WIDGET_CRD))
    spec_schema = bad_default["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec_schema["properties"]["replicas"]["default"] = "one"
    r = admin.post(CRDS, bad_default)
    assert r.status_code == 422
    assert r.json()["details"]["causes"] == [
        {
            "reason": "FieldValueTypeInvalid",
            "message": 'Invalid value: "string": spec.replicas in body must be of type integer: "string"',
            "field": "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[replicas].default",
        }
    ]
    assert admin.get("/apis/example.com/v1").status_code == 404  # nothing was stored


def test_established_crd_serves_its_resources_to_its_runtime_only(
    kube_server: KubeServer, admin: Kube
) -> None:
    crd = admin.create(CRDS, WIDGET_CRD)
    conditions = {c["type"]: c for c in crd["status"]["conditions"]}
    assert conditions["Established"]["status"] == "True"
    assert conditions["NamesAccepted"]["reason"] == "NoConflicts"
    assert crd["status"]["acceptedNames"]["shortNames"] == ["wd"]
    assert crd["status"]["storedVersions"] == ["v1"]

    created = admin.create(WIDGETS, widget("w1", color="red", port="http", extra={"any": {"thing": 1}}))
    assert created["spec"]["replicas"] == 1  # defaulted
    assert created["spec"]["extra"] == {"any": {"thing": 1}}  # preserved
    assert created["metadata"]["generation"] == 1

    other = Kube(kube_server.cluster("other"))
    try:
        assert other.get(WIDGETS).status_code == 404
        assert other.get("/apis/example.com/v1").status_code == 404
        groups = other.get("/apis").json()["groups"]
        assert "example.com" not in [g["name"] for g in groups]
    finally:
        other.close()

    groups = admin.get("/apis").json()["groups"]
    assert {"name": "example.com", "versions": [{"groupVersion": "example.com/v1", "version": "v1"}],
            "preferredVersion": {"groupVersion": "example.com/v1", "version": "v1"}} in groups  # fmt: skip
    aggregated = admin.get(
        "/apis", headers={"accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"}
    ).json()
    entry = next(i for i in aggregated["items"] if i["metadata"]["name"] == "example.com")
    resource = entry["versions"][0]["resources"][0]
    assert resource["resource"] == "widgets" and resource["shortNames"] == ["wd"]
    assert {s["subresource"] for s in resource["subresources"]} == {"status", "scale"}


def test_custom_resource_schema_validation_and_pruning(admin: Kube) -> None:
    admin.create(CRDS, WIDGET_CRD)
    r = admin.post(WIDGETS, widget("w2", color="pink", replicas=11, name="TooLongName", port=1.5))
    assert r.status_code == 422, r.text
    causes = {c["field"]: (c["reason"], c["message"]) for c in r.json()["details"]["causes"]}
    assert causes["spec.color"] == (
        "FieldValueNotSupported",
        'Unsupported value: "pink": supported values: "red", "blue"',
    )
    assert causes["spec.replicas"] == (
        "FieldValueInvalid",
        "Invalid value: 11: spec.replicas in body should be less than or equal to 10",
    )
    names = [c for c in r.json()["details"]["causes"] if c["field"] == "spec.name"]
    assert [c["reason"] for c in names] == ["FieldValueTooLong", "FieldValueInvalid"]
    assert names[1]["message"] == "Invalid value: \"TooLongName\": spec.name in body should match '^[a-z]+$'"
    assert causes["spec.port"] == (
        "FieldValueTypeInvalid",
        'Invalid value: "number": spec.port in body must be of type integer,string: "number"',
    )
    strict = admin.post(WIDGETS, widget("w3", color="red", bogus=1), params={"fieldValidation": "Strict"})
    assert strict.status_code == 400
    assert strict.json()["message"] == (
        'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.bogus"'
    )
    warned = admin.post(WIDGETS, widget("w3", color="red", bogus=1, note=None))
    assert warned.status_code == 201
    assert warned.headers.get_list("warning") == ['299 - "unknown field \\"spec.bogus\\""']
    assert "bogus" not in warned.json()["spec"]


@pytest.fixture
def w1(admin: Kube) -> dict[str, Any]:
    """WIDGET_CRD and widget ``w1`` (red) created with a status the create must ignore; the create's answer."""
    admin.create(CRDS, WIDGET_CRD)
    return admin.create(WIDGETS, {**widget("w1", color="red"), "status": {"phase": "Ignored"}})


def _put_status(admin: Kube, w1: dict[str, Any]) -> httpx.Response:
    """PUT w1's status subresource with a changed spec (ignored there) and status Ready, 2 replicas."""
    return admin.request(
        "PUT",
        f"{WIDGETS}/w1/status",
        json={**w1, "spec": {"color": "blue"}, "status": {"phase": "Ready", "replicas": 2}},
    )


def _merge_blue(admin: Kube) -> httpx.Response:
    return admin.request(
        "PATCH",
        f"{WIDGETS}/w1",
        content=b'{"spec":{"color":"blue"}}',
        headers={"content-type": "application/merge-patch+json"},
    )


def _ready_blue_w1_and_three_more(admin: Kube, w1: dict[str, Any]) -> None:
    """w1 made Ready through its status, then blue by a merge patch; p0, p1, p2 created."""
    assert _put_status(admin, w1).status_code == 200
    assert _merge_blue(admin).status_code == 200
    for i in range(3):
        admin.create(WIDGETS, widget(f"p{i}", color="red"))


def test_the_status_subresource_owns_status(admin: Kube, w1: dict[str, Any]) -> None:
    assert "status" not in w1  # the status subresource owns status
    status = _put_status(admin, w1)
    assert status.status_code == 200, status.text
    assert status.json()["spec"]["color"] == "red" and status.json()["status"]["phase"] == "Ready"


def test_custom_resources_refuse_strategic_merge_patch_and_protobuf(admin: Kube, w1: dict[str, Any]) -> None:
    smp = admin.request(
        "PATCH",
        f"{WIDGETS}/w1",
        content=b'{"spec":{"color":"blue"}}',
        headers={"content-type": "application/strategic-merge-patch+json"},
    )
    assert smp.status_code == 415
    assert smp.json()["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )
    protobuf = admin.request(
        "POST", WIDGETS, content=b"k8s\x00", headers={"content-type": "application/vnd.kubernetes.protobuf"}
    )
    assert protobuf.status_code == 415  # custom resources have no protobuf form


def test_a_spec_change_bumps_generation_and_scale_reads_spec_and_status(
    admin: Kube, w1: dict[str, Any]
) -> None:
    assert _put_status(admin, w1).status_code == 200
    merged = _merge_blue(admin)
    assert merged.status_code == 200 and merged.json()["metadata"]["generation"] == 2
    scale = admin.get(f"{WIDGETS}/w1/scale").json()
    assert (scale["kind"], scale["spec"], scale["status"]) == ("Scale", {"replicas": 1}, {"replicas": 2})


def test_custom_resources_page_and_print_their_columns(admin: Kube, w1: dict[str, Any]) -> None:
    _ready_blue_w1_and_three_more(admin, w1)
    page = admin.get(WIDGETS, params={"limit": 2}).json()
    assert len(page["items"]) == 2 and page["metadata"]["continue"]
    table = admin.get(WIDGETS, params={"limit": 10}, headers={"accept": TABLE}).json()
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Replicas", "Color", "Phase"]
    assert table["rows"][-1]["cells"] == ["w1", 1, "blue", "Ready"]


def test_a_watch_from_the_creation_sees_every_change_in_order(admin: Kube, w1: dict[str, Any]) -> None:
    _ready_blue_w1_and_three_more(admin, w1)
    with admin.client.stream(
        "GET",
        WIDGETS,
        params={"watch": "1", "resourceVersion": w1["metadata"]["resourceVersion"], "timeoutSeconds": "2"},
        extensions={"sni_hostname": admin.access.tls_server_name},
    ) as events:
        admin.delete(f"{WIDGETS}/p0")
        seen = [json.loads(line)["type"] for line in events.iter_lines() if line]
    assert seen == ["MODIFIED", "MODIFIED", "ADDED", "ADDED", "ADDED", "DELETED"]


def test_delete_collection_and_a_deleted_crd_takes_its_resources_along(
    admin: Kube, w1: dict[str, Any]
) -> None:
    for i in range(2):
        admin.create(WIDGETS, widget(f"p{i}", color="red"))
    collection = admin.delete(WIDGETS, params={"labelSelector": ""})
    assert collection.status_code == 200
    assert len(collection.json()["items"]) == 3
    admin.create(WIDGETS, widget("again", color="red"))
    admin.create("/api/v1/namespaces", {"metadata": {"name": "team"}})
    admin.create("/apis/example.com/v1/namespaces/team/widgets", widget("there", color="red"))
    assert len(admin.get("/apis/example.com/v1/widgets").json()["items"]) == 2
    assert admin.delete(f"{CRDS}/widgets.example.com").status_code == 200
    assert admin.get(WIDGETS).status_code == 404
    admin.create(CRDS, WIDGET_CRD)  # the resources went with the CRD: a new CRD starts empty
    assert admin.get("/apis/example.com/v1/widgets").json()["items"] == []


def test_openapi_documents_carry_the_schema(admin: Kube) -> None:
    admin.create(CRDS, WIDGET_CRD)
    root = admin.get("/openapi/v3").json()["paths"]
    url = root["apis/example.com/v1"]["serverRelativeURL"]
    document = admin.get(url).json()
    schema = document["components"]["schemas"]["com.example.v1.Widget"]
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "example.com", "kind": "Widget", "version": "v1"}
    ]
    assert schema["properties"]["spec"]["properties"]["replicas"]["maximum"] == 10
    patch = document["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in document["components"]["schemas"]
    v2 = admin.get("/openapi/v2").json()
    assert "com.example.v1.WidgetList" in v2["definitions"]
    assert "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}/status" in v2["paths"]


# --- the official Python client -----------------------------------------------------------------------


def test_python_client_custom_objects(tmp_path: Path, access: ClusterAccess) -> None:
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    api_client = k8s_config.new_client_from_config(config_file=str(write_kubeconfig(tmp_path / "kc", access)))
    k8s.ApiextensionsV1Api(api_client).create_custom_resource_definition(
        k8s.V1CustomResourceDefinition.model_validate(WIDGET_CRD)
    )
    custom = k8s.CustomObjectsApi(api_client)
    args = ("example.com", "v1", "default", "widgets")
    made = custom.create_namespaced_custom_object(*args, widget("py", color="red"))
    assert isinstance(made, dict)
    assert made["spec"] == {"color": "red", "replicas": 1}
    custom.patch_namespaced_custom_object(*args, "py", {"spec": {"replicas": 4}})
    custom.patch_namespaced_custom_object_status(*args, "py", {"status": {"phase": "Done"}})
    got = custom.get_namespaced_custom_object(*args, "py")
    assert isinstance(got, dict)
    assert (got["spec"]["replicas"], got["status"]["phase"]) == (4, "Done")
    listed = custom.list_namespaced_custom_object(*args)
    assert isinstance(listed, dict)
    assert [i["metadata"]["name"] for i in listed["items"]] == ["py"]
    with pytest.raises(k8s.ApiException) as refused:
        custom.create_namespaced_custom_object(*args, widget("bad", color="red", replicas=-1))
    assert refused.value.status == 422
    assert "spec.replicas in body should be greater than or equal to 0" in str(refused.value.body)
    custom.delete_namespaced_custom_object(*args, "py")
    emptied = custom.list_namespaced_custom_object(*args)
    assert isinstance(emptied, dict) and emptied["items"] == []


@requires_postgres
def test_replicas_on_postgres_serve_a_crd_made_on_the_other(
    tmp_path: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry comes from the database: replica b serves (and stops serving) what a's CRD says,
    after b has already cached the runtime's registry."""
    monkeypatch.setenv("KYMAPROV_SECRET_KEY", "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=")
    a = KubeServer(tmp_path / "a", postgres_database)
    b = KubeServer(tmp_path / "b", postgres_database)
    try:
        access = a.runtimes.create_cluster("pg-crd", "pg")
        b.runtimes.create_cluster("pg-crd", "pg")
        on_a = Kube(access)
        on_b = Kube(
            ClusterAccess(
                access.server.replace(str(a.kube_port), str(b.kube_port)),
                access.ca_data,
                access.token,
                access.tls_server_name,
            )
        )
        assert on_b.get(WIDGETS).status_code == 404  # b has looked (and cached) before the CRD exists
        on_a.create(CRDS, WIDGET_CRD)
        on_b.create(WIDGETS, widget("w1", color="red"))
        assert on_a.get(f"{WIDGETS}/w1").json()["spec"]["replicas"] == 1
        assert "example.com" in [g["name"] for g in on_b.get("/apis").json()["groups"]]
        assert on_b.delete(f"{CRDS}/widgets.example.com").status_code == 200
        assert on_a.get(WIDGETS).status_code == 404
        on_a.close()
        on_b.close()
    finally:
        a.stop()
        b.stop()
