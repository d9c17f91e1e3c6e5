"""Kyma's own resources in a runtime: the Kyma CR drives modules (CRDs + Deployments in kyma-system), the
default modules' CRDs are served and read with the real kubectl like on a Kyma runtime."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kymaprov.backends.base import ClusterAccess
from tests.kubeapi.conftest import Kube, Kubectl
from tests.support import wait

KYMA = "/apis/operator.kyma-project.io/v1beta2/namespaces/kyma-system/kymas/default"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
DEPLOYMENTS = "/apis/apps/v1/namespaces/kyma-system/deployments"
MERGE = {"content-type": "application/merge-patch+json"}


def wait_for(what: str, check: Callable[[], Any], timeout: float = 15) -> Any:
    return wait.wait_for(check, what, timeout, interval=0.05)


def kyma(admin: Kube) -> dict[str, Any]:
    r = admin.get(KYMA)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def module_states(admin: Kube) -> dict[str, str]:
    return {m["name"]: m["state"] for m in (kyma(admin).get("status") or {}).get("modules") or []}


def set_modules(admin: Kube, names: list[str]) -> None:
    patch = {"spec": {"modules": [{"name": n} for n in names]}}
    r = admin.request("PATCH", KYMA, content=json.dumps(patch), headers=MERGE)
    assert r.status_code == 200, r.text


def test_default_kyma_is_ready_with_its_modules(admin: Kube, tmp_path: Path, access: ClusterAccess) -> None:
    status = wait_for("Kyma Ready", lambda: (kyma(admin).get("status") or {}).get("state") == "Ready")
    assert status
    body = kyma(admin)
    assert body["spec"]["channel"] == "regular"
    assert [m["name"] for m in body["spec"]["modules"]] == ["api-gateway", "istio", "btp-operator"]
    assert {m["name"]: (m["state"], m["channel"]) for m in body["status"]["modules"]} == {
        "api-gateway": ("Ready", "regular"),
        "istio": ("Ready", "regular"),
        "btp-operator": ("Ready", "regular"),
    }
    assert all(m["version"] for m in body["status"]["modules"])
    for name in (
        "api-gateway-controller-manager",
        "istio-controller-manager",
        "sap-btp-operator-controller-manager",
    ):
        assert admin.get(f"{DEPLOYMENTS}/{name}").status_code == 200

    # the modules' pods: Running, owned by the ReplicaSets of their Deployments
    pods = admin.get("/api/v1/namespaces/kyma-system/pods").json()["items"]
    owners = {}
    for pod in pods:
        (ref,) = pod["metadata"]["ownerReferences"]
        assert ref["kind"] == "ReplicaSet" and pod["status"]["phase"] == "Running"
        rs = admin.get(f"/apis/apps/v1/namespaces/kyma-system/replicasets/{ref['name']}").json()
        owners[pod["metadata"]["name"]] = rs["metadata"]["ownerReferences"][0]["name"]
    assert set(owners.values()) == {
        "api-gateway-controller-manager",
        "istio-controller-manager",
        "btp-manager-controller-manager",
        "sap-btp-operator-controller-manager",
    }

    kubectl = Kubectl(tmp_path, access, version="1.33")
    kymas = kubectl("get", "kymas", "-n", "kyma-system")
    assert kymas.returncode == 0, kymas.stderr
    header, row = kymas.stdout.strip().splitlines()
    assert header.split() == ["NAME", "STATE", "AGE"]
    assert row.split()[:2] == ["default", "Ready"]

    apirule = {
        "apiVersion": "gateway.kyma-project.io/v2",
        "kind": "APIRule",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "hosts": ["web.example.com"],
            "service": {"name": "web", "port": 80},
            "gateway": "kyma-system/kyma-gateway",
            "rules": [{"path": "/*", "methods": ["GET"], "noAuth": True}],
        },
    }
    applied = kubectl("apply", "-f", "-", stdin=json.dumps(apirule))
    assert applied.returncode == 0, applied.stderr
    assert "apirule.gateway.kyma-project.io/web created" in applied.stdout
    apirules = kubectl("get", "apirules")
    assert apirules.returncode == 0, apirules.stderr
    header, row = apirules.stdout.strip().splitlines()
    assert header.split() == ["NAME", "STATUS", "HOSTS"]
    assert row.split() == ["web", '["web.example.com"]']

    vs = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"hosts": ["web"], "gateways": ["kyma-system/kyma-gateway"], "http": [{"route": []}]},
    }
    assert kubectl("apply", "-f", "-", stdin=json.dumps(vs)).returncode == 0
    listed = kubectl("get", "vs")
    assert listed.stdout.split("\n")[0].split() == ["NAME", "GATEWAYS", "HOSTS", "AGE"], listed.stderr
    si = kubectl("get", "serviceinstances", "-A")
    assert si.returncode == 0 and "No resources found" in si.stderr


def test_adding_and_removing_a_module(admin: Kube) -> None:
    wait_for("Kyma Ready", lambda: (kyma(admin).get("status") or {}).get("state") == "Ready")
    assert admin.get(f"{CRDS}/functions.serverless.kyma-project.io").status_code == 404
    set_modules(admin, ["api-gateway", "istio", "btp-operator", "serverless"])

    wait_for("serverless Ready", lambda: module_states(admin).get("serverless") == "Ready")
    crd = admin.get(f"{CRDS}/functions.serverless.kyma-project.io")
    assert crd.status_code == 200
    assert crd.json()["metadata"]["labels"]["kyma-project.io/module"] == "serverless"
    manager = admin.get(f"{DEPLOYMENTS}/serverless-controller-manager")
    assert manager.status_code == 200
    available = [c for c in manager.json()["status"]["conditions"] if c["type"] == "Available"]
    assert available and available[0]["status"] == "True"
    assert kyma(admin)["status"]["state"] == "Ready"
    function = {
        "apiVersion": "serverless.kyma-project.io/v1alpha2",
        "kind": "Function",
        "metadata": {"name": "hello"},
        "spec": {"runtime": "nodejs20", "source": {"inline": {"source": "module.exports = {}"}}},
    }
    assert (
        admin.post(
            "/apis/serverless.kyma-project.io/v1alpha2/namespaces/default/functions", function
        ).status_code
        == 201
    )

    set_modules(admin, ["api-gateway", "istio", "btp-operator"])
    wait_for("serverless gone from status", lambda: "serverless" not in module_states(admin))
    assert admin.get(f"{CRDS}/functions.serverless.kyma-project.io").status_code == 404
    assert admin.get(f"{DEPLOYMENTS}/serverless-controller-manager").status_code == 404
    assert admin.get(f"{DEPLOYMENTS}/serverless-operator").status_code == 404
    assert (
        admin.get("/apis/serverless.kyma-project.io/v1alpha2/namespaces/default/functions").status_code == 404
    )
    assert kyma(admin)["status"]["state"] == "Ready"
    # the default modules were left alone
    assert admin.get(f"{CRDS}/apirules.gateway.kyma-project.io").status_code == 200


def test_unknown_module_is_an_error(admin: Kube) -> None:
    wait_for("Kyma Ready", lambda: (kyma(admin).get("status") or {}).get("state") == "Ready")
    set_modules(admin, ["api-gateway", "istio", "btp-operator", "no-such-module"])
    wait_for("Kyma Error", lambda: kyma(admin)["status"]["state"] == "Error")
    failed = next(m for m in kyma(admin)["status"]["modules"] if m["name"] == "no-such-module")
    assert failed["state"] == "Error"
    assert "module no-such-module not found" in failed["message"]

    set_modules(admin, ["api-gateway", "istio", "btp-operator"])
    wait_for("Kyma Ready again", lambda: kyma(admin)["status"]["state"] == "Ready")
    assert "no-such-module" not in module_states(admin)


def test_kyma_spec_is_validated(admin: Kube) -> None:
    patch = {"spec": {"modules": [{"name": "keda", "customResourcePolicy": "Sometimes"}]}}
    r = admin.request("PATCH", KYMA, content=json.dumps(patch), headers=MERGE)
    assert r.status_code == 422, r.text
    assert "customResourcePolicy" in r.json()["message"]
