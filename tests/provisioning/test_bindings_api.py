"""Kyma bindings through the Provisioning API, checked with the real kubectl against the runtime."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import Api, RunningServer, new_api, run_kubectl


def kubectl(
    kubeconfig: str, tmp_path: Path, *args: str, version: str = "1.30"
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"kubeconfig-{abs(hash(kubeconfig))}.yaml"
    path.write_text(kubeconfig)
    cache = tmp_path / f"cache-{len(list(tmp_path.iterdir()))}"
    return run_kubectl(path, cache, *args, version=version)


@pytest.fixture(scope="module")
def ready(server: RunningServer) -> tuple[Api, str]:
    api = new_api(server, "bindings")
    env_id = api.create_kyma(name="bind-rt")
    api.wait_state(env_id)
    return api, env_id


def put_binding(api: Api, env_id: str, body: object = None, **kwargs: object) -> httpx.Response:
    if body is None and not kwargs:
        return api.request("PUT", f"/environments/{env_id}/bindings")
    return api.request("PUT", f"/environments/{env_id}/bindings", json=body)


def test_create_binding_shape_and_kubeconfig(ready: tuple[Api, str], tmp_path: Path) -> None:
    api, env_id = ready
    r = put_binding(api, env_id, {"parameters": {"expiration_seconds": 660}})
    assert r.status_code == 202, r.text
    binding_id = r.headers["location"]
    assert re.fullmatch(r"[0-9a-f-]{36}", binding_id)
    body = r.json()
    kubeconfig = body["credentials"]["kubeconfig"]
    assert kubeconfig.startswith("\n---\napiVersion: v1\nkind: Config\ncurrent-context: bind-rt\n")
    assert kubeconfig.endswith("\n  ")
    config = yaml.safe_load(kubeconfig)
    assert config["contexts"][0] == {"name": "bind-rt", "context": {"cluster": "bind-rt", "user": "bind-rt"}}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.0Z", body["metadata"]["expires_at"])
    expires = datetime.strptime(body["metadata"]["expires_at"], "%Y-%m-%dT%H:%M:%S.0Z").replace(tzinfo=UTC)
    created = datetime.now(UTC)
    assert 600 < (expires - created).total_seconds() <= 661

    # the kubeconfig works with kubectl (two versions) and carries cluster-admin rights
    for version in ("1.30", "1.33"):
        result = kubectl(kubeconfig, tmp_path, "get", "pods", version=version)
        assert result.returncode == 0, result.stderr
        assert "No resources found in default namespace." in result.stderr
    ns = kubectl(kubeconfig, tmp_path, "get", "namespaces", "-o", "name")
    assert "namespace/kyma-system" in ns.stdout
    # the binding was made through the Kubernetes API as KEB makes it
    name = f"kyma-binding-{binding_id}"
    for args in (
        ("get", "serviceaccount", name, "-n", "kyma-system", "-o", "json"),
        ("get", "clusterrole", name, "-o", "json"),
        ("get", "clusterrolebinding", name, "-o", "json"),
    ):
        result = kubectl(kubeconfig, tmp_path, *args)
        assert result.returncode == 0, result.stderr
        obj = json.loads(result.stdout)
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kcp-kyma-environment-broker"
    crb = json.loads(kubectl(kubeconfig, tmp_path, "get", "clusterrolebinding", name, "-o", "json").stdout)
    assert crb["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": "kyma-system"}]

    # GET gives the same credentials, the list shows string metadata
    got = api.request("GET", f"/environments/{env_id}/bindings/{binding_id}")
    assert got.status_code == 200
    assert got.json()["credentials"]["kubeconfig"] == kubeconfig
    listed = api.request("GET", f"/environments/{env_id}/bindings").json()["bindings"]
    entry = next(b for b in listed if b["bindingId"] == binding_id)
    assert set(entry) == {"bindingId", "instanceId", "createdBy", "createdDate", "expiresAt"}
    assert all(isinstance(v, str) for v in entry.values())
    assert entry["instanceId"] == env_id

    # DELETE revokes at once; GET is then 404 with an empty body; DELETE again is 404
    r = api.request("DELETE", f"/environments/{env_id}/bindings/{binding_id}")
    assert r.status_code == 200
    assert r.json()["bindingId"] == binding_id
    refused = kubectl(kubeconfig, tmp_path, "get", "pods")
    assert refused.returncode != 0
    assert "You must be logged in to the server" in refused.stderr
    gone = api.request("GET", f"/environments/{env_id}/bindings/{binding_id}")
    assert gone.status_code == 404 and gone.content == b""
    again = api.request("DELETE", f"/environments/{env_id}/bindings/{binding_id}")
    assert again.status_code == 404
    assert again.json()["error"]["message"] == "No binding exists with the provided ID"


def test_location_header_is_lowercase_on_the_wire(ready: tuple[Api, str], server: RunningServer) -> None:
    """The SAP procedure's `sed -n 's/^.*location: //p'` only matches a lower-case header name."""
    api, env_id = ready
    token = api.client.headers["authorization"].split()[1]
    request = (
        f"PUT /provisioning/v1/environments/{env_id}/bindings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: bearer {token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith("HTTP/1.1 202")
    match = re.search(r"\r\nlocation: ([0-9a-f-]{36})\r\n", head + "\r\n")
    assert match, head
    api.request("DELETE", f"/environments/{env_id}/bindings/{match.group(1)}")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"parameters": {"expiration_seconds": 7201}}, "expiration_seconds cannot be greater than 7200"),
        ({"parameters": {"expiration_seconds": 599}}, "expiration_seconds cannot be less than 600"),
        ({"parameters": {"expiration_seconds": -5}}, "expiration_seconds cannot be less than 600"),
        (
            {"parameters": {"expiration_seconds": "600"}},
            "failed to unmarshal parameters: cannot unmarshal string into expiration_seconds of type int",
        ),
    ],
)
def test_expiration_errors_use_kebs_messages(ready: tuple[Api, str], body: dict, message: str) -> None:
    api, env_id = ready
    r = put_binding(api, env_id, body)
    assert r.status_code == 400
    assert r.json()["error"]["message"] == message


