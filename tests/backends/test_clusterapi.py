"""The ``cluster-api`` backend against a management cluster (an embedded runtime with Cluster API's CRD)
and a test controller playing Cluster API over service-clock minutes: the Cluster kymaprov writes, the
progress in ``stateMessage``, a binding's kubeconfig used with kubectl against the workload cluster the
``<name>-kubeconfig`` Secret names, a topology update, a failure, and the deletion."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kymaprov.backends.kubeclient import KubeClient, KubeClientError
from tests.backends.fake_capi import CLUSTERS, FakeClusterApi, capi_kymaprov
from tests.conftest import Api, RunningServer, new_api, run_kubectl
from tests.kubeapi.conftest import KubeServer
from tests.provisioning.test_bindings_api import put_binding
from tests.support import wait as support

MINUTES = 3  # the fake Cluster API takes three service-clock minutes per phase


@pytest.fixture(scope="module")
def capi(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, FakeClusterApi, KubeServer]]:
    with capi_kymaprov(tmp_path_factory.mktemp("capi"), MINUTES) as setup:
        yield setup


def create(api: Api, name: str, plan: str = "aws", region: str = "eu-central-1", **parameters: Any) -> str:
    body = {
        "environmentType": "kyma",
        "parameters": {"name": name, "region": region, **parameters},
        "planName": plan,
        "serviceName": "kymaruntime",
        "user": "dev@example.com",
    }
    r = api.request("POST", "/environments", json=body)
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


wait_for = functools.partial(support.wait_for, timeout=60)  # a management cluster's minutes, under load


def message(api: Api, env_id: str, part: str) -> dict[str, Any]:
    """The environment once its ``stateMessage`` contains ``part``."""

    def has() -> dict[str, Any] | None:
        env: dict[str, Any] = api.request("GET", f"/environments/{env_id}").json()
        return env if part in str(env.get("stateMessage")) else None

    last: dict[str, Any] = {}
    try:
        return dict(wait_for(has, f"stateMessage with {part!r}"))
    except AssertionError:
        last = api.request("GET", f"/environments/{env_id}").json()
        raise AssertionError(f"stateMessage never contained {part!r}: {last}") from None


def rolling_out(fake: FakeClusterApi, name: str) -> None:
    """Wait until Cluster API saw the topology change (before the clock moves on past its roll-out)."""

    def seen() -> bool:
        conditions = fake.kube.get(f"{CLUSTERS}/{name}").get("status", {}).get("conditions", [])
        return {"type": "TopologyReconciled", "status": "False"} in [
            {"type": c["type"], "status": c["status"]} for c in conditions
        ]

    wait_for(seen, "TopologyReconciled False")


def cluster_of(fake: FakeClusterApi, env_id: str) -> dict[str, Any] | None:
    try:
        return fake.kube.get(f"{CLUSTERS}/kyma-{env_id.lower()}")
    except KubeClientError as exc:
        if exc.status == 404:
            return None
        raise


def test_a_runtime_from_a_cluster_class_lives_its_whole_life(
    capi: tuple[RunningServer, FakeClusterApi, KubeServer], tmp_path: Path
) -> None:
    server, fake, _ = capi
    api = new_api(server, "capi-life")
    env_id = create(
        api,
        "capi-one",
        machineType="m6i.xlarge",
        autoScalerMin=3,
        autoScalerMax=6,
        networking={"nodes": "10.180.0.0/16", "pods": "10.64.0.0/12", "services": "10.112.0.0/13"},
    )
    cluster = wait_for(lambda: cluster_of(fake, env_id), "the Cluster")
    name = f"kyma-{env_id.lower()}"
    assert cluster["metadata"]["labels"] == {
        "kyma-project.io/runtime-id": env_id.lower(),
        "kymaprov.io/backend": "capi",
    }
    assert cluster["metadata"]["annotations"]["kyma-project.io/runtime-name"] == "capi-one"
    assert cluster["spec"] == {
        "clusterNetwork": {
            "pods": {"cidrBlocks": ["10.64.0.0/12"]},
            "services": {"cidrBlocks": ["10.112.0.0/13"]},
        },
        "topology": {
            "class": "kyma-aws",
            "classNamespace": "capi-classes",
            "version": "v1.33.1",
            "controlPlane": {"replicas": 3},
            "workers": {
                "machineDeployments": [
                    {
                        "class": "default-worker",
                        "name": "worker",
                        "metadata": {
                            "annotations": {
                                "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size": "3",
                                "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size": "6",
                            }
                        },
                    }
                ]
            },
            "variables": [
                {"name": "region", "value": "eu-central-1"},
                {"name": "machineType", "value": "m6i.xlarge"},
                {"name": "zones", "value": ["eu-central-1a", "eu-central-1b", "eu-central-1c"]},
                {"name": "nodesCIDR", "value": "10.180.0.0/16"},
                {"name": "imageRepository", "value": "registry.example.com/capi"},
            ],
        },
    }

    # progress, phase by phase, as the service clock passes
    env = message(
        api, env_id, f"Cluster {name} is Provisioning, waiting for infrastructure (Waiting: WaitingFor"
    )
    assert env["state"] == "CREATING"
    server.admin("POST", "/admin/clock/advance", {"seconds": MINUTES * 60})
    env = message(
        api, env_id, "Provisioning, waiting for control plane initialization (Waiting: WaitingForControlPlane"
    )
    assert env["state"] == "CREATING"
    server.admin("POST", "/admin/clock/advance", {"seconds": MINUTES * 60})
    env = message(api, env_id, "Provisioning, waiting for control plane (Waiting: ScalingUp)")
    assert env["state"] == "CREATING"
    server.admin("POST", "/admin/clock/advance", {"seconds": MINUTES * 60})
    env = api.wait_state(env_id, timeout=60)
    assert env["stateMessage"] == "Environment instance created."
    assert f'"APIServerURL":"{fake.workload.server}"' in env["labels"]

    # a binding's kubeconfig works with kubectl against the workload cluster from the Secret
    r = put_binding(api, env_id, {"parameters": {"expiration_seconds": 600}})
    assert r.status_code == 202, r.text
    kubeconfig = tmp_path / "binding.yaml"
    kubeconfig.write_text(r.json()["credentials"]["kubeconfig"])
    result = run_kubectl(
        kubeconfig, tmp_path / "cache", "get", "serviceaccounts", "-n", "kyma-system", "-o", "name"
    )
    assert result.returncode == 0, result.stderr
    assert f"serviceaccount/kyma-binding-{r.headers['location']}" in result.stdout.split()
    with KubeClient(fake.workload) as workload:  # what kymaprov applied there: the btp-operator's Secret
        assert workload.get("/api/v1/namespaces/kyma-system/secrets/sap-btp-manager")["data"]

    # an update patches the topology and waits until Cluster API rolled it out
    generation = fake.kube.get(f"{CLUSTERS}/{name}")["metadata"]["generation"]
    update = {
        "planName": "aws",
        "parameters": {"autoScalerMin": 4, "autoScalerMax": 8, "machineType": "m6i.2xlarge"},
    }
    assert api.request("PATCH", f"/environments/{env_id}", json=update).status_code == 202
    message(api, env_id, f"Cluster {name} is Provisioned, waiting for the latest change to be observed")
    cluster = fake.kube.get(f"{CLUSTERS}/{name}")
    assert cluster["metadata"]["generation"] > generation
    workers = cluster["spec"]["topology"]["workers"]["machineDeployments"]
    assert workers == [
        {
            "class": "default-worker",
            "name": "worker",
            "metadata": {
                "annotations": {
                    "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size": "4",
                    "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size": "8",
                }
            },
        }
    ]
    assert cluster["spec"]["topology"]["variables"][:4] == [  # the create's other parameters are kept
        {"name": "region", "value": "eu-central-1"},
        {"name": "machineType", "value": "m6i.2xlarge"},
        {"name": "zones", "value": ["eu-central-1a", "eu-central-1b", "eu-central-1c"]},
        {"name": "nodesCIDR", "value": "10.180.0.0/16"},
    ]
    assert cluster["spec"]["clusterNetwork"]["pods"] == {"cidrBlocks": ["10.64.0.0/12"]}  # not patched
    assert api.request("GET", f"/environments/{env_id}").json()["state"] == "UPDATING"
    rolling_out(fake, name)
    server.admin("POST", "/admin/clock/advance", {"seconds": MINUTES * 60})
    api.wait_state(env_id, timeout=60)
    # a second update builds on the first: what it omits stays as the first left it
    update = {"planName": "aws", "parameters": {"autoScalerMax": 10}}
    assert api.request("PATCH", f"/environments/{env_id}", json=update).status_code == 202
    message(api, env_id, "waiting for the latest change to be observed")
    topology = fake.kube.get(f"{CLUSTERS}/{name}")["spec"]["topology"]
    assert topology["workers"]["machineDeployments"][0]["metadata"]["annotations"] == {
        "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size": "4",
        "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size": "10",
    }
    assert topology["variables"][1] == {"name": "machineType", "value": "m6i.2xlarge"}
    rolling_out(fake, name)
    server.admin("POST", "/admin/clock/advance", {"seconds": MINUTES * 60})
    api.wait_state(env_id, timeout=60)

    # deletion: the Cluster is deleted, Cluster API tears it down, then the environment is gone
    assert api.request("DELETE", f"/environments/{env_id}").status_code == 202
    message(api, env_id, f"Cluster {name} is being deleted (phase Deleting)")
    assert cluster_of(fake, env_id)["metadata"]["deletionTimestamp"]  # type: ignore[index]
    assert api.request("GET", f"/environments/{env_id}").json()["state"] == "DELETING"
    server.admin("POST", "/admin/clock/advance", {"seconds": MINUTES * 60})
    api.wait_gone(env_id, timeout=60)
    assert cluster_of(fake, env_id) is None


def test_a_failed_cluster_is_creation_failed_with_its_reason(
    capi: tuple[RunningServer, FakeClusterApi, KubeServer],
) -> None:
    server, fake, _ = capi
    api = new_api(server, "capi-failure")
    env_id = create(api, "fail-on-purpose")
    wait_for(lambda: cluster_of(fake, env_id), "the Cluster")
    message(api, env_id, "is Provisioning")
    server.admin("POST", "/admin/clock/advance", {"seconds": MINUTES * 60})
    env = api.wait_state(env_id, ("CREATION_FAILED",), timeout=60)
    assert env["stateMessage"] == (
        f"Cluster API failed to provision Cluster kyma-{env_id.lower()}: "
        "InvalidConfiguration: machine type not offered in region"
    )


def test_a_cluster_the_management_cluster_refuses_is_creation_failed_at_once(
    capi: tuple[RunningServer, FakeClusterApi, KubeServer],
) -> None:
    server, _, _ = capi
    api = new_api(server, "capi-refused")
    env_id = create(api, "nowhere", plan="gcp", region="europe-west3")
    env = api.wait_state(env_id, ("CREATION_FAILED",), timeout=60)
    assert env["stateMessage"].startswith(
        'The Cluster API management cluster refused the request: 404: namespaces "no-such-namespace" not found'
    ), env["stateMessage"]
