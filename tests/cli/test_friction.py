"""Client errors say what went wrong and what to do (issue 9, "Friction"), against a real server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from kymaprov.cli.btp import cli as btp_cli
from kymaprov.cli.main import cli
from tests.cli.conftest import Run, seed_variables
from tests.conftest import RunningServer, free_port


def invoke(env: dict[str, str | None], *args: str) -> Result:
    return CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)


def test_a_connection_failure_names_the_request_and_host_it_tried(credentials: dict[str, Any]) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    api_down = invoke({**seed_variables(credentials), "PROVISIONING_SERVICE_URL": closed}, "plans")
    assert api_down.exit_code == 4
    assert f"GET {closed}/provisioning/v1/availableEnvironments failed" in api_down.stderr
    uaa_down = invoke({**seed_variables(credentials), "UAA_URL": closed}, "plans")
    assert uaa_down.exit_code == 4
    # the token request is the one that failed, not the API call it was for
    assert f"POST {closed}/oauth/token failed" in uaa_down.stderr
    assert "needed for GET /provisioning/v1/availableEnvironments" in uaa_down.stderr


def test_an_unknown_plan_lists_the_valid_ones(run: Run) -> None:
    result = run("env", "create", "rt", "--plan", "awss")
    assert result.exit_code == 2
    assert "unknown plan 'awss'" in result.stderr and "aws, azure, azure_lite" in result.stderr
    assert json.loads(run("env", "list", "-o", "json").stdout) == []  # nothing was requested


def test_root_options_after_the_subcommand_say_where_they_belong(run: Run) -> None:
    result = run("env", "list", "--profile", "x")
    assert result.exit_code == 2 and "--profile belongs before the command" in result.stderr
    result = run("plans", "--format", "json")
    assert result.exit_code == 2 and "-o json|yaml|table" in result.stderr
    result = CliRunner().invoke(btp_cli, ["get", "services/binding", "--name", "b", "--format", "json"])
    assert result.exit_code == 2 and "--format belongs before the command" in result.output


def test_up_without_a_user_says_how_to_give_one(credentials: dict[str, Any], tmp_path: Path) -> None:
    env = {**seed_variables(credentials), "KYMAPROV_USER": None, "XDG_STATE_HOME": str(tmp_path)}
    result = invoke(env, "up", "no-user", "-f", str(tmp_path / "k.yaml"))
    assert result.exit_code == 11
    assert "--user" in result.stderr and "KYMAPROV_USER" in result.stderr


def test_up_with_another_plan_or_region_says_so(run: Run, tmp_path: Path) -> None:
    path = str(tmp_path / "k.yaml")
    first = run("up", "same-rt", "--region", "eu-west-2", "-f", path, "--interval", "0.2")
    assert first.exit_code == 0, first.output
    again = run("up", "same-rt", "--plan", "gcp", "--region", "us-east-1", "-f", path, "--interval", "0.2")
    assert again.exit_code == 2
    assert (
        "--plan gcp (it has aws)" in again.stderr and "--region us-east-1 (it has eu-west-2)" in again.stderr
    )
    assert run("up", "same-rt", "--plan", "aws", "-f", path, "--interval", "0.2").exit_code == 0


def test_failed_states_print_a_next_step(server: RunningServer, run: Run) -> None:
    created = run("env", "create", "failing", "--plan", "aws", "--wait", "--interval", "0.2", "-o", "yaml")
    env_id = yaml.safe_load(created.stdout)["id"]
    server.admin("POST", f"/admin/environments/{env_id}/fail-next", {"message": "quota exceeded"})
    updated = run(
        "env", "update", "failing", "--parameters", '{"autoScalerMax": 4}', "--wait", "--interval", "0.2"
    )
    assert updated.exit_code == 6
    assert "next: read the message, then update again ('kymaprov env update" in updated.stderr


def test_btp_names_options_as_typed_and_has_a_version() -> None:
    result = CliRunner().invoke(
        btp_cli, ["create", "services/instance", "--plan-name", "local", "--name", "x"]
    )
    assert result.exit_code == 2 and "missing option --offering-name" in result.output
    result = CliRunner().invoke(btp_cli, ["create", "services/binding", "--name", "x"])
    assert result.exit_code == 2 and "--instance-name" in result.output
    version = CliRunner().invoke(btp_cli, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("btp CLI (kymaprov stand-in) ")


def test_the_plans_table_fits_100_columns(run: Run) -> None:
    table = run("plans")
    assert table.exit_code == 0
    assert max(len(line) for line in table.stdout.splitlines()) <= 100
    full = {p["planName"] for p in json.loads(run("plans", "-o", "json").stdout)}
    assert {line.split()[0] for line in table.stdout.splitlines()[1:]} == full
    assert "+9 more" in table.stdout  # cut, not silently dropped


@pytest.fixture
def admin_env(server: RunningServer) -> dict[str, str | None]:
    return {
        "KYMAPROV_DATA_DIR": str(server.data_dir),
        "KYMAPROV_ADMIN_URL": None,
        "KYMAPROV_ADMIN_TOKEN": None,
    }


def test_every_list_command_prints_a_json_array_of_items(
    run: Run, admin_env: dict[str, str | None], tmp_path: Path
) -> None:
    made = run("up", "listed-rt", "-f", str(tmp_path / "k.yaml"), "--interval", "0.2")
    assert made.exit_code == 0, made.output
    assert invoke(admin_env, "admin", "faults", "add", "GET", "/nothing", "--status", "503").exit_code == 0
    lists = {
        "plans": run("plans", "-o", "json"),
        "env list": run("env", "list", "-o", "json"),
        "bindings list": run("bindings", "list", "listed-rt", "-o", "json"),
        "profile list": run("profile", "list", "-o", "json"),
        "admin subaccounts list": invoke(admin_env, "admin", "subaccounts", "list", "-o", "json"),
        "admin faults list": invoke(admin_env, "admin", "faults", "list", "-o", "json"),
    }
    for name, result in lists.items():
        assert result.exit_code == 0, (name, result.output)
        items = json.loads(result.stdout)
        assert isinstance(items, list) and all(isinstance(i, dict) for i in items), name
    assert [json.loads(e["parameters"])["name"] for e in json.loads(lists["env list"].stdout)] == [
        "listed-rt"
    ]
    assert len(json.loads(lists["bindings list"].stdout)) == 1
    assert "/nothing" in [r["path"] for r in json.loads(lists["admin faults list"].stdout)]


def test_revoking_an_expired_binding_is_not_an_error(
    run: Run, admin_env: dict[str, str | None], tmp_path: Path
) -> None:
    made = run("up", "expiring-rt", "-f", str(tmp_path / "k.yaml"), "--interval", "0.2")
    assert made.exit_code == 0, made.output
    binding_id = json.loads(run("bindings", "list", "expiring-rt", "-o", "json").stdout)[0]["bindingId"]
    assert invoke(admin_env, "admin", "clock", "advance", "3h").exit_code == 0  # last in this module
    result = run("bindings", "revoke", "expiring-rt", binding_id)
    assert result.exit_code == 0, result.output
    assert "had already expired" in result.stderr
