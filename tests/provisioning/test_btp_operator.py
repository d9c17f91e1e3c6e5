"""btp-operator for real: ServiceInstance/ServiceBinding in a runtime become the subaccount's cis instance
and binding, the binding's Secret holds working client credentials, deleting them deletes both; the
operator uses the credentials KEB's way puts into the runtime (``kyma-system/sap-btp-manager``)."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import yaml

from kymaprov.backends.base import ClusterAccess
from kymaprov.backends.kubeclient import KubeClient
from kymaprov.btpoperator import LEASE_NAME, LEASE_NAMESPACE, RuntimeOperator, ServiceManager
from kymaprov.leaderelection import Election
from tests.conftest import Api, RunningServer, run_kubectl
from tests.support.wait import wait_for


class Runtime:
    """kubectl 1.33 against one environment's runtime, with an admin binding's kubeconfig."""

    def __init__(self, api: Api, env_id: str, tmp: Path) -> None:
        r = api.request(
            "PUT", f"/environments/{env_id}/bindings", json={"parameters": {"expiration_seconds": 3600}}
        )
        assert r.status_code == 202, r.text
        self.kubeconfig = tmp / "kubeconfig"
        self.kubeconfig.write_text(r.json()["credentials"]["kubeconfig"])
        self.tmp = tmp
        self.calls = 0

    def __call__(self, *args: str, stdin: str | None = None) -> Any:
        self.calls += 1
        if stdin is not None:
            manifest = self.tmp / f"m{self.calls}.json"
            manifest.write_text(stdin)
            args = (*args, "-f", str(manifest))
        return run_kubectl(self.kubeconfig, self.tmp / f"cache{self.calls}", *args, version="1.33")

    def json(self, *args: str) -> dict[str, Any]:
        result = self("get", *args, "-o", "json")
        assert result.returncode == 0, result.stderr
        body: dict[str, Any] = json.loads(result.stdout)
        return body

    def wait(self, what: str, check: Any, timeout: float = 30) -> Any:
        return wait_for(check, what, timeout, interval=0.2)  # each check runs kubectl


def cis(server: RunningServer, sub: str, kind: str) -> dict[str, dict[str, Any]]:
    r = httpx.get(
        f"{server.url}/cis/v1/subaccounts/{sub}/{kind}",
        headers={"authorization": f"Bearer {server.platform_token()}"},
    )
    assert r.status_code == 200, r.text
    return {i["id"]: i for i in r.json()["items"]}


def decode(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


INSTANCE = {
    "apiVersion": "services.cloud.sap.com/v1",
    "kind": "ServiceInstance",
    "metadata": {"name": "provisioning", "namespace": "default"},
    "spec": {
        "serviceOfferingName": "cis",
        "servicePlanName": "local",
        "parameters": {"grantType": "clientCredentials"},
    },
}
BINDING = {
    "apiVersion": "services.cloud.sap.com/v1",
    "kind": "ServiceBinding",
    "metadata": {"name": "provisioning-key", "namespace": "default"},
    "spec": {"serviceInstanceName": "provisioning", "secretName": "provisioning-credentials"},
}


def provisioned(server: RunningServer, tmp: Path, label: str) -> tuple[str, Api, str, Runtime]:
    """A new subaccount's Kyma environment, OK: the subaccount, its API client, the environment's id
    and kubectl on its runtime."""
    sub = server.new_subaccount(label)
    api = Api(server, server.token_for(server.cis_credentials(sub)))
    r = api.request(
        "POST",
        "/environments",
        json={
            "environmentType": "kyma",
            "parameters": {"name": "btp", "region": "eu-central-1"},
            "planName": "aws",
            "serviceName": "kymaruntime",
            "user": "dev@example.com",
        },
    )
    assert r.status_code == 202, r.text
    env_id = r.json()["id"]
    api.wait_state(env_id)
    return sub, api, env_id, Runtime(api, env_id, tmp)


def test_service_instance_and_binding_become_cis_instance_and_binding(
    server: RunningServer, tmp_path: Path
) -> None:
    sub, api, env_id, kubectl = provisioned(server, tmp_path, "btp-operator")

    manager = decode(kubectl.json("secret", "sap-btp-manager", "-n", "kyma-system"))
    assert set(manager) == {"clientid", "clientsecret", "sm_url", "tokenurl", "cluster_id"}
    assert manager["sm_url"] == server.url and manager["tokenurl"] == server.url

    before = set(cis(server, sub, "service_instances"))
    applied = kubectl("apply", stdin=json.dumps(INSTANCE))
    assert applied.returncode == 0, applied.stderr
    waited = kubectl("wait", "--for=condition=Ready", "serviceinstance/provisioning", "--timeout=30s")
    assert waited.returncode == 0, waited.stderr
    instance = kubectl.json("serviceinstance", "provisioning")
    assert instance["metadata"]["finalizers"] == ["services.cloud.sap.com/sap-btp-finalizer"]
    status = instance["status"]
    assert status["ready"] == "True" and status["subaccountID"] == sub
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("Succeeded", "True", "Created"),
        ("Ready", "True", "Provisioned"),
    ]
    created = cis(server, sub, "service_instances")
    assert set(created) - before == {status["instanceID"]}
    assert created[status["instanceID"]]["name"] == "provisioning"
    assert created[status["instanceID"]]["service_plan_name"] == "local"
    listed = kubectl("get", "serviceinstances")
    header, row = listed.stdout.strip().splitlines()
    assert header.split() == ["NAME", "OFFERING", "PLAN", "SHARED", "DATACENTER", "STATUS", "READY", "AGE"]
    assert row.split()[:5] == ["provisioning", "cis", "local", "Created", "True"]

    applied = kubectl("apply", stdin=json.dumps(BINDING))
    assert applied.returncode == 0, applied.stderr
    waited = kubectl("wait", "--for=condition=Ready", "servicebinding/provisioning-key", "--timeout=30s")
    assert waited.returncode == 0, waited.stderr
    binding = kubectl.json("servicebinding", "provisioning-key")["status"]
    assert binding["instanceID"] == status["instanceID"]
    cis_binding = cis(server, sub, "service_bindings")[binding["bindingID"]]
    assert cis_binding["service_instance_id"] == status["instanceID"]

    secret = kubectl.json("secret", "provisioning-credentials")
    assert secret["metadata"]["ownerReferences"][0]["kind"] == "ServiceBinding"
    data = decode(secret)
    assert data["instance_guid"] == status["instanceID"] and data["plan"] == "local" and data["type"] == "cis"
    uaa = json.loads(data["uaa"])
    assert uaa["clientid"] == cis_binding["credentials"]["uaa"]["clientid"]
    token = httpx.post(
        f"{uaa['url']}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(uaa["clientid"], uaa["clientsecret"]),
    )
    assert token.status_code == 200, token.text
    with_token = Api(server, token.json()["access_token"])
    assert [e["id"] for e in with_token.request("GET", "/environments").json()["environmentInstances"]] == [
        env_id
    ]

    # a deleted Secret is written again
    assert kubectl("delete", "secret", "provisioning-credentials").returncode == 0
    again = kubectl.wait(
        "the Secret again", lambda: kubectl("get", "secret", "provisioning-credentials").returncode == 0
    )
    assert (
        again
        and json.loads(decode(kubectl.json("secret", "provisioning-credentials"))["uaa"])["clientid"]
        == uaa["clientid"]
    )

    # deleting the binding deletes the cis binding (its client: the token is refused) and the Secret
    deleted = kubectl("delete", "servicebinding", "provisioning-key", "--timeout=30s")
    assert deleted.returncode == 0, deleted.stderr
    assert binding["bindingID"] not in cis(server, sub, "service_bindings")
    assert kubectl("get", "secret", "provisioning-credentials").returncode == 1
    refused = httpx.post(
        f"{uaa['url']}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(uaa["clientid"], uaa["clientsecret"]),
    )
    assert refused.status_code == 401
    deleted = kubectl("delete", "serviceinstance", "provisioning", "--timeout=30s")
    assert deleted.returncode == 0, deleted.stderr
    assert status["instanceID"] not in cis(server, sub, "service_instances")

    # an offering the service does not have: CreateFailed with the service's message
    unknown = {**INSTANCE, "metadata": {"name": "xsuaa", "namespace": "default"}}
    unknown["spec"] = {"serviceOfferingName": "xsuaa", "servicePlanName": "application"}
    assert kubectl("apply", stdin=json.dumps(unknown)).returncode == 0
    failed = kubectl.wait(
        "CreateFailed",
        lambda: next(
            (
                c
                for c in kubectl.json("serviceinstance", "xsuaa").get("status", {}).get("conditions", [])
                if c["reason"] == "CreateFailed"
            ),
            None,
        ),
    )
    assert "Service offering 'xsuaa' not found" in failed["message"]
    assert kubectl("delete", "serviceinstance", "xsuaa", "--timeout=30s").returncode == 0

    # the operator credentials are the subaccount's only: another subaccount's routes refuse them
    operator = httpx.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(manager["clientid"], manager["clientsecret"]),
    ).json()["access_token"]
    other = server.login["subaccount"]
    refused = httpx.get(
        f"{server.url}/cis/v1/subaccounts/{other}/service_instances",
        headers={"authorization": f"Bearer {operator}"},
    )
    assert refused.status_code == 403, refused.text
    assert (
        httpx.get(
            f"{server.url}/cis/v1/subaccounts", headers={"authorization": f"Bearer {operator}"}
        ).status_code
        == 403
    )

    # deprovisioning revokes the operator credentials
    assert api.request("DELETE", f"/environments/{env_id}").status_code == 202
    api.wait_gone(env_id)
    revoked = httpx.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(manager["clientid"], manager["clientsecret"]),
    )
    assert revoked.status_code == 401


class PausedAfterCreate(ServiceManager):
    """The real service's API; its first instance create returns only once the test says so."""

    def __init__(self, credentials: dict[str, str]) -> None:
        super().__init__(credentials)
        self.created, self.go = threading.Event(), threading.Event()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            return super().call(method, path, body)
        finally:
            if (method, path) == ("POST", "/service_instances") and not self.created.is_set():
                self.created.set()
                self.go.wait(30)


