"""Deployments with the real kubectl 1.30 and 1.33, rolled out by the runtime's own controllers (the
Deployment and ReplicaSet controllers, the scheduler and kubelet stand-in): ReplicaSets and Running,
Ready pods appear; ``rollout status`` succeeds only when that is true and times out on an image that
cannot be pulled; ``rollout undo``, ``scale`` and ``rollout history`` work as on a cluster."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kymaprov.backends.base import ClusterAccess
from tests.support.wait import wait_for

from .conftest import Kubectl

MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
"""
BAD_IMAGE = "doesnotexist.invalid/nope:0"


def ok(kubectl: Kubectl, *args: str, stdin: str | None = None) -> str:
    r = kubectl(*args, stdin=stdin)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def get(kubectl: Kubectl, *args: str) -> Any:
    return json.loads(ok(kubectl, "get", *args, "-o", "json"))


def eventually(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """Poll until ``check`` answers something true (the controllers act in the background)."""
    return wait_for(check, what, timeout, interval=0.2)


def ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def waiting_reasons(pod: dict[str, Any]) -> set[str]:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return {(s.get("state") or {}).get("waiting", {}).get("reason", "") for s in statuses}


@pytest.mark.parametrize("version", ["1.30", "1.33"])
def test_a_deployment_rolls_out_fails_on_a_bad_image_and_is_undone(
    access: ClusterAccess, tmp_path: Path, version: str
) -> None:
    kubectl = Kubectl(tmp_path, access, version=version)
    assert ok(kubectl, "apply", "-f", "-", stdin=MANIFEST) == "deployment.apps/web created\n"
    assert ok(kubectl, "rollout", "status", "deploy/web", "--timeout=45s").endswith(
        'deployment "web" successfully rolled out\n'
    )
    (rs,) = get(kubectl, "rs", "-l", "app=web")["items"]
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    pods = get(kubectl, "pods", "-l", "app=web")["items"]
    assert len(pods) == 2
    for pod in pods:
        assert pod["status"]["phase"] == "Running" and ready(pod), pod["status"]
        assert pod["spec"]["nodeName"]
        assert pod["metadata"]["name"].startswith(rs["metadata"]["name"] + "-")
        assert pod["metadata"]["labels"]["pod-template-hash"] == rs["metadata"]["labels"]["pod-template-hash"]
    described = ok(kubectl, "describe", "deploy", "web")
    assert f"NewReplicaSet:   {rs['metadata']['name']} (2/2 replicas created)" in described
    assert f"Scaled up replica set {rs['metadata']['name']}" in described
    deployment = get(kubectl, "deploy", "web")
    conditions = {c["type"]: c["reason"] for c in deployment["status"]["conditions"]}
    assert conditions == {"Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}

    assert (
        ok(kubectl, "set", "image", "deploy/web", f"web={BAD_IMAGE}") == "deployment.apps/web image updated\n"
    )
    stuck = kubectl("rollout", "status", "deploy/web", "--timeout=8s")
    assert stuck.returncode != 0
    assert "timed out waiting for the condition" in stuck.stderr
    assert 'Waiting for deployment "web" rollout to finish' in stuck.stdout

    def pulling_fails() -> list[dict[str, Any]]:
        pods = get(kubectl, "pods", "-l", "app=web")["items"]
        bad = [p for p in pods if p["spec"]["containers"][0]["image"] == BAD_IMAGE]
        return (
            bad if bad and all(waiting_reasons(p) & {"ImagePullBackOff", "ErrImagePull"} for p in bad) else []
        )

    eventually(pulling_fails, "the new pods fail to pull")
    healthy = [p for p in get(kubectl, "pods", "-l", "app=web")["items"] if ready(p)]
    assert len(healthy) == 2  # maxUnavailable 25% of 2 rounds down to 0: both old pods stay

    assert ok(kubectl, "rollout", "undo", "deploy/web") == "deployment.apps/web rolled back\n"
    assert ok(kubectl, "rollout", "status", "deploy/web", "--timeout=45s").endswith(
        "successfully rolled out\n"
    )
    live = [
        p
        for p in get(kubectl, "pods", "-l", "app=web")["items"]
        if not p["metadata"].get("deletionTimestamp")
    ]
    assert {p["spec"]["containers"][0]["image"] for p in live} == {"nginx:1.25"}
    history = ok(kubectl, "rollout", "history", "deploy/web").splitlines()
    assert history[1].split() == ["REVISION", "CHANGE-CAUSE"]
    assert [row.split()[0] for row in history[2:] if row.strip()] == ["2", "3"]  # revision 1 came back as 3

    assert ok(kubectl, "scale", "deploy/web", "--replicas=5") == "deployment.apps/web scaled\n"
    ok(kubectl, "rollout", "status", "deploy/web", "--timeout=45s")
    assert get(kubectl, "deploy", "web")["status"]["readyReplicas"] == 5
    assert len([p for p in get(kubectl, "pods", "-l", "app=web")["items"] if ready(p)]) >= 5
    ok(kubectl, "scale", "deploy/web", "--replicas=2")
    eventually(
        lambda: (
            get(kubectl, "deploy", "web")["status"].get("replicas") == 2
            and get(kubectl, "rs", "-l", "app=web")["items"]
        ),
        "scaled back to 2",
    )
    ok(kubectl, "rollout", "status", "deploy/web", "--timeout=45s")
    (current,) = [r for r in get(kubectl, "rs", "-l", "app=web")["items"] if r["spec"]["replicas"]]
    assert current["spec"]["replicas"] == 2 and current["status"]["readyReplicas"] == 2


def test_a_paused_deployment_does_not_roll_until_resumed(access: ClusterAccess, tmp_path: Path) -> None:
    kubectl = Kubectl(tmp_path, access, version="1.33")
    ok(kubectl, "apply", "-f", "-", stdin=MANIFEST)
    ok(kubectl, "rollout", "status", "deploy/web", "--timeout=45s")
    ok(kubectl, "rollout", "pause", "deploy/web")
    ok(kubectl, "set", "image", "deploy/web", "web=nginx:1.26")
    eventually(
        lambda: any(
            c["reason"] == "DeploymentPaused" for c in get(kubectl, "deploy", "web")["status"]["conditions"]
        ),
        "the paused condition",
    )
    assert len(get(kubectl, "rs", "-l", "app=web")["items"]) == 1
    ok(kubectl, "rollout", "resume", "deploy/web")
    ok(kubectl, "rollout", "status", "deploy/web", "--timeout=45s")
    sets = get(kubectl, "rs", "-l", "app=web")["items"]
    assert len(sets) == 2
    (new,) = [r for r in sets if r["spec"]["replicas"]]
    assert new["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"


def test_a_stuck_rollout_exceeds_its_progress_deadline_on_the_service_clock(
    kube_server: Any, access: ClusterAccess, tmp_path: Path
) -> None:
    kubectl = Kubectl(tmp_path, access, version="1.33")
    manifest = MANIFEST.replace("nginx:1.25", BAD_IMAGE).replace(
        "replicas: 2", "replicas: 1\n  progressDeadlineSeconds: 120"
    )
    ok(kubectl, "apply", "-f", "-", stdin=manifest)
    eventually(
        lambda: get(kubectl, "deploy", "web").get("status", {}).get("updatedReplicas") == 1, "the new pod"
    )
    kube_server.ctx.clock.advance(121)

    def exceeded() -> bool:
        conditions = get(kubectl, "deploy", "web")["status"].get("conditions") or []
        return any(
            c["type"] == "Progressing" and c["reason"] == "ProgressDeadlineExceeded" for c in conditions
        )

    eventually(exceeded, "ProgressDeadlineExceeded")
    failed = kubectl("rollout", "status", "deploy/web", "--timeout=10s")
    assert failed.returncode != 0
    assert 'deployment "web" exceeded its progress deadline' in failed.stderr
