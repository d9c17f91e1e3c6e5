"""btp-operator for real: ServiceInstance/ServiceBinding in a runtime become the subaccount's cis instance
and binding, the binding's Secret holds working client credentials, deleting them deletes both; the
operator uses the credentials KEB's way puts into the runtime (``kyma-system/sap-btp-manager``)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx

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


def test_service_instance_and_binding_become_cis_instance_and_binding(
    server: RunningServer, tmp_path: Path
) -> None:
    sub = server.new_subaccount("btp-operator")
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
    kubectl = Runtime(api, env_id, tmp_path)

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