class Counted(ServiceManager):
    def __init__(self, credentials: dict[str, str]) -> None:
        super().__init__(credentials)
        self.calls: list[tuple[str, str]] = []

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        self.calls.append((method, path))
        return super().call(method, path, body)


def test_with_replicas_only_the_lease_holder_acts_and_another_takes_over_once_it_is_gone(
    server: RunningServer, tmp_path: Path
) -> None:
    """Three replicas' operators on one runtime: the server's and two run here (a and b). a holds the
    Lease and is stopped between its create landing in the service and its status write; b and the
    server's operator must not act meanwhile. Without the Lease, b created the instance again, was
    refused (name taken) and marked it ``CreateFailed`` before a's status write, which then conflicted.
    Once a is gone, the server's operator takes the Lease over and deletes the instance."""
    sub, _api, _env_id, kubectl = provisioned(server, tmp_path, "btp-replicas")
    config = yaml.safe_load(kubectl.kubeconfig.read_text())
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    access = ClusterAccess(
        cluster["server"],
        cluster["certificate-authority-data"],
        user["token"],
        cluster.get("tls-server-name"),
    )
    credentials = decode(kubectl.json("secret", "sap-btp-manager", "-n", "kyma-system"))
    key = json.dumps(credentials, sort_keys=True)
    kube_a, kube_b = KubeClient(access), KubeClient(access)
    a, b = (
        Election(LEASE_NAMESPACE, LEASE_NAME, "replica-a"),
        Election(LEASE_NAMESPACE, LEASE_NAME, "replica-b"),
    )
    service_a, service_b = PausedAfterCreate(credentials), Counted(credentials)
    assert a.lead(kube_a, "runtime")  # before the instance exists: the server's operator finds a's Lease

    instance = {**INSTANCE, "metadata": {"name": "raced", "namespace": "default"}}
    assert kubectl("apply", stdin=json.dumps(instance)).returncode == 0
    operator_a = RuntimeOperator(kube_a, {key: service_a}, lambda: a.lead(kube_a, "runtime"))
    pass_a = threading.Thread(target=operator_a.run)
    pass_a.start()
    try:
        assert service_a.created.wait(15), "a did not create the instance"
        operator_b = RuntimeOperator(kube_b, {key: service_b}, lambda: b.lead(kube_b, "runtime"))
        operator_b.run()
        assert operator_b.pending and service_b.calls == []  # b comes back later, having done nothing
    finally:
        service_a.go.set()
        pass_a.join(30)
    assert not operator_a.pending
    status = kubectl.json("serviceinstance", "raced")["status"]
    assert [(c["type"], c["reason"]) for c in status["conditions"]] == [
        ("Succeeded", "Created"),
        ("Ready", "Provisioned"),
    ]
    named = [i for i in cis(server, sub, "service_instances").values() if i["name"] == "raced"]
    assert [i["id"] for i in named] == [status["instanceID"]]

    # a is gone: after a Lease's duration the server's operator takes over and deletes the instance
    deleted = kubectl("delete", "serviceinstance", "raced", "--timeout=45s")
    assert deleted.returncode == 0, deleted.stderr
    assert status["instanceID"] not in cis(server, sub, "service_instances")
    lease = kubectl.json("lease", LEASE_NAME, "-n", LEASE_NAMESPACE)["spec"]
    assert lease["holderIdentity"] not in ("replica-a", "replica-b") and lease["leaseTransitions"] == 1
    for client in (kube_a, kube_b, service_a, service_b):
        client.close()
