"""``kymaprov admin``: the real commands against a real server, found through its login file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result

from kymaprov.cli.main import cli
from tests.conftest import RunningServer, new_api


def admin(server: RunningServer | None, *args: str, data_dir: Path | None = None) -> Result:
    """``kymaprov admin ARGS`` with only ``KYMAPROV_DATA_DIR`` saying where the server is."""
    env = {"KYMAPROV_DATA_DIR": str(data_dir or (server.data_dir if server else "/nonexistent"))}
    env_unset: dict[str, str | None] = {"KYMAPROV_ADMIN_URL": None, "KYMAPROV_ADMIN_TOKEN": None}
    return CliRunner(env={**env, **env_unset}).invoke(cli, ["admin", *args], catch_exceptions=False)


def json_of(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_clock_show_advance_and_set(server: RunningServer) -> None:
    before = json_of(admin(server, "clock", "show", "-o", "json"))
    after = json_of(admin(server, "clock", "advance", "2h", "-o", "json"))
    assert after["offsetSeconds"] - before["offsetSeconds"] == 7200
    assert "OFFSET SECONDS" in admin(server, "clock", "show").output
    target = datetime.fromtimestamp(after["now"] + 400 * 86400, tz=UTC).replace(microsecond=0)
    set_to = json_of(admin(server, "clock", "set", target.strftime("%Y-%m-%dT%H:%M:%S"), "-o", "json"))
    assert abs(set_to["now"] - target.timestamp()) < 5


def test_clock_set_refuses_the_past(server: RunningServer) -> None:
    result = admin(server, "clock", "set", "2001-01-01")
    assert result.exit_code == 2 and "only moves forward" in result.output


def test_a_bad_duration_is_a_usage_error(server: RunningServer) -> None:
    result = admin(server, "clock", "advance", "soon")
    assert result.exit_code == 2 and "90s, 15m, 2h" in result.output


def test_subaccounts_create_and_list(server: RunningServer) -> None:
    made = json_of(
        admin(server, "subaccounts", "create", "--name", "Team A", "--subdomain", "team-a", "-o", "json")
    )
    listed = json_of(admin(server, "subaccounts", "list", "-o", "json"))
    assert made["guid"] in [s["guid"] for s in listed]
    again = admin(server, "subaccounts", "create", "--name", "Team A", "--subdomain", "team-a")
    assert again.exit_code == 1 and "team-a" in again.output and server.url in again.output


def test_faults_add_list_clear_and_the_fault_answers(server: RunningServer) -> None:
    api = new_api(server, "cli-faults")
    rule = json_of(
        admin(
            server, "faults", "add", "GET", "/provisioning/v1/environments*",
            "--status", "429", "--retry-after", "5", "--count", "1", "-o", "json",
        )
    )  # fmt: skip
    assert rule["status"] == 429 and rule["remaining"] == 1
    assert rule["id"] in admin(server, "faults", "list").output
    r = api.request("GET", "/environments")
    assert r.status_code == 429 and r.headers["retry-after"] == "5"
    admin(server, "faults", "add", "*", "/oauth/*", "--status", "504", "--for", "10m")
    assert admin(server, "faults", "clear").output.strip() == "removed 1 fault rule(s)"
    assert json_of(admin(server, "faults", "list", "-o", "json")) == []


def test_faults_add_needs_an_answer(server: RunningServer) -> None:
    result = admin(server, "faults", "add", "GET", "/x")
    assert result.exit_code == 2 and "--status, --delay" in result.output


def test_lifecycle_hold_release_and_fail_next(server: RunningServer) -> None:
    api = new_api(server, "cli-life")
    assert "plan aws: held" in admin(server, "lifecycle", "plan", "aws", "--hold").output
    env_id = api.create_kyma()
    table = admin(server, "lifecycle", "show").output
    assert "aws" in table and "True" in table
    assert (
        admin(server, "lifecycle", "release", env_id).output.strip() == f"released 1 operation(s) of {env_id}"
    )
    api.wait_state(env_id)
    # an update fails once, and repeating it succeeds
    result = admin(server, "fail-next", env_id, "--message", "upgrade failed", "--operation", "update")
    assert result.exit_code == 0, result.output
    update = {"planName": "aws", "parameters": {"autoScalerMax": 5}}
    assert api.request("PATCH", f"/environments/{env_id}", json=update).status_code == 202
    assert api.wait_state(env_id, ("UPDATE_FAILED",))["stateMessage"] == "upgrade failed"
    assert api.request("PATCH", f"/environments/{env_id}", json=update).status_code == 202
    api.wait_state(env_id)
    result = admin(server, "fail-next", env_id, "--message", "boom", "--operation", "deprovision")
    assert result.exit_code == 0, result.output
    assert api.request("DELETE", f"/environments/{env_id}").status_code == 202
    assert api.wait_state(env_id, ("DELETION_FAILED",))["stateMessage"] == "boom"
    assert admin(server, "lifecycle", "clear").exit_code == 0
    assert json_of(admin(server, "lifecycle", "show", "-o", "json")) == {"plans": {}, "environments": {}}


def test_reset_asks_then_resets(server: RunningServer) -> None:
    admin(server, "clock", "advance", "1d")
    assert admin(server, "reset").exit_code == 1  # declined at the prompt (no input)
    result = admin(server, "reset", "--yes")
    assert result.exit_code == 0, result.output
    assert httpx.get(f"{server.url}/admin/clock", headers=server.admin_headers).json()["offsetSeconds"] == 0


def test_without_a_server_it_says_how_to_name_one(tmp_path: Path) -> None:
    result = admin(None, "clock", "show", data_dir=tmp_path)
    assert result.exit_code == 3
    assert "kymaprov serve" in result.output and "--url and --admin-token" in result.output


def test_a_wrong_admin_token_is_exit_3(server: RunningServer) -> None:
    result = CliRunner().invoke(
        cli, ["admin", "--url", server.url, "--admin-token", "wrong", "clock", "show"], catch_exceptions=False
    )
    assert result.exit_code == 3 and "admin token" in result.output
