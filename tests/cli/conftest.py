"""CLI tests: ``CliRunner`` drives the real commands against a real ``kymaprov serve`` over a socket."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from kymaprov.cli.main import cli
from tests.conftest import RunningServer
from tests.support.server import seed_variables as seed_variables

_subaccounts = itertools.count()

Run = Callable[..., Result]


@pytest.fixture
def credentials(server: RunningServer) -> dict[str, Any]:
    """cis credentials of a fresh subaccount (each subaccount holds at most one Kyma environment)."""
    sub = server.new_subaccount(f"cli-{next(_subaccounts)}")
    return server.cis_credentials(sub)


@pytest.fixture
def run(credentials: dict[str, Any], tmp_path: Path) -> Run:
    """``run(*args)``: invoke ``kymaprov`` with the seed's variables set and private state dirs."""
    env = {
        **seed_variables(credentials),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "KYMAPROV_PROFILES": str(tmp_path / "profiles.json"),
        "KYMAPROV_USER": "cli@example.com",
    }

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner(env=env).invoke(cli, list(args), input=input, catch_exceptions=False)

    return invoke
