"""Real kubectl (1.30: JSON everywhere; 1.33: protobuf request bodies) against the embedded API."""

from __future__ import annotations

from pathlib import Path

import pytest

from kymaprov.backends.base import ClusterAccess
from tests.kubeapi.conftest import Kube, Kubectl, binding_token

VERSIONS = ("1.30", "1.33")

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: app1
spec:
  replicas: 1
  selector: {matchLabels: {app: app1}}
  template:
    metadata: {labels: {app: app1}}
    spec:
      containers:
      - name: c1
        image: nginx:1.25
        env: [{name: A, value: "1"}]
"""


@pytest.mark.parametrize("version", VERSIONS)
def test_get_pods_ns_and_seeded_deployments(tmp_path: Path, access: ClusterAccess, version: str) -> None:
    kubectl = Kubectl(tmp_path, access, version=version)
    empty = kubectl("get", "pods")
    assert empty.returncode == 0, empty.stderr
    assert "No resources found in default namespace." in empty.stderr

    namespaces = kubectl("get", "ns")
    assert namespaces.returncode == 0, namespaces.stderr
    assert namespaces.stdout.split("\n")[0].split() == ["NAME", "STATUS", "AGE"]
    for name in ("default", "kube-system", "kube-public", "kube-node-lease", "kyma-system"):
        assert any(line.split()[:2] == [name, "Active"] for line in namespaces.stdout.splitlines())

    deployments = kubectl("get", "deployments", "-n", "kyma-system", "-o", "wide")
    assert deployments.returncode == 0, deployments.stderr
    header, *rows = deployments.stdout.strip().splitlines()
    assert header.split()[:5] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert "IMAGES" in header and "SELECTOR" in header
    assert {r.split()[0] for r in rows} >= {"api-gateway-controller-manager", "istio-controller-manager"}

    missing = kubectl("get", "pod", "nope")
    assert missing.returncode == 1
    assert 'Error from server (NotFound): pods "nope" not found' in missing.stderr


@pytest.mark.parametrize("version", VERSIONS)
def test_typed_client_commands(tmp_path: Path, access: ClusterAccess, version: str) -> None:
    """create namespace/token and auth can-i: protobuf bodies on 1.33, JSON on 1.30."""
    kubectl = Kubectl(tmp_path, access, version=version)
    created = kubectl("create", "namespace", "team-a")
    assert created.returncode == 0, created.stderr
    assert "namespace/team-a created" in created.stdout
    token = kubectl("create", "token", "default", "-n", "team-a", "--duration=10m")
    assert token.returncode == 0, token.stderr
    assert token.stdout.count(".") == 2
    too_short = kubectl("create", "token", "default", "--duration=1m")
    assert too_short.returncode == 1
    assert (
        'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 60: '
        "may not specify a duration less than 10 minutes" in too_short.stderr
    )
    can = kubectl("auth", "can-i", "create", "deployments", "-n", "team-a")
    assert (can.returncode, can.stdout.strip()) == (0, "yes")
    deployment = kubectl("create", "deployment", "web", "--image=nginx", "--port=80", "-n", "team-a")
    assert deployment.returncode == 0, deployment.stderr
    ports = kubectl(
        "get", "deploy", "web", "-n", "team-a", "-o", "jsonpath={.spec.template.spec.containers[0].ports}"
    )
    assert '"containerPort":80' in ports.stdout
    scaled = kubectl("scale", "deploy/web", "--replicas=3", "-n", "team-a")
    assert scaled.returncode == 0, scaled.stderr
    rolled = kubectl("rollout", "status", "deploy/web", "-n", "team-a", "--timeout=45s")
    assert rolled.returncode == 0, rolled.stderr
    table = kubectl("get", "deploy", "-n", "team-a")
    assert table.stdout.splitlines()[1].split()[:4] == ["web", "3/3", "3", "3"]


def test_apply_is_idempotent_and_patches(tmp_path: Path, access: ClusterAccess) -> None:
    kubectl = Kubectl(tmp_path, access, version="1.33")
    first = kubectl("apply", "-f", "-", stdin=DEPLOYMENT)
    assert first.returncode == 0, first.stderr
    assert "deployment.apps/app1 created" in first.stdout
    again = kubectl("apply", "-f", "-", stdin=DEPLOYMENT)
    assert "deployment.apps/app1 unchanged" in again.stdout, again.stderr
    changed = kubectl(
        "apply", "-f", "-", stdin=DEPLOYMENT.replace("nginx:1.25", "nginx:1.26").replace('"1"', '"2"')
    )
    assert "deployment.apps/app1 configured" in changed.stdout, changed.stderr
    containers = kubectl("get", "deploy", "app1", "-o", "jsonpath={.spec.template.spec.containers[0]}")
    assert '"image":"nginx:1.26"' in containers.stdout and '"value":"2"' in containers.stdout
    generation = kubectl("get", "deploy", "app1", "-o", "jsonpath={.metadata.generation}")
    assert generation.stdout == "2"
    deleted = kubectl("delete", "deploy", "app1")
    assert 'deployment.apps "app1" deleted' in deleted.stdout, deleted.stderr


def test_binding_token_lifecycle_with_kubectl(tmp_path: Path, access: ClusterAccess, admin: Kube) -> None:
    """KEB's binding flow over HTTPS; then unbinding revokes: CRB gone → Forbidden, SA gone → Unauthorized."""
    token = binding_token(admin, "kyma-binding-x")
    kubectl = Kubectl(tmp_path, access, token=token, version="1.30")
    pods = kubectl("get", "deployments", "-A")
    assert pods.returncode == 0, pods.stderr
    assert "kyma-system" in pods.stdout
    whoami = kubectl("auth", "whoami")
    assert "system:serviceaccount:kyma-system:kyma-binding-x" in whoami.stdout

    assert (
        admin.delete("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/kyma-binding-x").status_code
        == 200
    )
    forbidden = kubectl("get", "pods")
    assert forbidden.returncode == 1
    assert (
        'Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:kyma-system:kyma-binding-x" '
        'cannot list resource "pods" in API group "" in the namespace "default"' in forbidden.stderr
    )
    assert kubectl("auth", "can-i", "list", "pods").stdout.strip() == "no"

    assert admin.delete("/api/v1/namespaces/kyma-system/serviceaccounts/kyma-binding-x").status_code == 200
    unauthorized = kubectl("get", "pods")
    assert unauthorized.returncode == 1
    assert "error: You must be logged in to the server (Unauthorized)" in unauthorized.stderr


