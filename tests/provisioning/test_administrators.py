"""The environment's parameters reach the runtime: ``administrators`` become KIM's ClusterRoleBindings to
cluster-admin (an update replaces them), ``oidc`` is what the ``/kubeconfig`` download logs in with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.conftest import Api, RunningServer, new_api, run_kubectl

KIM = "reconciler.kyma-project.io/managed-by=infrastructure-manager"


def create(api: Api, parameters: dict[str, Any]) -> str:
    body = {
        "environmentType": "kyma",
        "parameters": {"name": "admins", "region": "eu-central-1", **parameters},
        "planName": "aws",
        "serviceName": "kymaruntime",
        "user": "dev@example.com",
    }
    r = api.request("POST", "/environments", json=body)
    assert r.status_code == 202, r.text
    env_id = str(r.json()["id"])
    api.wait_state(env_id)
    return env_id


def update(api: Api, env_id: str, parameters: dict[str, Any]) -> None:
    r = api.request("PATCH", f"/environments/{env_id}", json={"planName": "aws", "parameters": parameters})
    assert r.status_code == 202, r.text
    api.wait_state(env_id)


def admin_kubeconfig(api: Api, env_id: str, path: Path) -> Path:
    r = api.request(
        "PUT", f"/environments/{env_id}/bindings", json={"parameters": {"expiration_seconds": 600}}
    )
    assert r.status_code == 202, r.text
    path.write_text(r.json()["credentials"]["kubeconfig"])
    return path


def admin_bindings(kubeconfig: Path, cache: Path) -> list[dict[str, Any]]:
    listed = run_kubectl(
        kubeconfig, cache, "get", "clusterrolebindings", "-l", KIM, "-o", "json", version="1.33"
    )
    assert listed.returncode == 0, listed.stderr
    items: list[dict[str, Any]] = json.loads(listed.stdout)["items"]
    return items


def can_i(kubeconfig: Path, cache: Path, user: str) -> str:
    result = run_kubectl(
        kubeconfig, cache, "auth", "can-i", "delete", "nodes", f"--as={user}", version="1.33"
    )
    return result.stdout.strip()


def test_administrators_are_bound_to_cluster_admin_and_replaced_on_update(
    server: RunningServer, tmp_path: Path
) -> None:
    api = new_api(server, "admins")
    env_id = create(api, {"administrators": ["alice@example.com", "bob@example.com"]})
    kubeconfig = admin_kubeconfig(api, env_id, tmp_path / "kubeconfig")

    bindings = admin_bindings(kubeconfig, tmp_path / "c1")
    assert sorted(b["subjects"][0]["name"] for b in bindings) == ["alice@example.com", "bob@example.com"]
    for crb in bindings:
        assert crb["metadata"]["name"].startswith("admin-") and len(crb["metadata"]["name"]) == 11
        assert crb["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        }
        assert crb["subjects"][0]["kind"] == "User"
    assert can_i(kubeconfig, tmp_path / "c2", "alice@example.com") == "yes"
    assert can_i(kubeconfig, tmp_path / "c3", "carol@example.com") == "no"

    update(api, env_id, {"administrators": ["carol@example.com"]})
    bindings = admin_bindings(kubeconfig, tmp_path / "c4")
    assert [b["subjects"][0]["name"] for b in bindings] == ["carol@example.com"]
    assert can_i(kubeconfig, tmp_path / "c5", "carol@example.com") == "yes"
    assert can_i(kubeconfig, tmp_path / "c6", "alice@example.com") == "no"

    # an update that names no administrators leaves them as they are, as KEB's does
    update(api, env_id, {"autoScalerMin": 3})
    assert [b["subjects"][0]["name"] for b in admin_bindings(kubeconfig, tmp_path / "c7")] == [
        "carol@example.com"
    ]


def test_the_creating_user_is_the_default_administrator(server: RunningServer, tmp_path: Path) -> None:
    api = new_api(server, "default-admin")
    env_id = create(api, {})
    kubeconfig = admin_kubeconfig(api, env_id, tmp_path / "kubeconfig")
    assert [b["subjects"][0]["name"] for b in admin_bindings(kubeconfig, tmp_path / "c")] == [
        "dev@example.com"
    ]


def users_of(url: str) -> dict[str, list[str]]:
    r = httpx.get(url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-yaml")
    config = yaml.safe_load(r.text)
    assert config["current-context"] == config["clusters"][0]["name"]
    contexts = {c["name"]: c["context"]["user"] for c in config["contexts"]}
    users = {}
    for user in config["users"]:
        assert contexts[user["name"]] == user["name"]
        exec_ = user["user"]["exec"]
        assert exec_["command"] == "kubectl-oidc_login" and exec_["args"][0] == "get-token"
        users[user["name"]] = [
            a for a in exec_["args"] if a.startswith(("--oidc-issuer-url", "--oidc-client-id"))
        ]
    return users


def test_oidc_parameters_are_the_kubeconfig_users(server: RunningServer) -> None:
    api = new_api(server, "oidc")
    oidc = {
        "list": [
            {
                "clientID": "ci-client",
                "issuerURL": "https://issuer.example.com",
                "groupsClaim": "groups",
                "signingAlgs": ["RS256"],
                "usernameClaim": "sub",
                "usernamePrefix": "-",
                "groupsPrefix": "-",
            },
            {
                "clientID": "second",
                "issuerURL": "https://other.example.com",
                "groupsClaim": "groups",
                "signingAlgs": ["RS256"],
                "usernameClaim": "email",
                "usernamePrefix": "-",
                "groupsPrefix": "-",
            },
        ]
    }
    env_id = create(api, {"oidc": oidc})
    env = api.request("GET", f"/environments/{env_id}").json()
    url = json.loads(env["labels"])["KubeconfigURL"]
    assert users_of(url) == {
        "admins": ["--oidc-issuer-url=https://issuer.example.com", "--oidc-client-id=ci-client"],
        "admins-2": ["--oidc-issuer-url=https://other.example.com", "--oidc-client-id=second"],
    }
    update(api, env_id, {"oidc": {"clientID": "legacy", "issuerURL": "https://legacy.example.com"}})
    assert users_of(url) == {
        "admins": ["--oidc-issuer-url=https://legacy.example.com", "--oidc-client-id=legacy"]
    }


def test_without_oidc_the_kubeconfig_logs_in_at_kymaprov(server: RunningServer) -> None:
    api = new_api(server, "no-oidc")
    env_id = create(api, {})
    url = json.loads(api.request("GET", f"/environments/{env_id}").json()["labels"])["KubeconfigURL"]
    assert users_of(url) == {"admins": [f"--oidc-issuer-url={server.url}", "--oidc-client-id=kymaprov"]}


def test_the_modules_parameter_is_the_kyma_crs_module_list(server: RunningServer, tmp_path: Path) -> None:
    """KEB's OverrideKymaModules: a custom list replaces the default modules; the runtime follows."""
    api = new_api(server, "modules")
    modules = {"channel": "fast", "list": [{"name": "istio"}, {"name": "serverless", "channel": "regular"}]}
    env_id = create(api, {"modules": modules})
    kubeconfig = admin_kubeconfig(api, env_id, tmp_path / "kubeconfig")
    kyma = ("kyma", "default", "-n", "kyma-system")

    def kyma_body() -> dict[str, Any]:
        got = run_kubectl(kubeconfig, tmp_path / "c", "get", *kyma, "-o", "json", version="1.33")
        assert got.returncode == 0, got.stderr
        body: dict[str, Any] = json.loads(got.stdout)
        return body

    spec = kyma_body()["spec"]
    assert spec["channel"] == "fast"
    assert spec["modules"] == [
        {"name": "istio", "managed": True, "customResourcePolicy": "CreateAndDelete"},
        {
            "name": "serverless",
            "channel": "regular",
            "managed": True,
            "customResourcePolicy": "CreateAndDelete",
        },
    ]
    waited = run_kubectl(
        kubeconfig, tmp_path / "w", "wait", "--for=jsonpath={.status.state}=Ready", "kyma/default",
        "-n", "kyma-system", "--timeout=60s", version="1.33",
    )  # fmt: skip
    assert waited.returncode == 0, waited.stderr
    status = kyma_body()["status"]
    assert [(m["name"], m["channel"], m["state"]) for m in status["modules"]] == [
        ("istio", "fast", "Ready"),
        ("serverless", "regular", "Ready"),
    ]
    crds = run_kubectl(kubeconfig, tmp_path / "d", "get", "crds", "-o", "name", version="1.33").stdout.split()
    assert "customresourcedefinition.apiextensions.k8s.io/functions.serverless.kyma-project.io" in crds
    assert "customresourcedefinition.apiextensions.k8s.io/apirules.gateway.kyma-project.io" not in crds
