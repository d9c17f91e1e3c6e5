"""The exec credential plugin: kubectl keeps working across many binding lifetimes with <= 2 live bindings.

Runs ``kymaprov kubeconfig --exec`` and the real ``kubectl`` as processes against ``kymaprov serve``;
expiry comes from advancing the service clock, so nothing waits for real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kymaprov.client import ClientCredentialsAuth, Credentials, ProvisioningClient
from kymaprov.client.exec_credential import ExecState, RotatingCredential
from tests.conftest import Api, RunningServer, run_kubectl
from tests.support.server import seed_variables


@pytest.fixture(scope="module")
def setup(server: RunningServer) -> tuple[dict[str, Any], Api, str]:
    credentials = server.cis_credentials(server.new_subaccount("exec-plugin"))
    api = Api(server, server.token_for(credentials))
    env_id = api.create_kyma(name="exec-rt")
    api.wait_state(env_id)
    return credentials, api, env_id


def live_bindings(server: RunningServer, api: Api, env_id: str) -> list[str]:
    now_ms = server.admin("GET", "/admin/clock")["nowMs"]
    listed = api.request("GET", f"/environments/{env_id}/bindings").json()["bindings"]
    return [
        b["bindingId"]
        for b in listed
        if datetime.fromisoformat(b["expiresAt"].replace("Z", "+00:00")).timestamp() * 1000 > now_ms
    ]


def test_kubectl_keeps_working_across_expirations(
    server: RunningServer, setup: tuple[dict[str, Any], Api, str], tmp_path: Path
) -> None:
    credentials, api, env_id = setup
    kubeconfig, state = tmp_path / "exec.yaml", tmp_path / "exec-state.json"
    env = {**os.environ, **seed_variables(credentials)}
    made = subprocess.run(
        [sys.executable, "-m", "kymaprov", "kubeconfig", env_id, "--exec", "-f", str(kubeconfig),
         "--state", str(state), "--expiration", "600"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    user = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]
    assert "token" not in user
    assert user["exec"]["apiVersion"] == "client.authentication.k8s.io/v1"
    assert oct(state.stat().st_mode & 0o777) == "0o600"

    seen: set[str] = set()
    for step in range(6):
        result = run_kubectl(kubeconfig, tmp_path / f"cache-{step}", "get", "pods", version="1.33")
        assert result.returncode == 0, f"step {step}: {result.stderr}"
        seen.add(ExecState.load(state).binding_id)
        assert len(live_bindings(server, api, env_id)) <= 2
        server.admin("POST", "/admin/clock/advance", {"seconds": 601})  # the current binding expires
    assert len(seen) == 6  # a fresh binding after every expiry
    # superseded bindings were deleted, not left to pile up towards the cap of 10
    listed = api.request("GET", f"/environments/{env_id}/bindings").json()["bindings"]
    assert len(listed) <= 2

    # parallel kubectl processes after an expiry share one new binding
    with ThreadPoolExecutor(6) as pool:
        results = list(
            pool.map(
                lambda i: run_kubectl(kubeconfig, tmp_path / f"par-{i}", "get", "pods", version="1.33"),
                range(6),
            )
        )
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert len(live_bindings(server, api, env_id)) == 1


def test_rotates_before_expiry_and_answers_exec_credential(
    setup: tuple[dict[str, Any], Api, str], tmp_path: Path
) -> None:
    credentials, api, env_id = setup
    creds = Credentials.from_service_key({"credentials": credentials})
    state = tmp_path / "state.json"
    requested_at = time.time()
    with ProvisioningClient(creds) as client:
        first = client.create_binding(env_id, 600)
    with ProvisioningClient(creds) as client:
        RotatingCredential.start(state, creds, env_id, first, 600, requested_at, client)

    fresh = RotatingCredential(state).exec_credential()
    assert fresh["kind"] == "ExecCredential" and fresh["apiVersion"] == "client.authentication.k8s.io/v1"
    assert fresh["status"]["token"] == ExecState.load(state).token
    assert ExecState.load(state).binding_id == first.id  # still live and far from expiry: reused
    expires = datetime.fromisoformat(fresh["status"]["expirationTimestamp"].replace("Z", "+00:00"))
    # our clock's view of the expiry (600 s from the request), less the refresh margin of 60 s
    assert expires.timestamp() == pytest.approx(requested_at + 600 - 60, abs=2)

    # 550 s later (our clock) the margin is reached: a new binding, and the old one is deleted
    later = RotatingCredential(state, clock=lambda: time.time() + 550).exec_credential()
    current = ExecState.load(state)
    assert current.binding_id != first.id and current.superseded == []
    assert later["status"]["token"] == current.token
    assert api.request("GET", f"/environments/{env_id}/bindings/{first.id}").status_code == 404

    # revoked behind its back: the next call notices and replaces it
    api.request("DELETE", f"/environments/{env_id}/bindings/{current.binding_id}")
    RotatingCredential(state).exec_credential()
    assert ExecState.load(state).binding_id != current.binding_id

    # the API token is cached in the state too: the next kubectl start fetches none
    auths: list[ClientCredentialsAuth] = []

    def factory(creds: Credentials, auth: ClientCredentialsAuth) -> ProvisioningClient:
        auths.append(auth)
        return ProvisioningClient(creds, auth=auth)

    RotatingCredential(state, client_factory=factory).exec_credential()
    assert auths[0].fetches == 0 and ExecState.load(state).api_token["access_token"]

    RotatingCredential(state).revoke_all()
    assert not state.exists()


def test_plugin_errors_exit_with_the_error_class_code(tmp_path: Path) -> None:
    state = tmp_path / "missing.json"
    result = subprocess.run(
        [sys.executable, "-m", "kymaprov", "exec-credential", "--state", str(state)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 3 and "cannot read exec state" in result.stderr
    state.write_text(json.dumps({"nonsense": 1}))
    result = subprocess.run(
        [sys.executable, "-m", "kymaprov", "exec-credential", "--state", str(state)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 3 and "corrupt" in result.stderr


def test_rerunning_exec_takes_over_the_state_instead_of_piling_up_bindings(
    server: RunningServer, setup: tuple[dict[str, Any], Api, str], tmp_path: Path
) -> None:
    credentials, api, env_id = setup
    env = {**os.environ, **seed_variables(credentials)}
    state, kubeconfig = tmp_path / "rerun-state.json", tmp_path / "rerun.yaml"
    others = set(live_bindings(server, api, env_id))  # held by the earlier tests' kubeconfigs
    for _ in range(12):  # more than the cap of 10
        made = subprocess.run(
            [sys.executable, "-m", "kymaprov", "kubeconfig", env_id, "--exec", "-f", str(kubeconfig),
             "--state", str(state)],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
    assert set(live_bindings(server, api, env_id)) - others == {ExecState.load(state).binding_id}


def test_a_service_hiccup_keeps_the_cached_token(
    setup: tuple[dict[str, Any], Api, str], tmp_path: Path
) -> None:
    credentials, _, env_id = setup
    creds = Credentials.from_service_key({"credentials": credentials})
    state = tmp_path / "hiccup.json"
    with ProvisioningClient(creds) as client:
        requested_at = time.time()
        RotatingCredential.start(
            state, creds, env_id, client.create_binding(env_id, 600), 600, requested_at, client
        )
    before = ExecState.load(state)

    def unavailable(creds: Credentials, auth: ClientCredentialsAuth) -> ProvisioningClient:
        api = httpx.MockTransport(lambda request: httpx.Response(503))
        return ProvisioningClient(creds, auth=auth, transport=api, retries=0)

    answer = RotatingCredential(state, client_factory=unavailable).exec_credential()
    assert answer["status"]["token"] == before.token
    assert ExecState.load(state).binding_id == before.binding_id
    RotatingCredential(state).revoke_all()


def plugin(state: Path) -> tuple[dict[str, Any], set[str]]:
    """``kymaprov exec-credential`` as kubectl runs it: its answer, and the modules it loaded."""
    code = (
        "import json, sys\n"
        "from kymaprov.cli.main import main\n"
        f"sys.argv[1:] = ['exec-credential', '--state', {str(state)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    done = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": src}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_a_live_binding_is_answered_without_the_sdk_and_revocation_still_counts(
    setup: tuple[dict[str, Any], Api, str], tmp_path: Path
) -> None:
    credentials, api, env_id = setup
    creds = Credentials.from_service_key({"credentials": credentials})
    state = tmp_path / "state.json"
    requested_at = time.time()
    with ProvisioningClient(creds) as client:
        first = client.create_binding(env_id, 600)
        RotatingCredential.start(state, creds, env_id, first, 600, requested_at, client)

    full, loaded = plugin(state)  # no API token cached yet: the full plugin fetches and caches one
    assert "httpx" in loaded
    fast, loaded = plugin(state)
    assert "httpx" not in loaded and "kymaprov.client" not in loaded
    assert fast == full and fast["status"]["token"] == ExecState.load(state).token

    # revoked behind its back: the service says so, and the full plugin replaces it
    api.request("DELETE", f"/environments/{env_id}/bindings/{first.id}")
    replaced, loaded = plugin(state)
    assert "httpx" in loaded
    assert replaced["status"]["token"] != fast["status"]["token"]
    assert ExecState.load(state).binding_id != first.id
    RotatingCredential(state).revoke_all()