def test_watch_prints_changes(tmp_path: Path, access: ClusterAccess, admin: Kube) -> None:
    import subprocess
    import time

    kubectl = Kubectl(tmp_path, access, version="1.30")
    cmd = [kubectl.binary, "--kubeconfig", str(kubectl.kubeconfig), "--cache-dir", str(kubectl.cache)]
    proc = subprocess.Popen(
        [*cmd, "get", "configmaps", "-w"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(1.0)
        admin.create(
            "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "watched"}, "data": {"a": "b"}}
        )
        time.sleep(1.0)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert "watched" in out, err


def test_create_subcommands_that_send_protobuf(tmp_path: Path, access: ClusterAccess) -> None:
    """kubectl 1.33 sends these as protobuf; each arrives whole (checked field by field on the server)."""
    kubectl = Kubectl(tmp_path, access, version="1.33")
    steps = [
        ("create", "job", "once", "--image=busybox", "--", "echo", "hi"),
        ("create", "cronjob", "tick", "--image=busybox", "--schedule=*/5 * * * *", "--", "date"),
        ("create", "ingress", "web", "--class=nginx", "--rule=example.com/path*=svc:8080,tls=cert"),
        ("create", "poddisruptionbudget", "pdb", "--selector=app=web", "--min-available=50%"),
        ("create", "priorityclass", "high", "--value=1000", "--description=important"),
        ("create", "quota", "q", "--hard=pods=10,requests.cpu=2"),
    ]
    for step in steps:
        created = kubectl(*step)
        assert created.returncode == 0, (step, created.stderr)

    def get(kind: str, name: str, path: str) -> str:
        return kubectl("get", kind, name, "-o", f"jsonpath={path}").stdout

    assert get("job", "once", "{.spec.template.spec.containers[0].command}") == '["echo","hi"]'
    assert get("job", "once", "{.spec.template.spec.restartPolicy}") == "Never"
    assert get("cronjob", "tick", "{.spec.schedule}") == "*/5 * * * *"
    assert get("cronjob", "tick", "{.spec.jobTemplate.spec.template.spec.containers[0].image}") == "busybox"
    rule = get("ingress", "web", "{.spec.rules[0]}")
    assert '"host":"example.com"' in rule and '"pathType":"Prefix"' in rule
    assert '"service":{"name":"svc","port":{"number":8080}}' in rule
    assert get("ingress", "web", "{.spec.tls[0].secretName}") == "cert"
    assert get("ingress", "web", "{.spec.ingressClassName}") == "nginx"
    assert get("pdb", "pdb", "{.spec.minAvailable}") == "50%"
    assert get("pdb", "pdb", "{.spec.selector.matchLabels.app}") == "web"
    assert get("priorityclass", "high", "{.value}") == "1000"
    assert get("quota", "q", "{.spec.hard.pods}") == "10"
