"""The exec credential plugin never hands kubectl a token the service has forgotten (issue 9).

Its own module: ``/admin/reset`` wipes the module's server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import seed_variables
from tests.conftest import Api, RunningServer, run_kubectl


def exec_kubeconfig(server: RunningServer, tmp_path: Path, name: str) -> tuple[Path, Path, Api, str]:
    credentials = server.cis_credentials(server.new_subaccount(name))
    api = Api(server, server.token_for(credentials))
    env_id = api.create_kyma(name=name)
    api.wait_state(env_id)
    kubeconfig, state = tmp_path / f"{name}.yaml", tmp_path / f"{name}-state.json"
    made = subprocess.run(
        [sys.executable, "-m", "kymaprov", "kubeconfig", env_id, "--exec", "-f", str(kubeconfig),
         "--state", str(state)],
        capture_output=True, text=True, env={**os.environ, **seed_variables(credentials)}, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert run_kubectl(kubeconfig, tmp_path / f"{name}-cache0", "get", "pods").returncode == 0
    return kubeconfig, state, api, env_id


def test_a_deleted_environment_fails_with_a_clear_line(server: RunningServer, tmp_path: Path) -> None:
    kubeconfig, _, api, env_id = exec_kubeconfig(server, tmp_path, "exec-gone")
    assert api.request("DELETE", f"/environments/{env_id}").status_code == 202
    api.wait_gone(env_id)
    result = run_kubectl(kubeconfig, tmp_path / "cache1", "get", "pods")
    assert result.returncode != 0
    assert f"environment {env_id} no longer exists at {server.url}" in result.stderr
    assert "kymaprov up NAME --exec" in result.stderr


def test_after_a_reset_kubectl_gets_no_stale_token_and_says_why(
    server: RunningServer, tmp_path: Path
) -> None:
    kubeconfig, state, _, _ = exec_kubeconfig(server, tmp_path, "exec-reset")
    server.admin("POST", "/admin/reset")
    result = run_kubectl(kubeconfig, tmp_path / "cache1", "get", "pods")
    assert result.returncode != 0
    assert f"the service no longer accepts the credentials at {server.url}" in result.stderr
    assert str(state) in result.stderr
    plugin = subprocess.run(
        [sys.executable, "-m", "kymaprov", "exec-credential", "--state", str(state)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert plugin.returncode == 3 and plugin.stdout == ""  # no ExecCredential, so no stale token
