"""The procedure in one command: ``kymaprov up``, the real ``kubectl``, ``kymaprov down``, as processes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.conftest import Api, RunningServer, kubectl_binary
from tests.support.server import seed_variables


def kymaprov(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kymaprov", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_up_kubectl_down(server: RunningServer, tmp_path: Path) -> None:
    credentials = server.cis_credentials(server.new_subaccount("one-command"))
    env = {
        **os.environ,
        **seed_variables(credentials),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    kubeconfig = tmp_path / "kubeconfig.yaml"

    up = kymaprov(
        env, "up", "one-cmd", "--user", "me@example.com", "-f", str(kubeconfig), "--interval", "0.2"
    )
    assert up.returncode == 0, up.stderr
    assert up.stdout == f"export KUBECONFIG={kubeconfig}\n"
    assert "creating one-cmd" in up.stderr and "checked access" in up.stderr
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600

    pods = subprocess.run(
        [kubectl_binary("1.33"), "--cache-dir", str(tmp_path / "cache"), "get", "pods"],
        capture_output=True,
        text=True,
        env={**env, "KUBECONFIG": str(kubeconfig)},
        timeout=60,
    )
    assert pods.returncode == 0, pods.stderr
    assert "No resources found in default namespace." in pods.stderr

    # up again finds the environment instead of making a second one
    again = kymaprov(env, "up", "one-cmd", "-f", str(tmp_path / "second.yaml"), "--interval", "0.2")
    assert again.returncode == 0, again.stderr
    assert "found one-cmd" in again.stderr

    api = Api(server, server.token_for(credentials))
    [environment] = api.request("GET", "/environments").json()["environmentInstances"]

    down = kymaprov(env, "down", "one-cmd", "-f", str(kubeconfig), "--interval", "0.2")
    assert down.returncode == 0, down.stderr
    assert "revoked 2 binding(s)" in down.stderr and "one-cmd is deleted" in down.stderr
    assert not kubeconfig.exists()
    assert api.request("GET", f"/environments/{environment['id']}").status_code == 404
    assert "nothing to do" in kymaprov(env, "down", "one-cmd").stderr
