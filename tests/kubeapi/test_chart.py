"""charts/kymaprov, rendered by Helm's own engine (helm-python-sdk, no helm binary): every object
validates against the Kubernetes 1.33 schemas, and applied with the real kubectl 1.33 to an embedded
runtime (which plays workloads) kymaprov's Deployment rolls out and PostgreSQL's StatefulSet is ready."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

from kymaprov.backends.base import ClusterAccess

from .conftest import Kubectl

CHART = Path(__file__).resolve().parents[2] / "charts" / "kymaprov"
NAMESPACE = "kymaprov"


def render(values: dict[str, Any], name: str = "kymaprov") -> list[dict[str, Any]]:
    with helm_python.Chart.load(str(CHART)) as chart:
        manifests = chart.render(values, name=name, namespace=NAMESPACE, is_install=True)
    return [doc for text in manifests.values() for doc in yaml.safe_load_all(text) if doc]


def by_kind(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def env_of(deployment: dict[str, Any]) -> dict[str, Any]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.mark.parametrize(
    "values",
    [
        {},
        {
            "postgresql": {"enabled": False},
            "externalDatabase": {"existingSecret": "db", "existingSecretKey": "url"},
            "masterKey": {"existingSecret": "keys"},
            "ingress": {
                "enabled": True,
                "className": "nginx",
                "tls": [{"secretName": "t", "hosts": ["k.example"]}],
            },
            "kubeService": {"type": "LoadBalancer"},
            "kubePublicUrl": "https://kube.example.com",
            "env": {"KYMAPROV_LOG_FORMAT": "json", "KYMAPROV_INIT": "/etc/kymaprov/init.yaml"},
            "extraVolumes": [{"name": "init", "secret": {"secretName": "kymaprov-init"}}],
            "extraVolumeMounts": [{"name": "init", "mountPath": "/etc/kymaprov", "readOnly": True}],
        },
    ],
    ids=["bundled-postgresql", "external-database-and-ingress"],
)
def test_every_rendered_object_validates_against_kubernetes_1_33(values: dict[str, Any]) -> None:
    objects = render(values)
    for obj in objects:
        kubernetes_validate.validate(obj, "1.33", strict=True)  # raises on any unknown or wrong field
    kinds = {kind for kind, _ in by_kind(objects)}
    assert {"Deployment", "Service"} <= kinds
    assert ("StatefulSet" in kinds) == (values == {})
    assert ("Ingress" in kinds) == (values != {})


def test_the_defaults_run_two_probed_non_root_replicas_with_the_key_from_a_secret() -> None:
    objects = by_kind(render({}))
    deployment = objects["Deployment", "kymaprov"]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "ghcr.io/kymaprov/kymaprov:0.1.0"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = env_of(deployment)
    key_ref = env["KYMAPROV_SECRET_KEY"]["secretKeyRef"]
    key = base64.b64decode(base64.b64decode(objects["Secret", key_ref["name"]]["data"][key_ref["key"]]))
    assert len(key) == 32  # what kymaprov.crypto.load_or_create_master_key accepts
    db_ref = env["KYMAPROV_DATABASE_URL"]["secretKeyRef"]
    url = base64.b64decode(objects["Secret", db_ref["name"]]["data"][db_ref["key"]]).decode()
    assert url.startswith("postgresql+psycopg://kymaprov:") and url.endswith(
        "@kymaprov-postgresql:5432/kymaprov"
    )
    assert env["KYMAPROV_KUBE_PUBLIC_URL"] == "https://kymaprov-kube.kymaprov.svc:443"


def test_a_given_master_key_is_used_as_is() -> None:
    given = base64.b64encode(bytes(range(32))).decode()
    secret = by_kind(render({"masterKey": {"value": given}}))["Secret", "kymaprov-master-key"]
    assert base64.b64decode(secret["data"]["secret-key"]).decode() == given


def test_without_a_database_the_chart_says_what_is_missing() -> None:
    with pytest.raises(
        helm_python.HelmError, match=r"externalDatabase.url or externalDatabase.existingSecret"
    ):
        render({"postgresql": {"enabled": False}})


def test_applied_with_kubectl_it_rolls_out_on_an_embedded_runtime(
    access: ClusterAccess, tmp_path: Path
) -> None:
    kubectl = Kubectl(tmp_path, access, version="1.33")
    manifest = yaml.safe_dump_all(render({"ingress": {"enabled": True}}))

    def ok(*args: str, stdin: str | None = None) -> str:
        r = kubectl(*args, stdin=stdin)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r.stdout

    ok("create", "namespace", NAMESPACE)
    applied = ok("apply", "-n", NAMESPACE, "-f", "-", stdin=manifest)
    assert "deployment.apps/kymaprov created" in applied
    assert "statefulset.apps/kymaprov-postgresql created" in applied
    rolled = ok("rollout", "status", "-n", NAMESPACE, "deployment/kymaprov", "--timeout=60s")
    assert 'deployment "kymaprov" successfully rolled out' in rolled
    assert "roll out complete" in ok(
        "rollout", "status", "-n", NAMESPACE, "statefulset/kymaprov-postgresql", "--timeout=60s"
    )
    sts = json.loads(ok("get", "-n", NAMESPACE, "statefulset/kymaprov-postgresql", "-o", "json"))
    assert sts["status"]["readyReplicas"] == 1
    claims = json.loads(ok("get", "-n", NAMESPACE, "pvc", "-o", "json"))["items"]
    assert [c["metadata"]["name"] for c in claims] == ["data-kymaprov-postgresql-0"]
    # both replicas serve both Services
    for service in ("kymaprov", "kymaprov-kube"):
        endpoints = json.loads(ok("get", "-n", NAMESPACE, "endpoints", service, "-o", "json"))
        addresses = [a for subset in endpoints.get("subsets") or [] for a in subset.get("addresses") or []]
        assert len(addresses) == 2, endpoints
