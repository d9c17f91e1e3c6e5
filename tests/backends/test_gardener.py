"""The ``gardener`` backend against a garden cluster played by kymaprov B's embedded runtime.

kymaprov A's ``aws`` plan runs on Gardener: A writes Shoots into the project namespace of B's "garden"
runtime (through a proxy that serves Gardener's ``adminkubeconfig`` subresource and deletion check);
a fake Gardener (``gardener_fake``) moves each Shoot's ``status.lastOperation`` along A's service clock
and hands out the kubeconfig of B's "shoot" runtime as the shoot's admin kubeconfig.
"""

from __future__ import annotations

import base64
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kymaprov.backends.base import DONE, ClusterShape
from kymaprov.backends.gardener import RUNTIME_LABEL, GardenerRuntimes, load_spec, shoot_name
from kymaprov.backends.kubeclient import KubeClient, KubeClientError
from kymaprov.backends.kubeconfig import KubeconfigError, load_access, parse_access
from tests.backends.gardener_fake import (
    CREATE_MINUTES,
    FAILED,
    SHOOT_CRD,
    SHOOTS,
    FakeGardener,
    GardenProxy,
)
from tests.conftest import Api, RunningServer, free_port, new_api, run_kubectl
from tests.provisioning.test_bindings_api import put_binding
from tests.support.wait import wait_for

NAMESPACE = "garden-kyma-dev"
SHOOT_PATH = SHOOTS.format(namespace=NAMESPACE)
EXPIRATION = 7200


@dataclass
class Garden:
    a: RunningServer
    b: RunningServer
    garden: KubeClient  # B's garden runtime, directly
    shoot_kubeconfig: Path
    proxy_kubeconfig: Path
    proxy: GardenProxy
    gardener: FakeGardener

    def shoot(self, env_id: str) -> dict[str, Any] | None:
        try:
            return self.garden.get(f"{SHOOT_PATH}/{shoot_name(env_id.lower())}")
        except KubeClientError as exc:
            if exc.status == 404:
                return None
            raise

    def advance(self, seconds: float) -> None:
        self.a.admin("POST", "/admin/clock/advance", {"seconds": seconds})


def binding_kubeconfig(api: Api, env_id: str) -> str:
    r = put_binding(api, env_id, {"parameters": {"expiration_seconds": 7200}})
    assert r.status_code == 202, r.text
    return str(r.json()["credentials"]["kubeconfig"])


@pytest.fixture(scope="module")
def garden(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Garden]:
    base = tmp_path_factory.mktemp("gardener")
    (base / "a").mkdir()
    (base / "b").mkdir()
    b = RunningServer(base / "b" / "data", free_port(), free_port(), provisioning_seconds=0).start()
    stack: list[Any] = [b]
    try:
        garden_config, shoot_config = base / "garden-direct.yaml", base / "shoot.yaml"
        for path in (garden_config, shoot_config):  # one environment per subaccount
            b_api = new_api(b, path.stem)
            env_id = b_api.create_kyma(name=path.stem)
            b_api.wait_state(env_id)
            path.write_text(binding_kubeconfig(b_api, env_id))
        access = load_access(garden_config)
        garden = KubeClient(access)
        garden.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", SHOOT_CRD)
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        garden.create("/api/v1/namespaces", namespace)
        wait_for(lambda: _served(garden), "the Shoot CRD to be served")
        proxy = GardenProxy(access, shoot_config.read_text()).start()
        stack.append(proxy)
        (base / "garden.yaml").write_text(proxy.kubeconfig(access.token))
        config = base / "runtimes.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "plans": {"aws": "dev"},
                    "backends": {
                        "dev": {
                            "type": "gardener",
                            "kubeconfig": "garden.yaml",
                            "project": "kyma-dev",
                            "kubernetesVersion": "1.32.5",
                            "purpose": "evaluation",
                            "kubeconfigExpirationSeconds": EXPIRATION,
                            "providers": {
                                "aws": {
                                    "credentialsBindingName": "aws-kyma",
                                    "machineTypes": {"mi.xlarge": "m6i.xlarge"},
                                    "shootSpec": {
                                        "provider": {
                                            "workers": [{"machine": {"image": {"name": "gardenlinux"}}}]
                                        }
                                    },
                                }
                            },
                        }
                    },
                }
            )
        )
        a = RunningServer(
            base / "a" / "data",
            free_port(),
            free_port(),
            provisioning_seconds=0,
            extra_env={"KYMAPROV_RUNTIMES_CONFIG": str(config)},
        ).start()
        stack.append(a)
        fake = FakeGardener(access, NAMESPACE, a).start()
        stack.append(fake)
        yield Garden(a, b, garden, shoot_config, base / "garden.yaml", proxy, fake)
        garden.close()
    finally:
        for item in reversed(stack):
            item.stop()


