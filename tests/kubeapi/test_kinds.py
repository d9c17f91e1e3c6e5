"""Every built-in kind of Kubernetes 1.33 from its published definitions, and validation as
kube-apiserver does it (types, unknown and duplicate fields per fieldValidation, names, immutables)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from kymaprov.backends.base import ClusterAccess
from tests.kubeapi.conftest import Kube, Kubectl

AGG = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"

# what `kubectl api-resources` lists on a kind cluster of 1.33 (no CRDs, no aggregated APIs)
REAL_133_RESOURCES = {
    "bindings", "componentstatuses", "configmaps", "endpoints", "events", "limitranges", "namespaces",
    "nodes", "persistentvolumeclaims", "persistentvolumes", "pods", "podtemplates",
    "replicationcontrollers", "resourcequotas", "secrets", "serviceaccounts", "services",
    "mutatingwebhookconfigurations", "validatingadmissionpolicies", "validatingadmissionpolicybindings",
    "validatingwebhookconfigurations", "customresourcedefinitions", "apiservices", "controllerrevisions",
    "daemonsets", "deployments", "replicasets", "statefulsets", "selfsubjectreviews", "tokenreviews",
    "localsubjectaccessreviews", "selfsubjectaccessreviews", "selfsubjectrulesreviews",
    "subjectaccessreviews", "horizontalpodautoscalers", "cronjobs", "jobs", "certificatesigningrequests",
    "leases", "endpointslices", "flowschemas", "prioritylevelconfigurations", "ingressclasses",
    "ingresses", "ipaddresses", "networkpolicies", "servicecidrs", "runtimeclasses",
    "poddisruptionbudgets", "clusterrolebindings", "clusterroles", "rolebindings", "roles",
    "priorityclasses", "csidrivers", "csinodes", "csistoragecapacities", "storageclasses",
    "volumeattachments",
}  # fmt: skip
# what a new Kyma runtime adds: the Kyma CRD and the CRDs of the default modules (istio, api-gateway,
# btp-operator)
KYMA_RESOURCES = {
    "kymas", "istios", "virtualservices", "gateways", "serviceentries", "destinationrules",
    "authorizationpolicies", "peerauthentications", "apirules", "apigateways", "serviceinstances",
    "servicebindings", "btpoperators",
}  # fmt: skip


def deployment(name: str = "web", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{"name": "c", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]
                },
            },
        },
    }
    body["spec"].update(spec)
    return body


def test_discovery_lists_every_133_kind(admin: Kube) -> None:
    aggregated = admin.get("/apis", headers={"accept": AGG}).json()
    core = admin.get("/api", headers={"accept": AGG}).json()
    served: dict[str, dict[str, Any]] = {}
    for item in core["items"] + aggregated["items"]:
        for version in reversed(item["versions"]):  # the preferred (first) version wins
            for resource in version["resources"]:
                served[resource["resource"]] = resource
    assert set(served) == REAL_133_RESOURCES | KYMA_RESOURCES
    assert (
        aggregated["items"][[i["metadata"]["name"] for i in aggregated["items"]].index("autoscaling")][
            "versions"
        ][0]["version"]
        == "v2"
    )
    assert served["statefulsets"]["shortNames"] == ["sts"] and served["statefulsets"]["categories"] == ["all"]
    assert served["cronjobs"]["shortNames"] == ["cj"]
    assert served["customresourcedefinitions"]["shortNames"] == ["crd", "crds"]
    assert served["nodes"]["scope"] == "Cluster" and served["leases"]["scope"] == "Namespaced"
    assert {s["subresource"] for s in served["statefulsets"]["subresources"]} == {"scale", "status"}
    assert served["jobs"]["verbs"] == [
        "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"
    ]  # fmt: skip
    legacy = {r["name"]: r for r in admin.get("/apis/batch/v1").json()["resources"]}
    assert {"jobs", "jobs/status", "cronjobs", "cronjobs/status"} <= set(legacy)


def test_generic_kinds_crud(admin: Kube) -> None:
    lease = admin.create(
        "/apis/coordination.k8s.io/v1/namespaces/default/leases",
        {"metadata": {"name": "l1"}, "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}},
    )
    assert lease["kind"] == "Lease" and lease["apiVersion"] == "coordination.k8s.io/v1"
    pc = admin.create(
        "/apis/scheduling.k8s.io/v1/priorityclasses", {"metadata": {"name": "high"}, "value": 1000}
    )
    assert pc["value"] == 1000 and "namespace" not in pc["metadata"]
    listed = admin.get("/apis/coordination.k8s.io/v1/leases").json()  # with the nodes' heartbeats
    names = [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed["items"]]
    assert listed["kind"] == "LeaseList" and ("default", "l1") in names
    assert {ns for ns, _ in names} == {"default", "kube-node-lease"}
    assert admin.delete("/apis/scheduling.k8s.io/v1/priorityclasses/high").status_code == 200
    sts = admin.create(
        "/apis/apps/v1/namespaces/default/statefulsets",
        {k: v for k, v in deployment("db").items() if k not in ("apiVersion", "kind")},
    )
    assert sts["spec"]["podManagementPolicy"] == "OrderedReady" and sts["metadata"]["generation"] == 1
    assert "status" not in sts or not sts["status"].get("readyReplicas")  # the controller reports it later
    scale = admin.get("/apis/apps/v1/namespaces/default/statefulsets/db/scale").json()
    assert (scale["spec"]["replicas"], scale["status"]["selector"]) == (1, "app=db")


def test_job_gets_generated_selector_and_immutable_template(admin: Kube) -> None:
    job = admin.create(
        "/apis/batch/v1/namespaces/default/jobs",
        {
            "metadata": {"name": "pi"},
            "spec": {
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl"}]}
                }
            },
        },
    )
    uid = job["metadata"]["uid"]
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert job["spec"]["template"]["metadata"]["labels"]["job-name"] == "pi"
    job["spec"]["template"]["spec"]["containers"][0]["image"] = "perl:5"
    del job["metadata"]["resourceVersion"]  # unconditional: the Job controller writes its status meanwhile
    changed = admin.request("PUT", "/apis/batch/v1/namespaces/default/jobs/pi", json=job)
    assert changed.status_code == 422, changed.text
    assert changed.json()["details"]["causes"][0]["field"] == "spec.template"


def test_type_errors_are_go_decoding_errors(admin: Kube) -> None:
    body = deployment()
    body["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "eighty"
    refused = admin.post(DEPLOYMENTS, body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["message"] == (
        'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into '
        "Go struct field ContainerPort.spec.template.spec.containers.ports.containerPort of type int32"
    )
    body = deployment()
    body["spec"]["replicas"] = 2**40
    assert "of type int32" in admin.post(DEPLOYMENTS, body).json()["message"]
    assert admin.get(f"{DEPLOYMENTS}/web").status_code == 404


def test_unknown_fields_per_field_validation(admin: Kube) -> None:
    strict = admin.post(f"{DEPLOYMENTS}?fieldValidation=Strict", deployment(replicaz=5))
    assert strict.status_code == 400, strict.text
    assert strict.json()["message"] == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        'unknown field "spec.replicaz"'
    )
    warned = admin.post(DEPLOYMENTS, deployment(replicaz=5))  # Warn is the default
    assert warned.status_code == 201, warned.text
    assert warned.headers.get_list("warning") == ['299 - "unknown field \\"spec.replicaz\\""']
    assert "replicaz" not in warned.json()["spec"]
    assert "replicaz" not in admin.get(f"{DEPLOYMENTS}/web").json()["spec"]
    ignored = admin.post(f"{DEPLOYMENTS}?fieldValidation=Ignore", deployment("quiet", replicaz=5))
    assert ignored.status_code == 201 and "warning" not in ignored.headers
    bad = admin.post(f"{DEPLOYMENTS}?fieldValidation=Loose", deployment("x"))
    assert bad.status_code == 400 and "Unsupported value" in bad.json()["message"]
    patched = admin.request(
        "PATCH",
        f"{DEPLOYMENTS}/web?fieldValidation=Strict",
        content=json.dumps({"spec": {"template": {"spec": {"containers": [{"name": "c", "imagez": "x"}]}}}}),
        headers={"content-type": "application/strategic-merge-patch+json"},
    )
    assert patched.status_code == 400
    assert 'unknown field "spec.template.spec.containers[0].imagez"' in patched.json()["message"]


def test_duplicate_fields(admin: Kube) -> None:
    raw = json.dumps(deployment("dup")).replace('"replicas": 1', '"replicas": 1, "replicas": 2')
    strict = admin.request(
        "POST",
        f"{DEPLOYMENTS}?fieldValidation=Strict",
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert strict.status_code == 400
    assert strict.json()["message"].endswith('strict decoding error: duplicate field "spec.replicas"')
    warned = admin.request("POST", DEPLOYMENTS, content=raw, headers={"content-type": "application/json"})
    assert warned.status_code == 201
    assert warned.headers["warning"] == '299 - "duplicate field \\"spec.replicas\\""'
    assert warned.json()["spec"]["replicas"] == 2  # the last one wins, as in Go


def test_names_and_immutable_fields(admin: Kube) -> None:
    body = deployment()
    body["spec"]["template"]["spec"]["containers"][0]["name"] = "Bad_Name"
    refused = admin.post(DEPLOYMENTS, body)
    assert refused.status_code == 422, refused.text
    cause = refused.json()["details"]["causes"][0]
    assert cause["field"] == "spec.template.spec.containers[0].name"
    assert cause["message"].startswith(
        'Invalid value: "Bad_Name": a lowercase RFC 1123 label must consist of'
    )
    created = admin.create(DEPLOYMENTS, deployment())
    created["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    created["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    del created["metadata"]["resourceVersion"]  # unconditional: the Deployment controller writes meanwhile
    changed = admin.request("PUT", f"{DEPLOYMENTS}/web", json=created)
    assert changed.status_code == 422, changed.text
    assert changed.json()["message"].startswith(
        'Deployment.apps "web" is invalid: spec.selector: Invalid value: '
    )
    assert changed.json()["message"].endswith("field is immutable")
    missing = admin.post(
        "/api/v1/namespaces/default/services", {"metadata": {"name": "s"}, "spec": {"ports": [{}]}}
    )
    assert missing.status_code == 422
    assert missing.json()["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.ports[0].port"}
    ]


def test_immutable_configmap(admin: Kube) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    cm = admin.create(path, {"metadata": {"name": "frozen"}, "data": {"a": "1"}, "immutable": True})
    cm["data"]["a"] = "2"
    changed = admin.request("PUT", f"{path}/frozen", json=cm)
    assert changed.status_code == 422
    assert changed.json()["details"]["causes"][0]["field"] == "data"


def test_openapi_documents_carry_real_schemas(admin: Kube) -> None:
    root = admin.get("/openapi/v3").json()["paths"]
    assert {
        "api/v1",
        "apis/apps/v1",
        "apis/batch/v1",
        "apis/autoscaling/v2",
        "apis/storage.k8s.io/v1",
    } <= set(root)
    doc = admin.get(root["apis/apps/v1"]["serverRelativeURL"]).json()
    schemas = doc["components"]["schemas"]
    spec = schemas["io.k8s.api.apps.v1.DeploymentSpec"]
    assert spec["properties"]["replicas"] == {
        "description": spec["properties"]["replicas"]["description"],
        "format": "int32",
        "type": "integer",
    }
    assert spec["properties"]["template"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.api.core.v1.PodTemplateSpec"}
    ]
    assert schemas["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}
    ]
    assert "#/$defs/" not in json.dumps(doc)
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-action"] == "patch"
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    v2 = admin.get("/openapi/v2", headers={"accept": "application/json"}).json()
    assert v2["swagger"] == "2.0"
    assert v2["definitions"]["io.k8s.api.batch.v1.JobSpec"]["properties"]["template"]["$ref"] == (
        "#/definitions/io.k8s.api.core.v1.PodTemplateSpec"
    )
    assert "/apis/batch/v1/namespaces/{namespace}/jobs/{name}" in v2["paths"]


def test_openapi_v2_protobuf_only_is_406_without_an_encoder(admin: Kube) -> None:
    # the encoder is a separate module; without it the answer is 406, never a 500
    try:
        import kymaprov.kubeapi.openapi_v2_proto  # noqa: F401
    except ImportError:
        refused = admin.get(
            "/openapi/v2", headers={"accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"}
        )
        assert refused.status_code == 406 and refused.json()["reason"] == "NotAcceptable"
    else:
        served = admin.get(
            "/openapi/v2", headers={"accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"}
        )
        assert served.status_code == 200 and served.content


@pytest.mark.parametrize("version", ["1.30", "1.33"])
def test_kubectl_explain(tmp_path: Path, access: ClusterAccess, version: str) -> None:
    kubectl = Kubectl(tmp_path, access, version=version)
    explained = kubectl("explain", "deployment.spec.replicas")
    assert explained.returncode == 0, explained.stderr
    assert "GROUP:      apps" in explained.stdout and "KIND:       Deployment" in explained.stdout
    assert "FIELD: replicas <integer>" in explained.stdout
    assert "Number of desired pods." in explained.stdout
    job = kubectl("explain", "cronjobs.spec.jobTemplate.spec.template.spec.containers.ports")
    assert job.returncode == 0, job.stderr
    assert "containerPort\t<integer> -required-" in job.stdout


JOB = """apiVersion: batch/v1
kind: Job
metadata:
  name: pi
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: pi
        image: perl:5.34
        command: ["perl", "-e", "print 1"]
