"""Every listing and showing command in every output format: table rows, and json/yaml that parse the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import Run


@pytest.fixture
def ready(run: Run, tmp_path: Path) -> str:
    """A runtime with one binding; returns the binding id."""
    assert run("env", "create", "fmt-rt", "--plan", "gcp", "--wait", "--interval", "0.2").exit_code == 0
    made = run("kubeconfig", "fmt-rt", "-f", str(tmp_path / "kc.yaml"))
    assert made.exit_code == 0, made.output
    listed = json.loads(run("bindings", "list", "fmt-rt", "-o", "json").stdout)
    return str(listed[0]["bindingId"])


@pytest.mark.parametrize(
    "args",
    [
        ("plans",),
        ("env", "list"),
        ("env", "get", "fmt-rt"),
        ("bindings", "list", "fmt-rt"),
        ("bindings", "get", "fmt-rt", "{binding}"),
        ("profile", "list"),
    ],
    ids=lambda args: " ".join(args),
)
def test_formats_agree(run: Run, ready: str, args: tuple[str, ...]) -> None:
    argv = [a.replace("{binding}", ready) for a in args]
    table = run(*argv)
    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines()[0].isupper()  # a header row
    as_json = run(*argv, "-o", "json")
    as_yaml = run(*argv, "--output", "yaml")
    assert as_json.exit_code == as_yaml.exit_code == 0
    assert json.loads(as_json.stdout) == yaml.safe_load(as_yaml.stdout)
