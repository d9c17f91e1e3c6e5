"""``kubectl logs`` reads the simulated logs; ``exec``, ``attach``, ``cp`` and ``port-forward`` get a
clear refusal (no process runs in an embedded runtime)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from kymaprov.backends.base import ClusterAccess
from tests.kubeapi.conftest import Kube, Kubectl, kubectl_path, write_kubeconfig

VERSIONS = ("1.30", "1.33")
PODS = "/api/v1/namespaces/default/pods"
REFUSAL = "this Kyma runtime is simulated by kymaprov: it runs no containers"


def _ready(kubectl: Kubectl, name: str) -> None:
    waited = kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=20s")
    assert waited.returncode == 0, waited.stderr


def _two_containers() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "duo", "labels": {"app": "duo"}},
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": "nginx:1.27",
                    "ports": [{"containerPort": 80}, {"containerPort": 443}],
                },
                {"name": "side", "image": "busybox", "command": ["sh", "-c", "while true; do sleep 5; done"]},
            ]
        },
    }


@pytest.mark.parametrize("version", VERSIONS)
def test_logs(tmp_path: Path, access: ClusterAccess, version: str) -> None:
    kubectl = Kubectl(tmp_path, access, version=version)
    applied = kubectl("apply", "-f", "-", stdin=json.dumps(_two_containers()))
    assert applied.returncode == 0, applied.stderr
    _ready(kubectl, "duo")
    unnamed = kubectl("logs", "duo")  # kubectl picks the default container itself, then says so
    assert unnamed.returncode == 0, unnamed.stderr
    full = kubectl("logs", "duo", "-c", "web")
    assert full.returncode == 0, full.stderr
    lines = full.stdout.splitlines()
    assert "nginx:1.27" in lines[0] and lines[0].startswith("[kymaprov] container web started")
    assert lines[1:] == ["[kymaprov] listening on 80/TCP", "[kymaprov] listening on 443/TCP"]
    assert unnamed.stdout == full.stdout
    tail = kubectl("logs", "duo", "-c", "web", "--tail=1")
    assert tail.stdout.splitlines() == ["[kymaprov] listening on 443/TCP"]
    stamped = kubectl("logs", "duo", "-c", "web", "--timestamps", "--tail=1")
    stamp, text = stamped.stdout.strip().split(" ", 1)
    assert text == "[kymaprov] listening on 443/TCP" and stamp.endswith("Z") and "T" in stamp
    assert kubectl("logs", "duo", "-c", "web", "--since=1h").stdout == full.stdout
    side = kubectl("logs", "duo", "-c", "side")
    assert "busybox" in side.stdout
    previous = kubectl("logs", "duo", "-c", "web", "--previous")
    assert previous.returncode == 1
    assert 'previous terminated container "web" in pod "duo" not found' in previous.stderr
    unknown = kubectl("logs", "duo", "-c", "nope")
    assert unknown.returncode == 1 and "container nope is not valid for pod duo" in unknown.stderr
    by_label = kubectl("logs", "-l", "app=duo", "-c", "web", "--tail=1")
    assert by_label.stdout.splitlines() == ["[kymaprov] listening on 443/TCP"]


@pytest.mark.parametrize("version", VERSIONS)
def test_logs_of_a_deployment(tmp_path: Path, access: ClusterAccess, version: str) -> None:
    """kubectl resolves ``deploy/web`` to one of the pods its selector picks, then reads that log."""
    kubectl = Kubectl(tmp_path, access, version=version)
    made = kubectl("create", "deployment", "web", "--image=nginx:1.27")
    assert made.returncode == 0, made.stderr
    client = Kube(access)
    if not client.get(PODS, params={"labelSelector": "app=web"}).json()["items"]:  # no Deployment controller
        client.create(PODS, {"metadata": {"name": "web-1", "labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}})  # fmt: skip
    client.close()
    waited = kubectl("wait", "--for=condition=Ready", "pod", "-l", "app=web", "--timeout=20s")
    assert waited.returncode == 0, waited.stderr
    logs = kubectl("logs", "deploy/web")
    assert logs.returncode == 0, logs.stderr
    assert "started from image docker.io/library/nginx:1.27" in logs.stdout


def test_logs_of_a_waiting_container_and_follow(tmp_path: Path, access: ClusterAccess) -> None:
    kubectl = Kubectl(tmp_path, access, version="1.33")
    assert kubectl("run", "bad", "--image=registry.invalid/app:1").returncode == 0
    client = Kube(access)
    deadline = time.monotonic() + 10
    while True:
        r = client.get(f"{PODS}/bad/log")
        if r.status_code == 400 and "trying and failing to pull image" in r.json()["message"]:
            break
        assert time.monotonic() < deadline, r.text
        time.sleep(0.05)
    assert (
        r.json()["message"]
        == 'container "bad" in pod "bad" is waiting to start: trying and failing to pull image'
    )
    kubectl("run", "once", "--image=busybox", "--restart=Never", "--", "echo", "bye")
    assert (
        kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/once", "--timeout=20s").returncode
        == 0
    )
    followed = kubectl("logs", "-f", "once")  # the container is done: the stream ends
    assert followed.returncode == 0 and followed.stdout.splitlines()[-1] == "bye"
    kubectl("run", "web", "--image=nginx")
    _ready(kubectl, "web")
    process = subprocess.Popen(
        [kubectl.binary, "--kubeconfig", str(kubectl.kubeconfig), "--cache-dir", str(kubectl.cache),
         "logs", "-f", "web"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("[kymaprov] container web started")
        assert process.poll() is None  # held open while the container runs
        client.delete(f"{PODS}/web")
        assert process.wait(timeout=20) == 0  # and closed once it stopped
    finally:
        process.kill()
    client.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_exec_attach_cp_port_forward_refused(tmp_path: Path, access: ClusterAccess, version: str) -> None:
    kubectl = Kubectl(tmp_path, access, version=version)
    assert kubectl("run", "web", "--image=nginx", "--port=80").returncode == 0
    _ready(kubectl, "web")
    for args, action in (
        (("exec", "web", "--", "ls"), "exec into"),
        (("exec", "-i", "web", "--", "cat"), "exec into"),
        (("attach", "web"), "attach to"),
        (("cp", str(write_kubeconfig(tmp_path / "f", access)), "web:/tmp/f"), "exec into"),
    ):
        refused = kubectl(*args, stdin="")
        assert refused.returncode != 0, (args, refused.stdout)
        assert (
            f"Error from server (BadRequest): {REFUSAL}, so there is no process to {action} "
            in refused.stderr
        ), (
            args,
            refused.stderr,
        )
        assert 'in pod "web" (container "web")' in refused.stderr
    forward = subprocess.run(
        [kubectl_path(version), "--kubeconfig", str(kubectl.kubeconfig), "--cache-dir", str(kubectl.cache),
         "port-forward", "pod/web", "0:80"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert forward.returncode != 0
    assert REFUSAL in forward.stderr, forward.stderr
