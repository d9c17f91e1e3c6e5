"""The ``btp`` stand-in, run as a real command against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import RunningServer

BTP = str(Path(sys.executable).with_name("btp"))


def btp(server: RunningServer, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = server.env
    if config is not None:
        env["BTP_CLIENTCONFIG"] = str(config)
    return subprocess.run([BTP, *args], env=env, capture_output=True, text=True, timeout=60)


def btp_json(server: RunningServer, *args: str) -> Any:
    result = btp(server, "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_seed_commands_and_binding_envelope(server: RunningServer) -> None:
    r = btp(
        server, "create", "services/instance", "--offering-name", "cis", "--plan-name", "local",
        "--name", "seedcis", "--parameters", '{"grantType":"clientCredentials"}',
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = btp(server, "create", "services/binding", "--name", "seedcis-binding", "--instance-name", "seedcis")
    assert r.returncode == 0, r.stderr

    envelope = btp_json(server, "get", "services/binding", "--name", "seedcis-binding")
    expected_keys = {"id", "ready", "last_operation", "name", "service_instance_id", "context", "credentials",
                     "subaccount_id", "created_at", "updated_at", "labels"}  # fmt: skip
    assert expected_keys <= set(envelope)
    creds = envelope["credentials"]
    assert creds["grant_type"] == "client_credentials"
    assert creds["sap.cloud.service"] == "com.sap.core.commercial.service.local"
    assert creds["endpoints"]["provisioning_service_url"] == server.url
    uaa = creds["uaa"]
    for key in (
        "clientid",
        "clientsecret",
        "url",
        "xsappname",
        "subaccountid",
        "tenantid",
        "verificationkey",
    ):
        assert uaa[key], key
    assert uaa["url"] == server.url
    assert uaa["xsappname"] == "cis-local!b4"
    assert uaa["clientid"].endswith("|cis-local!b4")
    assert envelope["subaccount_id"] == server.login["subaccount"]
    # the credentials really work
    assert server.token_for(creds)


def test_text_output_and_list(server: RunningServer) -> None:
    btp_json(server, "create", "services/instance", "--offering-name", "cis", "--plan-name", "local-viewer",
             "--name", "viewer", "--parameters", '{"grantType":"clientCredentials"}')  # fmt: skip
    r = btp(server, "list", "services/instance")
    assert r.returncode == 0, r.stderr
    assert "viewer" in r.stdout and "local-viewer" in r.stdout
    listed = btp_json(server, "list", "services/instance")
    viewer = next(i for i in listed if i["name"] == "viewer")

    got = btp_json(server, "get", "services/instance", "--name", "viewer")
    assert got["id"] == viewer["id"] and got["service_plan_name"] == "local-viewer"
    text = btp(server, "get", "services/instance", "--name", "viewer")
    assert text.returncode == 0 and viewer["id"] in text.stdout

    assert (
        btp(
            server, "create", "services/binding", "--name", "viewer-key", "--instance-name", "viewer"
        ).returncode
        == 0
    )
    bindings = btp_json(server, "list", "services/binding")
    assert "viewer-key" in [b["name"] for b in bindings]
    text = btp(server, "list", "services/binding")
    assert text.returncode == 0 and "viewer-key" in text.stdout
    shown = btp(server, "get", "services/binding", "--name", "viewer-key")
    assert shown.returncode == 0 and "viewer-key" in shown.stdout and "clientid" in shown.stdout


def test_errors_exit_nonzero_with_message(server: RunningServer) -> None:
    r = btp(
        server, "create", "services/instance", "--offering-name", "cis", "--plan-name", "gold", "--name", "x"
    )
    assert r.returncode == 1
    assert "Service plan 'gold' not found" in r.stderr
    assert f"(server {server.url})" in r.stderr  # which of the servers on this machine said so
    r = btp(
        server,
        "create",
        "services/instance",
        "--offering-name",
        "xsuaa",
        "--plan-name",
        "local",
        "--name",
        "x",
    )
    assert r.returncode == 1 and "Service offering 'xsuaa' not found" in r.stderr
    r = btp(server, "create", "services/instance", "--offering-name", "cis", "--plan-name", "local", "--name", "x",
            "--parameters", "{not json")  # fmt: skip
    assert r.returncode == 1 and "Invalid JSON" in r.stderr
    r = btp(server, "get", "services/binding", "--name", "does-not-exist")
    assert r.returncode == 1 and "not found" in r.stderr
    r = btp(server, "create", "services/nothing")
    assert r.returncode == 2


def test_duplicate_names_and_delete_order(server: RunningServer) -> None:
    args = ["create", "services/instance", "--offering-name", "cis", "--plan-name", "local", "--name", "dup"]
    assert btp(server, *args).returncode == 0
    r = btp(server, *args)
    assert r.returncode == 1 and "already exists" in r.stderr
    assert (
        btp(server, "create", "services/binding", "--name", "dup-b", "--instance-name", "dup").returncode == 0
    )
    token = server.token_for(btp_json(server, "get", "services/binding", "--name", "dup-b")["credentials"])
    r = btp(server, "delete", "services/instance", "--name", "dup")
    assert r.returncode == 1 and "delete them first" in r.stderr
    assert btp(server, "delete", "services/binding", "--name", "dup-b", "--confirm").returncode == 0
    # the deleted binding's client is gone, and so are its tokens
    gone = httpx.get(
        f"{server.url}/provisioning/v1/environments", headers={"authorization": f"Bearer {token}"}
    )
    assert gone.status_code == 401
    assert btp(server, "delete", "services/instance", "--name", "dup").returncode == 0


def test_login_target_and_subaccounts(server: RunningServer, tmp_path: Path) -> None:
    config = tmp_path / "btp.json"
    login = server.login
    r = btp(
        server, "login", "--url", server.url, "--user", login["user"], "--password", "wrong", config=config
    )
    assert r.returncode == 3 and "login failed" in r.stderr
    r = btp(
        server,
        "login",
        "--url",
        server.url,
        "--user",
        login["user"],
        "--password",
        login["password"],
        config=config,
    )
    assert r.returncode == 0, r.stderr
    assert oct(os.stat(config).st_mode & 0o777) == "0o600"
    assert login["subaccount"] in r.stdout
    r = btp(server, "--format", "json", "create", "accounts/subaccount", "--display-name", "team-b",
            "--subdomain", "team-b", config=config)  # fmt: skip
    assert r.returncode == 0, r.stderr
    team_b = json.loads(r.stdout)["guid"]
    assert btp(server, "target", "--subaccount", team_b, config=config).returncode == 0
    r = btp(server, "create", "services/instance", "--offering-name", "cis", "--plan-name", "local", "--name", "b-cis",
            config=config)  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = btp(server, "--format", "json", "list", "services/instance", config=config)
    assert [i["name"] for i in json.loads(r.stdout)] == ["b-cis"]
    assert json.loads(r.stdout)[0]["subaccount_id"] == team_b
    r = btp(server, "target", "--subaccount", "no-such-subaccount", config=config)
    assert r.returncode == 1


def test_cis_api_requires_platform_token(server: RunningServer) -> None:
    sub = server.login["subaccount"]
    r = httpx.get(f"{server.url}/cis/v1/subaccounts/{sub}/service_instances")
    assert r.status_code == 401
    client_token = server.token_for(server.cis_credentials())
    r = httpx.get(
        f"{server.url}/cis/v1/subaccounts/{sub}/service_instances",
        headers={"authorization": f"Bearer {client_token}"},
    )
    assert r.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        b"[1,2]",
        b"{oops",
        b'"text"',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"name": "z1", "offering_name": "cis", "plan_name": ["local"]}',
        b'{"name": "z1", "offering_name": "cis", "plan_name": "local", "parameters": {"grantType": []}}',
        b'{"name": "z1", "offering_name": "cis", "plan_name": "local", "parameters": {"grantType": {}}}',
        b'{"name": ["z1"], "offering_name": "cis", "plan_name": "local"}',
        b'{"name": "%s", "offering_name": "cis", "plan_name": "local"}' % (b"z" * 256),
        b'{"name": "z1", "offering_name": "cis", "plan_name": "local", "parameters": "%s"}'
        % (b"[" * 100_000 + b"]" * 100_000),
        b'{"name": "z1", "offering_name": "cis", "plan_name": "local", "parameters": "{\\"a\\": NaN}"}',
    ],
)
def test_cis_api_rejects_bad_bodies_with_400(server: RunningServer, body: bytes) -> None:
    sub = server.login["subaccount"]
    r = httpx.post(
        f"{server.url}/cis/v1/subaccounts/{sub}/service_instances",
        content=body,
        headers={"authorization": f"Bearer {server.platform_token()}", "content-type": "application/json"},
    )
    assert r.status_code == 400
    assert "error" in r.json()


@pytest.mark.parametrize(
    "body",
    [
        {"name": "b1", "service_instance_name": ["my-cis"]},
        {"name": "b1", "service_instance_id": {"a": 1}},
        {"name": 5, "service_instance_name": "my-cis"},
        {"name": "b1"},
    ],
)
def test_cis_bindings_reject_wrong_types_with_400(server: RunningServer, body: dict[str, Any]) -> None:
    sub = server.login["subaccount"]
    r = httpx.post(
        f"{server.url}/cis/v1/subaccounts/{sub}/service_bindings",
        json=body,
        headers={"authorization": f"Bearer {server.platform_token()}"},
    )
    assert r.status_code == 400, r.text
    assert isinstance(r.json()["error"], str)


def test_cis_and_admin_refuse_oversized_bodies_with_413(server: RunningServer) -> None:
    big = b'{"name": "' + b"x" * (1 << 20) + b'"}'
    sub = server.login["subaccount"]
    r = httpx.post(
        f"{server.url}/cis/v1/subaccounts/{sub}/service_instances",
        content=big,
        headers={"authorization": f"Bearer {server.platform_token()}", "content-type": "application/json"},
    )
    assert r.status_code == 413 and "larger than" in r.json()["error"]
    r = httpx.post(f"{server.url}/admin/clock/advance", content=big, headers=server.admin_headers)
    assert r.status_code == 413 and "larger than" in r.json()["error"]


def test_btp_is_a_client_of_the_cli_server_protocol(server: RunningServer, tmp_path: Path) -> None:
    """``btp login`` opens a CLI-server session (the one SAP's btp and Terraform use); logout ends it."""
    config = tmp_path / "btp.json"
    login = server.login
    args = ["login", "--url", server.url, "--user", login["user"], "--password", login["password"]]
    r = btp(server, *args, "--subdomain", "no-such-ga", config=config)
    assert r.returncode == 3 and "login failed" in r.stderr and "not found" in r.stderr
    r = btp(server, *args, "--subdomain", "kymaprov-ga", config=config)
    assert r.returncode == 0, r.stderr
    session = json.loads(config.read_text())["session"]

    def subaccounts() -> httpx.Response:
        return httpx.post(
            f"{server.url}/command/v2.106.1/accounts/subaccount?list",
            json={"paramValues": {"globalAccount": "kymaprov-ga"}},
            headers={"X-Cpcli-Sessionid": session, "X-Cpcli-Format": "json"},
        )

    assert subaccounts().headers["x-cpcli-backend-status"] == "200"
    assert btp(server, "logout", config=config).returncode == 0
    assert subaccounts().status_code == 401
    # a config of the earlier btp (a bearer token, no session) asks for a new login
    config.write_text(json.dumps({"url": server.url, "token": "x", "subaccount": login["subaccount"]}))
    r = btp(server, "list", "services/instance", config=config)
    assert r.returncode == 3 and "btp login" in r.stderr


def test_btp_manages_kyma_environment_instances(server: RunningServer, tmp_path: Path) -> None:
    """The stand-in's environment commands reach the Provisioning layer through the CLI server."""
    sub = server.new_subaccount("btp-kyma")
    params = '{"name":"btp-kyma","region":"eu-central-1"}'
    created = btp_json(server, "create", "accounts/environment-instance", "--subaccount", sub,
                       "--display-name", "btp-kyma", "--environment", "kyma", "--service", "kymaruntime",
                       "--plan", "aws", "--parameters", params)  # fmt: skip
    env_id = created["id"]
    assert created["state"] == "CREATING" and created["jobId"]
    listed = btp_json(server, "list", "accounts/environment-instance", "--subaccount", sub)
    assert [e["id"] for e in listed] == [env_id]
    text = btp(server, "list", "accounts/environment-instance", "--subaccount", sub)
    assert text.returncode == 0 and env_id in text.stdout and "aws" in text.stdout
    got = btp_json(server, "get", "accounts/environment-instance", env_id, "--subaccount", sub)
    assert got["parameters"] == params
    again = btp(server, "create", "accounts/environment-instance", "--subaccount", sub, "--environment", "kyma",
                "--service", "kymaruntime", "--plan", "aws", "--parameters", params)  # fmt: skip
    assert again.returncode == 1 and "already exists" in again.stderr
    assert btp(server, "delete", "accounts/environment-instance", env_id, "--subaccount", sub).returncode == 0
    deadline = time.monotonic() + 60
    while (
        r := btp(server, "get", "accounts/environment-instance", env_id, "--subaccount", sub)
    ).returncode == 0:
        assert time.monotonic() < deadline, r.stdout
        time.sleep(0.2)
    assert r.returncode == 1 and "Environment instance not found [Error: 41000/404]" in r.stderr


def test_btp_keeps_the_local_session_and_renews_a_forgotten_one(
    server: RunningServer, tmp_path: Path
) -> None:
    """Without ``btp login``, the first command logs in with the local login and later ones reuse that
    session (a login is a slow password check); one the server does not know is replaced by a new login."""
    config = tmp_path / "none.json"  # no btp login: the local login decides
    kept = server.data_dir / "btp-local-session.json"
    kept.unlink(missing_ok=True)
    logins = server.log().count("/login/v2.106.1")
    assert btp(server, "list", "services/instance", config=config).returncode == 0
    session = json.loads(kept.read_text())["session"]
    assert oct(kept.stat().st_mode & 0o777) == "0o600"
    assert btp(server, "list", "services/instance", config=config).returncode == 0
    assert json.loads(kept.read_text())["session"] == session
    assert server.log().count("/login/v2.106.1") == logins + 1
    kept.write_text(json.dumps({**json.loads(kept.read_text()), "session": "forgotten"}))
    r = btp(server, "list", "services/instance", config=config)
    assert r.returncode == 0, r.stderr
    assert json.loads(kept.read_text())["session"] not in ("forgotten", session)
    assert server.log().count("/login/v2.106.1") == logins + 2