"""

STATEFULSET = """apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: db
        image: postgres:16
        ports: [{containerPort: 5432}]
"""


@pytest.mark.parametrize("version", ["1.27", "1.30", "1.33"])
def test_kubectl_api_resources_and_apply(tmp_path: Path, access: ClusterAccess, version: str) -> None:
    kubectl = Kubectl(tmp_path, access, version=version)
    listed = kubectl("api-resources", "-o", "name")
    assert listed.returncode == 0, listed.stderr
    names = {line.split(".")[0] for line in listed.stdout.split()}
    assert names == REAL_133_RESOURCES | KYMA_RESOURCES
    if version == "1.27" and importlib.util.find_spec("kymaprov.kubeapi.openapi_v2_proto") is None:
        pytest.skip("kubectl 1.27 applies only with /openapi/v2 as protobuf (kubeapi/openapi_v2_proto.py)")
    for manifest, ref in ((JOB, "job.batch/pi"), (STATEFULSET, "statefulset.apps/db")):
        applied = kubectl("apply", "-f", "-", stdin=manifest)
        assert applied.returncode == 0, applied.stderr
        assert f"{ref} created" in applied.stdout
        again = kubectl("apply", "-f", "-", stdin=manifest.replace("replicas: 2", "replicas: 3"))
        assert again.returncode == 0, again.stderr
    got = kubectl("get", "sts", "db", "-o", "jsonpath={.spec.replicas}")
    assert got.stdout == "3"
    jobs = kubectl("get", "jobs")
    assert jobs.returncode == 0 and "pi" in jobs.stdout
    deleted = kubectl("delete", "-f", "-", stdin=JOB)
    assert deleted.returncode == 0, deleted.stderr


@pytest.mark.parametrize("version", ["1.30", "1.33"])
def test_kubectl_validation_errors(tmp_path: Path, access: ClusterAccess, version: str) -> None:
    kubectl = Kubectl(tmp_path, access, version=version)
    manifest = STATEFULSET.replace("replicas: 2", "replicaz: 2")
    strict = kubectl("apply", "-f", "-", stdin=manifest)
    assert strict.returncode == 1
    assert 'strict decoding error: unknown field "spec.replicaz"' in strict.stderr
    warned = kubectl("apply", "--validate=warn", "-f", "-", stdin=manifest)
    assert warned.returncode == 0, warned.stderr
    assert 'Warning: unknown field "spec.replicaz"' in warned.stderr
    port = kubectl(
        "apply", "-f", "-", stdin=STATEFULSET.replace("containerPort: 5432", 'containerPort: "eighty"')
    )
    assert port.returncode == 1 and "cannot unmarshal string into Go struct field" in port.stderr
    name = kubectl(
        "apply",
        "-f",
        "-",
        stdin=STATEFULSET.replace("name: db\n        image", "name: Bad_Name\n        image"),
    )
    assert name.returncode == 1
    assert 'spec.template.spec.containers[0].name: Invalid value: "Bad_Name"' in name.stderr
    selector = kubectl("apply", "-f", "-", stdin=STATEFULSET.replace("app: db", "app: db2"))
    assert selector.returncode == 1
    assert "spec.selector: Invalid value:" in selector.stderr and "field is immutable" in selector.stderr


@pytest.mark.parametrize("version", ["1.33"])
def test_kubectl_get_tables_of_new_kinds(tmp_path: Path, access: ClusterAccess, version: str) -> None:
    kubectl = Kubectl(tmp_path, access, version=version)
    for manifest in (JOB, STATEFULSET):
        assert kubectl("apply", "-f", "-", stdin=manifest).returncode == 0
    jobs = kubectl("get", "jobs")
    assert jobs.returncode == 0, jobs.stderr
    assert jobs.stdout.split("\n")[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert jobs.stdout.split("\n")[1].split()[:3] == ["pi", "Running", "0/1"]
    assert kubectl("rollout", "status", "sts/db", "--timeout=45s").returncode == 0
    sts = kubectl("get", "sts", "-o", "wide")
    assert sts.stdout.split("\n")[0].split() == ["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"]
    assert sts.stdout.split("\n")[1].split()[:2] == ["db", "2/2"]
    everything = kubectl("get", "all")
    assert everything.returncode == 0, everything.stderr
    assert "job.batch/pi" in everything.stdout and "statefulset.apps/db" in everything.stdout
