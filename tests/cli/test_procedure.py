"""``kymaprov up`` / ``down`` and the exec plugin command through ``CliRunner``, against a real server."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.cli.conftest import Run
from tests.conftest import RunningServer


def test_up_with_exec_then_plugin_then_down(run: Run, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc.yaml"
    up = run("up", "proc-rt", "--plan", "azure", "-f", str(kubeconfig), "--exec", "--interval", "0.2")
    assert up.exit_code == 0, up.output
    assert (
        "using region" in up.stderr and "checked access" in up.stderr and "renewed automatically" in up.stderr
    )
    config = yaml.safe_load(kubeconfig.read_text())
    exec_user = config["users"][0]["user"]["exec"]
    assert exec_user["args"][:3] == ["-m", "kymaprov", "exec-credential"]
    state = Path(exec_user["args"][-1])
    assert state.is_relative_to(tmp_path / "state")  # XDG_STATE_HOME

    plugin = run(*exec_user["args"][2:])
    assert plugin.exit_code == 0, plugin.output
    credential = json.loads(plugin.stdout)
    assert credential["kind"] == "ExecCredential" and credential["status"]["token"]

    down = run("down", "proc-rt", "-f", str(kubeconfig), "--interval", "0.2")
    assert down.exit_code == 0, down.output
    assert not state.exists() and not kubeconfig.exists()
    assert "proc-rt is deleted" in down.stderr and "revoked 1 binding(s)" in down.stderr


def test_failed_operations_exit_6_with_the_state_message(
    server: RunningServer, run: Run, tmp_path: Path
) -> None:
    created = run("env", "create", "fail-rt", "--plan", "aws", "--wait", "--interval", "0.2", "-o", "yaml")
    assert created.exit_code == 0, created.output
    env_id = yaml.safe_load(created.stdout)["id"]
    server.admin("POST", f"/admin/environments/{env_id}/fail-next", {"message": "quota exceeded"})
    updated = run(
        "env", "update", "fail-rt", "--parameters", '{"autoScalerMax": 4}', "--wait", "--interval", "0.2"
    )
    assert updated.exit_code == 6
    assert "UPDATE_FAILED: quota exceeded" in updated.stderr
    up = run("up", "fail-rt", "-f", str(tmp_path / "k.yaml"))
    assert up.exit_code == 6 and "quota exceeded" in up.stderr
    assert not (tmp_path / "k.yaml").exists()


def test_wait_timeout_exits_5(run: Run) -> None:
    # a zero timeout gives up after the first poll while the environment is still being created
    result = run("env", "create", "slow-rt", "--plan", "aws", "--wait", "--timeout", "0")
    assert result.exit_code == 5 and "still CREATING" in result.stderr


def test_running_up_again_reuses_or_replaces_the_files_binding(
    server: RunningServer, run: Run, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kc.yaml"
    first = run("up", "again-rt", "-f", str(kubeconfig), "--interval", "0.2")
    assert first.exit_code == 0, first.output
    for _ in range(11):  # the 11th used to fail: "maximum number of non expired bindings reached: 10"
        again = run("up", "again-rt", "-f", str(kubeconfig), "--interval", "0.2")
        assert again.exit_code == 0, again.output
        assert "reusing binding" in again.stderr and "checked access" in again.stderr
    listed = json.loads(run("bindings", "list", "again-rt", "-o", "json").stdout)
    assert len(listed) == 1

    # a new lifetime asked for, or an expired binding: a new one, and the old one revoked
    old = kubeconfig.read_text()
    replaced = run("up", "again-rt", "-f", str(kubeconfig), "--expiration", "3600", "--interval", "0.2")
    assert replaced.exit_code == 0, replaced.output
    assert "revoked binding" in replaced.stderr and kubeconfig.read_text() != old
    server.admin("POST", "/admin/clock/advance", {"seconds": 3600 + 60})
    renewed = run("up", "again-rt", "-f", str(kubeconfig), "--interval", "0.2")
    assert renewed.exit_code == 0, renewed.output
    assert "revoked binding" in renewed.stderr
    listed = json.loads(run("bindings", "list", "again-rt", "-o", "json").stdout)
    assert len(listed) == 1