def _served(garden: KubeClient) -> bool:
    try:
        garden.list(SHOOT_PATH)
    except KubeClientError:
        return False
    return True


def create(api: Api, name: str, parameters: dict[str, Any]) -> str:
    body = {
        "environmentType": "kyma",
        "parameters": {"name": name, "region": "eu-central-1", **parameters},
        "planName": "aws",
        "serviceName": "kymaruntime",
        "user": "dev@example.com",
    }
    r = api.request("POST", "/environments", json=body)
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def environment(api: Api, env_id: str) -> dict[str, Any]:
    r = api.request("GET", f"/environments/{env_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def operation(garden: Garden, env_id: str) -> dict[str, Any]:
    """The Shoot's ``status.lastOperation`` ({} while there is none)."""
    last: dict[str, Any] = ((garden.shoot(env_id) or {}).get("status") or {}).get("lastOperation") or {}
    return last


def minute(garden: Garden, env_id: str, api: Api, shows: str, kind: str = "Create") -> None:
    """One service-clock minute for Gardener, then the lifecycle's next look (its retry is 10 s)."""
    before = operation(garden, env_id).get("progress")
    garden.advance(60)
    wait_for(lambda: operation(garden, env_id).get("progress") != before, f"Gardener's {kind} to progress")
    garden.advance(10)
    wait_for(lambda: shows in environment(api, env_id)["stateMessage"], f"stateMessage {shows!r}")


def test_a_shoot_is_created_shown_bound_updated_and_deleted(garden: Garden, tmp_path: Path) -> None:
    api = new_api(garden.a, "gardener-main")
    networking = {"nodes": "10.180.0.0/16", "pods": "10.96.0.0/13", "services": "10.104.0.0/13"}
    parameters = {
        "machineType": "mi.xlarge",
        "autoScalerMin": 3,
        "autoScalerMax": 6,
        "networking": networking,
    }
    env_id = create(api, "on-gardener", parameters)
    name = shoot_name(env_id.lower())

    shoot = wait_for(lambda: garden.shoot(env_id), "the Shoot")
    spec = shoot["spec"]
    assert shoot["metadata"]["labels"]["kymaprov.io/runtime-id"] == env_id.lower()
    assert shoot["metadata"]["annotations"]["kymaprov.io/runtime-name"] == "on-gardener"
    assert (spec["region"], spec["credentialsBindingName"], spec["purpose"]) == (
        "eu-central-1",
        "aws-kyma",
        "evaluation",
    )
    assert spec["cloudProfile"] == {"kind": "CloudProfile", "name": "aws"}
    assert spec["kubernetes"] == {"version": "1.32.5"}
    assert spec["networking"] == {"type": "calico", **networking}
    assert spec["provider"]["type"] == "aws"
    [worker] = spec["provider"]["workers"]
    assert worker["machine"] == {"type": "m6i.xlarge", "image": {"name": "gardenlinux"}}
    assert (worker["minimum"], worker["maximum"]) == (3, 6)
    assert worker["zones"] == ["eu-central-1a", "eu-central-1b", "eu-central-1c"]

    # progress, a quarter per service-clock minute, in the environment's stateMessage
    wait_for(lambda: operation(garden, env_id).get("type") == "Create", "Gardener to start creating")
    garden.advance(10)
    wait_for(lambda: f"{name}: 0%" in environment(api, env_id)["stateMessage"], "the create at 0%")
    for percent in (25, 50, 75):
        minute(garden, env_id, api, f"Gardener is creating shoot {NAMESPACE}/{name}: {percent}%")
        assert environment(api, env_id)["state"] == "CREATING"
    garden.advance(60)
    wait_for(lambda: operation(garden, env_id).get("state") == "Succeeded", "the create to succeed")
    garden.advance(10)
    env = api.wait_state(env_id, timeout=60)
    assert env["stateMessage"] == "Environment instance created."
    shoot_access = load_access(garden.shoot_kubeconfig)
    assert f'"APIServerURL":"{shoot_access.server}"' in env["labels"]
    assert garden.proxy.admin_requests[0] == {
        "apiVersion": "authentication.gardener.cloud/v1alpha1",
        "kind": "AdminKubeconfigRequest",
        "spec": {"expirationSeconds": EXPIRATION},
    }
    assert len([s for s in garden.garden.list(SHOOT_PATH) if s["metadata"]["name"] == name]) == 1

    # a binding's kubeconfig works with kubectl against the shoot's cluster
    kubeconfig = tmp_path / "binding.yaml"
    kubeconfig.write_text(binding_kubeconfig(api, env_id))
    result = run_kubectl(kubeconfig, tmp_path / "cache", "get", "namespace", "kyma-system", "-o", "name")
    assert result.returncode == 0 and result.stdout.strip() == "namespace/kyma-system", result.stderr
    assert load_access(kubeconfig).server == shoot_access.server

    # an update rewrites the worker pool and waits for Gardener's reconcile
    update = {
        "planName": "aws",
        "parameters": {"autoScalerMin": 4, "autoScalerMax": 8, "machineType": "m6i.2xlarge"},
    }
    assert api.request("PATCH", f"/environments/{env_id}", json=update).status_code == 202
    shoot = wait_for(
        lambda: (s := garden.shoot(env_id)) and s["spec"]["provider"]["workers"][0]["maximum"] == 8 and s,
        "the patched workers",
    )
    [worker] = shoot["spec"]["provider"]["workers"]
    assert (worker["machine"]["type"], worker["minimum"], worker["maximum"]) == ("m6i.2xlarge", 4, 8)
    assert worker["machine"]["image"] == {"name": "gardenlinux"}  # the rest of the pool is kept
    wait_for(lambda: operation(garden, env_id).get("type") == "Reconcile", "the reconcile")
    garden.advance(10)
    reconciling = f"Gardener is reconciling shoot {NAMESPACE}/{name}: 0%"
    wait_for(lambda: reconciling in environment(api, env_id)["stateMessage"], "the reconcile in stateMessage")
    assert environment(api, env_id)["state"] == "UPDATING"
    garden.advance(60)
    wait_for(lambda: operation(garden, env_id).get("state") == "Succeeded", "the reconcile to succeed")
    garden.advance(10)
    assert api.wait_state(env_id, timeout=60)["stateMessage"] == "Environment instance updated."

    # deletion: confirmed by the annotation before the DELETE, followed until the Shoot is gone
    assert api.request("DELETE", f"/environments/{env_id}").status_code == 202
    wait_for(lambda: (garden.shoot(env_id) or {}).get("metadata", {}).get("deletionTimestamp"), "deletion")
    [(deleted, annotations)] = garden.proxy.deletions
    assert deleted == name and annotations["confirmation.gardener.cloud/deletion"] == "true"
    wait_for(lambda: operation(garden, env_id).get("type") == "Delete", "Gardener to start deleting")
    minute(garden, env_id, api, f"Gardener is deleting shoot {NAMESPACE}/{name}: 50%", "Delete")
    assert environment(api, env_id)["state"] == "DELETING"
    garden.advance(60)
    wait_for(lambda: garden.shoot(env_id) is None, "the Shoot to be gone")
    garden.advance(10)
    api.wait_gone(env_id, timeout=60)


def test_a_failing_shoot_shows_its_errors_then_is_creation_failed_with_them(garden: Garden) -> None:
    api = new_api(garden.a, "gardener-failing")
    garden.gardener.failing.add("doomed")
    env_id = create(api, "doomed", {})
    name = shoot_name(env_id.lower())
    wait_for(lambda: operation(garden, env_id).get("type") == "Create", "Gardener to start creating")
    garden.advance(60)
    wait_for(lambda: operation(garden, env_id).get("state") == "Error", "the error")
    garden.advance(10)
    erring = f"Gardener is creating shoot {NAMESPACE}/{name}: 25% Flow failed (error, retrying: {FAILED})"
    wait_for(lambda: environment(api, env_id)["stateMessage"] == erring, "the error in stateMessage")
    assert environment(api, env_id)["state"] == "CREATING"
    garden.advance(60)
    wait_for(lambda: operation(garden, env_id).get("state") == "Failed", "the failure")
    garden.advance(10)
    env = api.wait_state(env_id, ("CREATION_FAILED",), timeout=60)
    assert env["stateMessage"] == f"Gardener failed creating shoot {NAMESPACE}/{name}: {FAILED}"


def test_a_create_killed_midway_resumes_on_restart_without_a_second_shoot(garden: Garden) -> None:
    api = new_api(garden.a, "gardener-restart")
    env_id = create(api, "resumed", {})
    wait_for(lambda: operation(garden, env_id).get("type") == "Create", "Gardener to start creating")
    garden.advance(60)
    wait_for(lambda: operation(garden, env_id).get("progress") == 25, "the create at 25%")
    garden.a.stop(signal.SIGKILL)
    garden.a.start()
    garden.advance(10)
    wait_for(lambda: "25%" in environment(api, env_id)["stateMessage"], "the resumed create at 25%")
    for _ in range(CREATE_MINUTES - 1):
        garden.advance(60)
    wait_for(lambda: operation(garden, env_id).get("state") == "Succeeded", "the create to succeed")
    garden.advance(10)
    assert api.wait_state(env_id, timeout=60)["stateMessage"] == "Environment instance created."
    mine = [s for s in garden.garden.list(SHOOT_PATH, f"{RUNTIME_LABEL}={env_id.lower()}")]
    assert [s["metadata"]["name"] for s in mine] == [shoot_name(env_id.lower())]


def test_the_backend_is_idempotent_and_renews_admin_access(garden: Garden) -> None:
    spec = load_spec(
        {
            "kubeconfig": str(garden.proxy_kubeconfig),
            "project": "kyma-dev",
            "kubeconfigExpirationSeconds": 600,
            "providers": {"aws": {"secretBindingName": "aws-old"}},
        },
        garden.proxy_kubeconfig.parent,
    )
    now = [time.monotonic()]
    backend = GardenerRuntimes("direct", spec, monotonic=lambda: now[0])
    shape = ClusterShape(plan="aws")
    assert backend.create("direct-1", "one", shape) == DONE
    assert backend.create("direct-1", "one", shape) == DONE  # found, not made again
    mine = garden.garden.list(SHOOT_PATH, f"{RUNTIME_LABEL}=direct-1")
    assert len(mine) == 1 and mine[0]["spec"]["secretBindingName"] == "aws-old"
    assert "credentialsBindingName" not in mine[0]["spec"] and "kubernetes" not in mine[0]["spec"]

    requests = len(garden.proxy.admin_requests)
    assert backend.access("direct-absent") is None  # no Shoot: Gardener answers 404
    first = backend.access("direct-1")
    assert first is not None and first.server == load_access(garden.shoot_kubeconfig).server
    assert backend.access("direct-1") == first
    assert len(garden.proxy.admin_requests) == requests + 1  # kept ...
    now[0] += 0.6 * 600 + 1
    assert backend.access("direct-1") == first
    assert len(garden.proxy.admin_requests) == requests + 2  # ... until 60 % of its life has passed

    assert backend.create("direct-2", "two", ClusterShape(plan="gcp", provider="gcp")).failed == (
        "The Gardener backend 'direct' has no credentials for provider 'gcp' (configured: aws)"
    )


def test_an_admin_kubeconfig_must_be_self_contained(tmp_path: Path) -> None:
    """A kubeconfig from the network naming local files is refused, not read from this machine."""
    text = yaml.safe_dump(
        {
            "current-context": "c",
            "clusters": [
                {"name": "c", "cluster": {"server": "https://x", "certificate-authority": "/etc/ca"}}
            ],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
        }
    )
    with pytest.raises(KubeconfigError, match="certificate-authority names a file; only inline"):
        parse_access(text, "the admin kubeconfig")
    (tmp_path / "ca.pem").write_text("pem")  # a kubeconfig file may name files next to it
    local = text.replace("/etc/ca", "ca.pem")
    assert parse_access(local, "a file", tmp_path).ca_data == base64.b64encode(b"pem").decode()
