"""Worker Nodes sized from the plan's parameters, and their heartbeat Leases."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from kymaprov.backends.base import ClusterAccess
from kymaprov.backends.shape import ClusterShape, machine_size
from kymaprov.provisioning.catalog import PLANS
from kymaprov.provisioning.shape import cluster_shape
from tests.conftest import RunningServer, free_port, new_api, run_kubectl
from tests.kubeapi.conftest import Kube, Kubectl, KubeServer, kyma_settled
from tests.support.wait import wait_for

VERSIONS = ("1.30", "1.33")


def test_shape_from_plan_and_parameters() -> None:
    aws = cluster_shape(
        PLANS["aws"], {"region": "eu-west-2", "machineType": "m6i.xlarge", "autoScalerMin": 4}
    )
    assert (aws.machine_type, aws.nodes, aws.region) == ("m6i.xlarge", 4, "eu-west-2")
    assert aws.zones == ("eu-west-2a", "eu-west-2b", "eu-west-2c")
    assert (aws.cpus, aws.memory_gib) == (4, 16)
    default = cluster_shape(PLANS["azure"], {"region": "westeurope"})
    assert default.nodes == PLANS["azure"].default_autoscaler_min == 3
    assert default.machine_type == PLANS["azure"].default_machine_type
    assert default.zones == ("westeurope-1", "westeurope-2", "westeurope-3")
    lite = cluster_shape(PLANS["azure_lite"], {"region": "eastus"})
    assert (lite.nodes, lite.zones) == (2, ("eastus-1",))  # no HA zones in azure_lite
    trial = cluster_shape(PLANS["trial"], {"region": "us"})
    assert (trial.nodes, trial.region, trial.zones) == (1, "us-east-1", ("us-east-1a",))
    gcp = cluster_shape(PLANS["gcp"], {"region": "europe-west3", "machineType": "n2-standard-8"})
    assert gcp.zones[0] == "europe-west3-a" and machine_size(gcp.machine_type) == (8, 32)
    assert machine_size("Standard_D4s_v5") == (4, 16) and machine_size("g_c2_m8") == (2, 8)


@pytest.mark.parametrize("version", VERSIONS)
def test_get_nodes_shows_the_shape(tmp_path: Path, kube_server: KubeServer, version: str) -> None:
    shape = ClusterShape(machine_type="m6i.2xlarge", nodes=4, region="eu-west-2",
                         zones=("eu-west-2a", "eu-west-2b", "eu-west-2c"))  # fmt: skip
    kubectl = Kubectl(tmp_path, kube_server.cluster(shape=shape), version=version)
    listed = kubectl("get", "nodes", "-L", "topology.kubernetes.io/zone,node.kubernetes.io/instance-type")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.strip().splitlines()
    assert header.split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "ZONE", "INSTANCE-TYPE"]
    assert len(rows) == 4
    assert all(r.split()[1] == "Ready" and r.split()[4].startswith("v1.33.") for r in rows)
    assert sorted(r.split()[5] for r in rows) == ["eu-west-2a", "eu-west-2a", "eu-west-2b", "eu-west-2c"]
    assert {r.split()[6] for r in rows} == {"m6i.2xlarge"}
    nodes = json.loads(kubectl("get", "nodes", "-o", "json").stdout)["items"]
    status = nodes[0]["status"]
    assert status["capacity"]["cpu"] == "8" and status["capacity"]["memory"] == f"{32 * 1024 * 1024}Ki"
    assert status["capacity"]["pods"] == "110"
    assert status["nodeInfo"]["kubeletVersion"].startswith("v1.33.")
    assert {a["type"] for a in status["addresses"]} >= {"InternalIP", "Hostname"}
    leases = kubectl("get", "leases", "-n", "kube-node-lease", "-o", "name")
    assert sorted(leases.stdout.split()) == sorted(
        f"lease.coordination.k8s.io/{n['metadata']['name']}" for n in nodes
    )


def test_leases_are_renewed_lazily(kube_server: KubeServer, access: ClusterAccess) -> None:
    """An idle runtime's Leases age (nothing writes to it); the first pass after a write renews them."""
    admin = Kube(access)
    kyma_settled(admin)  # a new runtime's module Deployments roll out first
    path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"

    def quiet() -> bool:
        """The cluster's version held still for half a second: the controllers' last pass is over (a
        pass still to come after the last write would renew the leases after the advance)."""
        version = admin.get(path).json()["metadata"]["resourceVersion"]
        time.sleep(0.5)
        return bool(admin.get(path).json()["metadata"]["resourceVersion"] == version)

    wait_for(quiet, "the runtime to settle")
    before = {i["metadata"]["name"]: i["spec"]["renewTime"] for i in admin.get(path).json()["items"]}
    kube_server.ctx.clock.advance(120)
    time.sleep(0.5)  # an advance alone wakes only runtimes with timers: this one stays idle
    assert {i["metadata"]["name"]: i["spec"]["renewTime"] for i in admin.get(path).json()["items"]} == before
    admin.create("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "touch"}})
    deadline = time.monotonic() + 10
    while True:
        after = {i["metadata"]["name"]: i["spec"]["renewTime"] for i in admin.get(path).json()["items"]}
        if all(after[n] > before[n] for n in before):
            break
        assert time.monotonic() < deadline, "the leases were not renewed"
        time.sleep(0.05)
    admin.close()


def test_provisioned_runtime_has_the_plans_nodes(tmp_path: Path) -> None:
    """Through the Provisioning Service: autoScalerMin and machineType reach the runtime's Nodes."""
    server = RunningServer(tmp_path / "data", free_port(), free_port(), provisioning_seconds=0).start()
    try:
        api = new_api(server)
        body = {
            "environmentType": "kyma",
            "parameters": {"name": "sized", "region": "eu-central-1", "machineType": "m6i.xlarge",
                           "autoScalerMin": 5, "autoScalerMax": 8},
            "planName": "aws",
            "serviceName": "kymaruntime",
            "user": "dev@example.com",
        }  # fmt: skip
        r = api.request("POST", "/environments", json=body)
        assert r.status_code == 202, r.text
        env_id = r.json()["id"]
        api.wait_state(env_id)
        r = api.request(
            "PUT", f"/environments/{env_id}/bindings", json={"parameters": {"expiration_seconds": 7200}}
        )
        assert r.status_code == 202, r.text
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(r.json()["credentials"]["kubeconfig"])
        assert yaml.safe_load(kubeconfig.read_text())["clusters"]
        out = run_kubectl(kubeconfig, tmp_path / "cache", "get", "nodes", "-o", "json", version="1.33")
        assert out.returncode == 0, out.stderr
        nodes = json.loads(out.stdout)["items"]
        assert len(nodes) == 5
        labels = [n["metadata"]["labels"] for n in nodes]
        assert {lbl["node.kubernetes.io/instance-type"] for lbl in labels} == {"m6i.xlarge"}
        assert {lbl["topology.kubernetes.io/zone"] for lbl in labels} == {
            "eu-central-1a", "eu-central-1b", "eu-central-1c"
        }  # fmt: skip
        # /admin/clock/advance moves the runtime's pods too: a 10-minute readiness delay passes at once
        probe = {"readinessProbe": {"tcpSocket": {"port": 80}, "initialDelaySeconds": 600}}
        overrides = {"spec": {"containers": [{"name": "slow", "image": "nginx", **probe}]}}
        ran = run_kubectl(kubeconfig, tmp_path / "cache", "run", "slow", "--image=nginx",
                          "--overrides", json.dumps(overrides), version="1.33")  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        early = run_kubectl(kubeconfig, tmp_path / "cache", "wait", "--for=condition=Ready", "pod/slow",
                            "--timeout=3s", version="1.33")  # fmt: skip
        assert early.returncode != 0
        server.admin("POST", "/admin/clock/advance", {"seconds": 600})
        ready = run_kubectl(kubeconfig, tmp_path / "cache", "wait", "--for=condition=Ready", "pod/slow",
                            "--timeout=10s", version="1.33")  # fmt: skip
        assert ready.returncode == 0, ready.stderr

        # an update of the worker pool reaches the Nodes: another machine type, a higher minimum
        update = {"planName": "aws", "parameters": {"machineType": "m6i.2xlarge", "autoScalerMin": 6}}
        r = api.request("PATCH", f"/environments/{env_id}", json=update)
        assert r.status_code == 202, r.text
        assert api.wait_state(env_id)["state"] == "OK"
        out = run_kubectl(kubeconfig, tmp_path / "cache", "get", "nodes", "-o", "json", version="1.33")
        assert out.returncode == 0, out.stderr
        updated = json.loads(out.stdout)["items"]
        assert len(updated) == 6
        assert {n["metadata"]["labels"]["node.kubernetes.io/instance-type"] for n in updated} == {
            "m6i.2xlarge"
        }
        assert {n["status"]["capacity"]["cpu"] for n in updated} == {"8"}
    finally:
        server.stop()


def test_a_worker_pool_update_replaces_and_grows_the_nodes_and_the_pods_move(kube_server: KubeServer) -> None:
    """``EmbeddedRuntimes.update`` re-sizes the pool as a Gardener rollout: another machine type
    replaces every Node, the pool grows to the new minimum but never shrinks, a removed Node's Lease
    and pods go with it, and its Deployment's pods are made again on the new Nodes."""
    cluster_id = f"c-{uuid.uuid4().hex[:12]}"
    zones = ("eu-west-2a", "eu-west-2b", "eu-west-2c")
    small = ClusterShape(machine_type="m6i.large", nodes=2, region="eu-west-2", zones=zones)
    admin = Kube(kube_server.runtimes.create_cluster(cluster_id, "pool", small))
    nginx = {"name": "web", "image": "nginx", "resources": {"requests": {"cpu": "100m"}}}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [nginx]}},
        },
    }
    admin.create("/apis/apps/v1/namespaces/default/deployments", deployment)

    def nodes() -> dict[str, str]:
        items = admin.get("/api/v1/nodes").json()["items"]
        return {
            n["metadata"]["name"]: n["metadata"]["labels"]["node.kubernetes.io/instance-type"] for n in items
        }

    def running_on(names: set[str]) -> bool:
        pods = admin.get("/api/v1/namespaces/default/pods", params={"labelSelector": "app=web"}).json()[
            "items"
        ]
        return len(pods) == 4 and all(
            p["status"].get("phase") == "Running" and p["spec"].get("nodeName") in names for p in pods
        )

    old = nodes()
    assert len(old) == 2
    wait_for(lambda: running_on(set(old)), "four pods running on the first nodes")

    assert kube_server.runtimes.update(cluster_id, replace(small, machine_type="m6i.xlarge", nodes=3)).done
    new = nodes()
    assert len(new) == 3 and set(new.values()) == {"m6i.xlarge"} and not set(new) & set(old)
    node = admin.get(f"/api/v1/nodes/{next(iter(new))}").json()
    assert node["status"]["capacity"]["cpu"] == "4" and node["status"]["conditions"][-1]["type"] == "Ready"
    wait_for(lambda: running_on(set(new)), "the pods made again on the new nodes")

    def leases() -> set[str]:
        items = admin.get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases").json()["items"]
        return {lease["metadata"]["name"] for lease in items}

    wait_for(lambda: leases() == set(new), "a lease for each node and none for the removed ones")

    assert kube_server.runtimes.update(cluster_id, replace(small, machine_type="m6i.xlarge", nodes=1)).done
    assert nodes() == new  # a lower minimum removes no node
    assert kube_server.runtimes.update(cluster_id, replace(small, machine_type="m6i.xlarge", nodes=4)).done
    grown = nodes()
    assert len(grown) == 4 and set(new) < set(grown)
    admin.close()
