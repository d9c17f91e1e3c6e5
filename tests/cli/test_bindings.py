"""``kymaprov kubeconfig`` and ``kymaprov bindings ...`` against a real server, checked with kubectl."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import Run
from tests.conftest import run_kubectl


@pytest.fixture
def environment(run: Run) -> str:
    result = run("env", "create", "bind-cli", "--plan", "aws", "--wait", "--interval", "0.2", "-o", "json")
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["id"])


def test_kubeconfig_list_get_revoke(run: Run, environment: str, tmp_path: Path) -> None:
    path = tmp_path / "kc" / "bind.yaml"
    made = run("kubeconfig", "bind-cli", "-f", str(path), "--expiration", "900")
    assert made.exit_code == 0, made.output
    assert made.stdout == f"export KUBECONFIG={path}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text())["current-context"] == "bind-cli"
    assert run_kubectl(path, tmp_path / "cache1", "get", "pods").returncode == 0

    listed = run("bindings", "list", "bind-cli")
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ID", "CREATED", "BY", "CREATED", "EXPIRES"]
    binding_id = row.split()[0]
    assert binding_id in made.stderr
    as_json = json.loads(run("bindings", "list", environment, "-o", "json").stdout)
    assert [b["bindingId"] for b in as_json] == [binding_id]

    got = json.loads(run("bindings", "get", "bind-cli", binding_id, "-o", "json").stdout)
    assert got["credentials"]["kubeconfig"] == path.read_text()
    assert "live" in run("bindings", "get", "bind-cli", binding_id).stdout

    revoked = run("bindings", "revoke", "bind-cli", binding_id)
    assert revoked.exit_code == 0, revoked.output
    refused = run_kubectl(path, tmp_path / "cache2", "get", "pods")
    assert refused.returncode != 0 and "You must be logged in to the server" in refused.stderr
    again = run("bindings", "revoke", "bind-cli", binding_id)
    assert again.exit_code == 14 and "No binding exists with the provided ID" in again.stderr


def test_expiration_outside_the_range_is_a_usage_error(run: Run, environment: str, tmp_path: Path) -> None:
    result = run("kubeconfig", environment, "-f", str(tmp_path / "k.yaml"), "--expiration", "599")
    assert result.exit_code == 2 and "600<=x<=7200" in result.output
    assert not (tmp_path / "k.yaml").exists()


def test_kubeconfig_never_replaces_a_device_or_directory(run: Run, environment: str, tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    result = run("kubeconfig", environment, "-f", str(tmp_path / "dir"))
    assert result.exit_code == 2 and "is a directory" in result.stderr
    result = run("kubeconfig", environment, "-f", "/dev/null")
    assert result.exit_code == 1 and "not a regular file" in result.stderr
    assert Path("/dev/null").is_char_device()
    (tmp_path / "afile").write_text("")
    result = run("kubeconfig", environment, "-f", str(tmp_path / "afile" / "sub.yaml"))
    assert result.exit_code == 1 and "is not a directory" in result.stderr
    result = run("kubeconfig", environment, "--exec", "-f", str(tmp_path / "ok.yaml"),
                 "--state", str(tmp_path / "afile" / "state.json"))  # fmt: skip
    assert result.exit_code == 1 and "is not a directory" in result.stderr
    assert not (tmp_path / "ok.yaml").exists()
    # nothing was bound for the refused paths
    assert json.loads(run("bindings", "list", environment, "-o", "json").stdout) == []