@pytest.mark.parametrize("raw", [b"{bad json", b"[1]", b'"s"'])
def test_malformed_binding_bodies_are_400(ready: tuple[Api, str], raw: bytes) -> None:
    api, env_id = ready
    r = api.request(
        "PUT", f"/environments/{env_id}/bindings", content=raw, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert "error" in r.json()


def test_default_expiration_and_unknown_fields(ready: tuple[Api, str]) -> None:
    """KEB-E2E sends no parameters at all; unknown keys are ignored; 0 means the default."""
    api, env_id = ready
    for body in (
        {"serviceInstanceId": env_id, "planId": "x"},
        {"parameters": {"expiration_seconds": 0}},
        None,
    ):
        r = put_binding(api, env_id, body)
        assert r.status_code == 202, r.text
        assert r.json()["parameters"] == {"expiration_seconds": 600}
        api.request("DELETE", f"/environments/{env_id}/bindings/{r.headers['location']}")


def test_binding_rejected_while_creating(server: RunningServer) -> None:
    api = new_api(server, "bindearly")
    env_id = api.create_kyma()
    r = put_binding(api, env_id, {"parameters": {"expiration_seconds": 600}})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == f"instance {env_id} creation is in progress"


def test_unknown_environment_or_binding(ready: tuple[Api, str]) -> None:
    api, env_id = ready
    r = api.request("PUT", "/environments/00000000-0000-0000-0000-000000000000/bindings")
    assert r.status_code == 404 and r.json()["error"]["code"] == 41000
    r = api.request("GET", f"/environments/{env_id}/bindings/nope")
    assert r.status_code == 404 and r.content == b""


def test_exactly_ten_of_twenty_concurrent_puts_succeed(server: RunningServer, tmp_path: Path) -> None:
    api = new_api(server, "race")
    env_id = api.create_kyma(name="race-rt")
    api.wait_state(env_id)

    def put(_: int) -> httpx.Response:
        with httpx.Client(base_url=server.url, headers=dict(api.client.headers), timeout=60) as client:
            return client.put(
                f"/provisioning/v1/environments/{env_id}/bindings",
                json={"parameters": {"expiration_seconds": 600}},
            )

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(put, range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] * 10 + [400] * 10, [r.text for r in responses]
    for r in responses:
        if r.status_code == 400:
            assert r.json()["error"]["message"] == "maximum number of non expired bindings reached: 10"
    listed = api.request("GET", f"/environments/{env_id}/bindings").json()["bindings"]
    assert len(listed) == 10
    # every one of the ten works
    ok = [r for r in responses if r.status_code == 202]
    assert kubectl(ok[0].json()["credentials"]["kubeconfig"], tmp_path, "get", "pods").returncode == 0
    # deleting one frees a slot
    assert (
        api.request("DELETE", f"/environments/{env_id}/bindings/{ok[0].headers['location']}").status_code
        == 200
    )
    assert put_binding(api, env_id, {"parameters": {"expiration_seconds": 600}}).status_code == 202
    assert put_binding(api, env_id, {"parameters": {"expiration_seconds": 600}}).status_code == 400


def test_deprovisioning_revokes_every_kubeconfig(server: RunningServer, tmp_path: Path) -> None:
    api = new_api(server, "deprov")
    env_id = api.create_kyma(name="deprov-rt")
    api.wait_state(env_id)
    kubeconfigs = [
        put_binding(api, env_id, {"parameters": {"expiration_seconds": 900}}).json()["credentials"][
            "kubeconfig"
        ]
        for _ in range(2)
    ]
    assert all(kubectl(k, tmp_path, "get", "pods").returncode == 0 for k in kubeconfigs)
    assert api.request("DELETE", f"/environments/{env_id}").status_code == 202  # bindings don't block it
    api.wait_gone(env_id)
    for k in kubeconfigs:
        result = kubectl(k, tmp_path, "get", "pods")
        assert result.returncode != 0
        assert "You must be logged in to the server" in result.stderr
