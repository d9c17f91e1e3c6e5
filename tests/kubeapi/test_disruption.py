"""PodDisruptionBudgets and eviction: the disruption controller's status, the ``eviction``
subresource's answers as kube's (201, 429 with a DisruptionBudget cause, 500 for two budgets, 400),
and ``kubectl drain`` of a node through both, with the pods made again on the other node."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from kymaprov.backends.shape import ClusterShape
from kymaprov.kubeapi.pods import ready
from tests.kubeapi.conftest import Kube, Kubectl, KubeServer
from tests.support.wait import wait_for

PDBS = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"
PODS = "/api/v1/namespaces/default/pods"


def deployment(name: str, replicas: int) -> dict[str, Any]:
    container = {"name": name, "image": "nginx", "resources": {"requests": {"cpu": "100m"}}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
        },
    }


def budget(name: str, app: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": app}}, **spec},
    }


def pods(admin: Kube, app: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = admin.get(PODS, params={"labelSelector": f"app={app}"}).json()["items"]
    return items


def all_ready(admin: Kube, app: str, count: int) -> list[dict[str, Any]] | None:
    found = pods(admin, app)
    live = [p for p in found if not p["metadata"].get("deletionTimestamp")]
    return live if len(live) == count == len(found) and all(ready(p) for p in live) else None


def status(admin: Kube, name: str) -> dict[str, Any]:
    body: dict[str, Any] = admin.get(f"{PDBS}/{name}").json()
    return body.get("status") or {}


def evict(admin: Kube, pod: str, name: str | None = None, **options: Any) -> Any:
    body: dict[str, Any] = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": name or pod, "namespace": "default"},
    }
    if options:
        body["deleteOptions"] = options
    return admin.post(f"{PODS}/{pod}/eviction", body)


@pytest.fixture
def admin(kube_server: KubeServer) -> Any:
    shape = ClusterShape(nodes=2, zones=("eu-central-1a", "eu-central-1b"))
    access = kube_server.runtimes.create_cluster(f"c-{uuid.uuid4().hex[:12]}", "drain", shape)
    client = Kube(access)
    yield client
    client.close()


def test_the_controller_keeps_a_budgets_status(admin: Kube) -> None:
    admin.create("/apis/apps/v1/namespaces/default/deployments", deployment("web", 3))
    admin.create(PDBS, budget("web", "web", minAvailable=2))
    admin.create(PDBS, budget("half", "web", maxUnavailable="50%"))
    wait_for(lambda: all_ready(admin, "web", 3), "three ready pods")
    web = wait_for(lambda: (s := status(admin, "web")).get("currentHealthy") == 3 and s, "web's status")
    assert (web["desiredHealthy"], web["expectedPods"], web["disruptionsAllowed"]) == (2, 3, 1)
    assert web["observedGeneration"] == 1
    [condition] = web["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "DisruptionAllowed", "True", "SufficientPods"
    )  # fmt: skip
    half = wait_for(lambda: (s := status(admin, "half")).get("currentHealthy") == 3 and s, "half's status")
    assert (half["desiredHealthy"], half["expectedPods"], half["disruptionsAllowed"]) == (1, 3, 2)

    # a bare pod under a percentage: no controller to ask, so the budget fails safe
    bare = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare", "labels": {"app": "bare"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}  # fmt: skip
    admin.create(PODS, bare)
    admin.create(PDBS, budget("bare", "bare", minAvailable="100%"))
    failed = wait_for(lambda: status(admin, "bare").get("conditions"), "bare's status")
    assert (failed[0]["status"], failed[0]["reason"]) == ("False", "SyncFailed")
    assert failed[0]["message"] == 'found no controllers for pod "bare"'
    assert status(admin, "bare")["disruptionsAllowed"] == 0


def test_eviction_answers_as_kube(admin: Kube) -> None:
    admin.create("/apis/apps/v1/namespaces/default/deployments", deployment("api", 2))
    admin.create(PDBS, budget("api", "api", minAvailable=2))
    first, second = wait_for(lambda: all_ready(admin, "api", 2), "two ready pods")
    wait_for(lambda: status(admin, "api").get("currentHealthy") == 2, "the budget's status")

    refused = evict(admin, first["metadata"]["name"])
    assert refused.status_code == 429, refused.text
    assert refused.json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Cannot evict pod as it would violate the pod's disruption budget.",
        "reason": "TooManyRequests",
        "details": {"causes": [{"reason": "DisruptionBudget",
                                "message": "The disruption budget api needs 2 healthy pods and has 2 currently"}]},
        "code": 429,
    }  # fmt: skip
    mismatch = evict(admin, first["metadata"]["name"], name="other")
    assert mismatch.status_code == 400
    assert mismatch.json()["message"] == "name in URL does not match name in Eviction object"
    assert evict(admin, "missing").status_code == 404

    admin.create(PDBS, budget("api-too", "api", maxUnavailable=1))
    two = evict(admin, first["metadata"]["name"])
    assert two.status_code == 500
    assert two.json()["message"] == (
        "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
    )
    assert admin.delete(f"{PDBS}/api-too").status_code == 200

    # one disruption allowed: the first eviction spends it, the pod is noted, the second is refused
    patched = admin.request(
        "PATCH", f"{PDBS}/api", json={"spec": {"minAvailable": 1}},
        headers={"content-type": "application/merge-patch+json"},
    )  # fmt: skip
    assert patched.status_code == 200, patched.text
    wait_for(lambda: status(admin, "api").get("disruptionsAllowed") == 1, "one disruption allowed")
    dry = evict(admin, first["metadata"]["name"], dryRun=["All"])
    assert dry.status_code == 201 and status(admin, "api")["disruptionsAllowed"] == 1
    done = evict(admin, first["metadata"]["name"])
    assert done.status_code == 201, done.text
    assert done.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "code": 201,
    }
    spent = status(admin, "api")
    assert spent["disruptionsAllowed"] == 0 and first["metadata"]["name"] in spent["disruptedPods"]
    assert spent["conditions"][0]["reason"] == "InsufficientPods"
    assert evict(admin, second["metadata"]["name"]).status_code == 429
    # the evicted pod goes, its ReplicaSet makes another, and the budget allows one again
    wait_for(lambda: all_ready(admin, "api", 2), "a replacement pod")
    allowed = wait_for(
        lambda: (s := status(admin, "api")).get("disruptionsAllowed") == 1 and s, "budget back"
    )
    assert "disruptedPods" not in allowed

    # a pod that never started is evicted without asking the budget
    stuck = deployment("stuck", 1)
    stuck["spec"]["template"]["spec"]["nodeSelector"] = {"no-such-label": "x"}
    admin.create("/apis/apps/v1/namespaces/default/deployments", stuck)
    admin.create(PDBS, budget("stuck", "stuck", minAvailable=1))
    pending = wait_for(lambda: pods(admin, "stuck"), "a pending pod")[0]
    assert evict(admin, pending["metadata"]["name"]).status_code == 201


@pytest.mark.parametrize("version", ["1.30", "1.33"])
def test_kubectl_drain_evicts_within_the_budget_and_the_pods_move(
    kube_server: KubeServer, admin: Kube, tmp_path: Path, version: str
) -> None:
    kubectl = Kubectl(tmp_path, admin.access, version=version)
    admin.create("/apis/apps/v1/namespaces/default/deployments", deployment("web", 4))
    admin.create(PDBS, budget("web", "web", minAvailable=3))
    placed = wait_for(lambda: all_ready(admin, "web", 4), "four ready pods")
    wait_for(lambda: status(admin, "web").get("currentHealthy") == 4, "the budget's status")
    listed = kubectl("get", "pdb", "web")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.strip().splitlines()
    assert header.split() == [
        "NAME",
        "MIN",
        "AVAILABLE",
        "MAX",
        "UNAVAILABLE",
        "ALLOWED",
        "DISRUPTIONS",
        "AGE",
    ]
    assert row.split()[:4] == ["web", "3", "N/A", "1"]

    node = placed[0]["spec"]["nodeName"]
    assert sum(p["spec"]["nodeName"] == node for p in placed) == 2  # spread: two on each node
    drained = kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=90s")
    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert f"node/{node} cordoned" in drained.stdout and f"node/{node} drained" in drained.stdout
    evicted = [line for line in drained.stdout.splitlines() if line.endswith(" evicted")]
    assert sum(line.startswith("pod/web-") for line in evicted) == 2  # and the kyma-system pods there
    # the budget allowed one at a time: the second waited for the first one's replacement
    assert "Cannot evict pod as it would violate the pod's disruption budget." in drained.stderr
    assert admin.get(f"/api/v1/nodes/{node}").json()["spec"]["unschedulable"] is True
    moved = wait_for(lambda: all_ready(admin, "web", 4), "four ready pods again")
    assert all(p["spec"]["nodeName"] != node for p in moved)
    json.loads(kubectl("get", "pdb", "web", "-o", "json").stdout)  # still served


def test_an_empty_selector_covers_every_pod_of_the_namespace_and_a_missing_one_none(admin: Kube) -> None:
    admin.create("/apis/apps/v1/namespaces/default/deployments", deployment("solo", 2))
    everything = budget("everything", "", minAvailable=2)
    everything["spec"]["selector"] = {}
    admin.create(PDBS, everything)
    nothing = budget("nothing", "", minAvailable=0)
    del nothing["spec"]["selector"]
    admin.create(PDBS, nothing)
    first, _ = wait_for(lambda: all_ready(admin, "solo", 2), "two ready pods")
    covered = wait_for(lambda: (s := status(admin, "everything")).get("currentHealthy") == 2 and s, "status")
    assert (covered["expectedPods"], covered["disruptionsAllowed"]) == (2, 0)
    assert status(admin, "nothing")["expectedPods"] == 0
    refused = evict(admin, first["metadata"]["name"])
    assert refused.status_code == 429
    assert refused.json()["details"]["causes"][0]["message"] == (
        "The disruption budget everything needs 2 healthy pods and has 2 currently"
    )
