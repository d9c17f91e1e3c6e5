"""``kymaprov plans`` and ``kymaprov env ...`` in every output format, against a real server."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.cli.conftest import Run


def test_plans_lists_kyma_plans_with_regions(run: Run) -> None:
    table = run("plans")
    assert table.exit_code == 0, table.output
    header, *lines = table.stdout.splitlines()
    assert header.split() == ["PLAN", "REGIONS", "DESCRIPTION"]
    aws = next(line for line in lines if line.startswith("aws "))
    assert "eu-central-1" in aws
    as_json = json.loads(run("plans", "-o", "json").stdout)
    assert {"aws", "azure", "gcp"} <= {p["planName"] for p in as_json}
    assert all(isinstance(p["createSchema"], str) for p in as_json)  # the wire format, untouched
    as_yaml = yaml.safe_load(run("plans", "--output", "yaml").stdout)
    assert [p["planName"] for p in as_yaml] == [p["planName"] for p in as_json]


def test_environment_lifecycle_through_the_cli(run: Run) -> None:
    assert run("env", "list").stdout.split() == ["NAME", "ID", "PLAN", "REGION", "STATE", "CREATED"]

    created = run(
        "env", "create", "cli-rt", "--plan", "aws", "--region", "eu-central-1",
        "--wait", "--interval", "0.2", "-o", "json",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    env = json.loads(created.stdout)
    assert env["state"] == "OK" and json.loads(env["parameters"])["name"] == "cli-rt"
    assert "waiting for cli-rt: CREATING" in created.stderr  # the progress line
    assert "cli-rt is OK" in created.stderr

    listed = run("env", "list").stdout.splitlines()
    assert listed[1].split()[:5] == ["cli-rt", env["id"], "aws", "eu-central-1", "OK"]

    by_name = run("env", "get", "cli-rt", "-o", "yaml")
    assert yaml.safe_load(by_name.stdout)["id"] == env["id"]
    by_id = run("env", "get", env["id"]).stdout
    assert "state           OK" in by_id and "api server" in by_id

    updated = run(
        "env", "update", "cli-rt", "--parameters", '{"autoScalerMax": 5}', "--wait", "--interval", "0.2"
    )
    assert updated.exit_code == 0, updated.output
    got = json.loads(run("env", "get", "cli-rt", "-o", "json").stdout)
    # the current parameters go along (the service stores what an update sends), but not the region,
    # which the update schema does not take
    assert json.loads(got["parameters"]) == {"name": "cli-rt", "autoScalerMax": 5}

    deleted = run("env", "delete", "cli-rt", "--wait", "--interval", "0.2")
    assert deleted.exit_code == 0, deleted.output
    assert "cli-rt is deleted" in deleted.stderr
    assert run("env", "list").stdout.split() == ["NAME", "ID", "PLAN", "REGION", "STATE", "CREATED"]


def test_server_errors_print_message_and_correlation_id_with_the_class_exit_code(run: Run) -> None:
    bad = run("env", "create", "x", "--plan", "aws", "--region", "mars-1")
    assert bad.exit_code == 11  # BadRequestError
    assert "HTTP 400" in bad.stderr and "region" in bad.stderr
    assert "correlation id: " in bad.stderr
    missing = run("env", "get", "no-such-runtime")
    assert missing.exit_code == 14 and "no-such-runtime" in missing.stderr


def test_usage_errors_exit_2(run: Run) -> None:
    assert run("env", "create", "x", "--plan", "aws", "--parameters", "{nope").exit_code == 2
    assert run("env", "create", "x", "--plan", "aws", "--parameters", "[1]").exit_code == 2
    assert run("env", "get", "x", "-o", "xml").exit_code == 2
    assert run("env", "update", "x").exit_code == 2


def test_credentials_and_connection_errors(run: Run, tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_text('{"uaa": {}}')
    result = run("--service-key", str(key), "env", "list")
    assert result.exit_code == 3 and "service key is missing" in result.stderr
    key.write_text(json.dumps({
        "uaa": {"clientid": "a", "clientsecret": "b", "url": "http://127.0.0.1:9"},
        "endpoints": {"provisioning_service_url": "http://127.0.0.1:9"},
    }))  # fmt: skip
    unreachable = run("--service-key", str(key), "env", "list")
    assert unreachable.exit_code == 4, unreachable.output
