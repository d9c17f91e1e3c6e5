"""kubectl 1.27 and 1.28 read /openapi/v2 as gnostic protobuf for apply, create -f, diff, edit, explain."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kymaprov.backends.base import ClusterAccess
from kymaprov.kubeapi import discovery, openapi_v2_proto
from tests.kubeapi.conftest import Kube, Kubectl, binding_token

EDIT = ("edit", "configmap", "settings")

CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: {mode}
"""

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: c1
        image: {image}
        env: [{{name: A, value: "1"}}]
"""


def _editor(tmp_path: Path) -> str:
    """A KUBE_EDITOR that changes the ConfigMap's mode in the file kubectl opens."""
    script = tmp_path / "editor.sh"
    script.write_text('#!/bin/sh\nsed -i "s/mode: fast/mode: edited/" "$1"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


@pytest.mark.parametrize("version", ["1.27", "1.28"])
def test_apply_create_diff_edit(tmp_path: Path, access: ClusterAccess, admin: Kube, version: str) -> None:
    kubectl = Kubectl(tmp_path, access, token=binding_token(admin), version=version)
    files = {}
    for name, text in {
        "cm-slow": CONFIGMAP.format(mode="slow"),
        "cm-fast": CONFIGMAP.format(mode="fast"),
        "deploy-125": DEPLOYMENT.format(image="nginx:1.25"),
        "deploy-126": DEPLOYMENT.format(image="nginx:1.26"),
    }.items():
        files[name] = tmp_path / f"{name}.yaml"
        files[name].write_text(text)

    applied = kubectl("apply", "-f", str(files["cm-slow"]), "-f", str(files["deploy-125"]))
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines() == ["configmap/settings created", "deployment.apps/web created"]
    again = kubectl("apply", "-f", str(files["deploy-125"]))
    assert (again.returncode, again.stdout.strip()) == (0, "deployment.apps/web unchanged"), again.stderr

    diff = kubectl("diff", "-f", str(files["deploy-126"]))
    assert diff.returncode == 1, diff.stderr  # 1: differences found
    assert "-        image: nginx:1.25" in diff.stdout and "+        image: nginx:1.26" in diff.stdout
    same = kubectl("diff", "-f", str(files["deploy-125"]))
    assert (same.returncode, same.stdout) == (0, ""), same.stderr

    configured = kubectl("apply", "-f", str(files["deploy-126"]), "-f", str(files["cm-fast"]))
    assert configured.returncode == 0, configured.stderr
    assert configured.stdout.splitlines() == [
        "deployment.apps/web configured",
        "configmap/settings configured",
    ]
    deployment = admin.get("/apis/apps/v1/namespaces/default/deployments/web").json()
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"

    created = kubectl("create", "-f", str(files["cm-fast"]), "-n", "kube-public")
    assert (created.returncode, created.stdout.strip()) == (0, "configmap/settings created"), created.stderr
    exists = kubectl("create", "-f", str(files["cm-fast"]))
    assert exists.returncode == 1
    assert "Error from server (AlreadyExists): error when creating" in exists.stderr

    edited = subprocess.run(
        [kubectl.binary, "--kubeconfig", str(kubectl.kubeconfig), "--cache-dir", str(kubectl.cache), *EDIT],
        env={**os.environ, "KUBE_EDITOR": _editor(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (edited.returncode, edited.stdout.strip()) == (0, "configmap/settings edited"), edited.stderr
    assert admin.get("/api/v1/namespaces/default/configmaps/settings").json()["data"] == {"mode": "edited"}


def _definitions() -> dict[str, object]:
    meta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    return {
        "io.k8s.api.apps.v1.Deployment": {
            "description": "Deployment enables declarative updates for Pods and ReplicaSets.",
            "type": "object",
            "properties": {
                "metadata": {"$ref": f"#/definitions/{meta}", "default": {}},
                "spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"},
            },
            "x-kubernetes-group-version-kind": [{"group": "apps", "kind": "Deployment", "version": "v1"}],
        },
        "io.k8s.api.apps.v1.DeploymentSpec": {
            "description": "DeploymentSpec is the specification of the desired behavior of the Deployment.",
            "type": "object",
            "required": ["selector"],
            "properties": {
                "replicas": {"description": "Number of desired pods.", "type": "integer", "format": "int32"},
                "selector": {"description": "Label selector for pods.", "type": "object"},
                "labels": {"type": "object", "additionalProperties": {"type": "string", "default": ""}},
                "ports": {"type": "array", "items": {"type": "integer"}, "x-kubernetes-list-type": "set"},
            },
        },
        meta: {"description": "Standard object metadata.", "type": "object"},
        # what the runtime's CRDs' list kinds refer to (a Kyma runtime has CRDs from the start)
        "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta": {
            "description": "Standard list metadata.",
            "type": "object",
        },
    }


@pytest.fixture
def v2_definitions(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Serve a document with real definitions whatever the server's own builder currently holds."""
    base = openapi_v2_proto.served()["json"][0]
    document = {**json.loads(base), "definitions": _definitions()}
    monkeypatch.setattr(discovery, "openapi_v2_document", lambda: document, raising=False)
    openapi_v2_proto.served.cache_clear()
    yield
    monkeypatch.undo()
    openapi_v2_proto.served.cache_clear()


@pytest.mark.parametrize("version", ["1.27", "1.28"])
def test_explain_reads_definitions_from_the_protobuf(
    tmp_path: Path, access: ClusterAccess, v2_definitions: None, version: str
) -> None:
    """kubectl's own gnostic decoder finds the kind by its x-kubernetes-group-version-kind YAML."""
    kubectl = Kubectl(tmp_path, access, version=version)
    kind = kubectl("explain", "deployments", "--output=plaintext-openapiv2")
    assert kind.returncode == 0, kind.stderr
    assert "Deployment enables declarative updates for Pods and ReplicaSets." in kind.stdout
    assert "spec\t<Object>" in kind.stdout
    spec = kubectl("explain", "deployments.spec", "--output=plaintext-openapiv2")
    assert spec.returncode == 0, spec.stderr
    fields = [line.split() for line in spec.stdout.splitlines() if line.startswith("   ") and "<" in line]
    assert fields == [
        ["labels", "<map[string]string>"],
        ["ports", "<[]integer>"],
        ["replicas", "<integer>"],
        ["selector", "<map[string]>", "-required-"],
    ]
    assert "Number of desired pods." in spec.stdout
