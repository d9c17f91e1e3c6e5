"""``kymaprov profile ...``: named credentials in an owner-only file, usable without the seed's variables."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from kymaprov.cli.main import cli
from tests.cli.conftest import Run


def test_profile_save_list_use_delete(run: Run, credentials: dict[str, Any], tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"credentials": credentials}))
    assert run("profile", "save", "dev", "--from-key", str(key)).exit_code == 0
    profiles = tmp_path / "profiles.json"
    assert stat.S_IMODE(profiles.stat().st_mode) == 0o600
    listed = run("profile", "list")
    assert listed.stdout.splitlines()[1].split() == [
        "dev",
        credentials["endpoints"]["provisioning_service_url"],
    ]
    assert credentials["uaa"]["clientsecret"] not in listed.stdout
    # a profile works without the seed's variables
    alone = CliRunner(env={"KYMAPROV_PROFILES": str(profiles), "CLIENT_ID": None}).invoke(
        cli, ["--profile", "dev", "plans", "-o", "json"]
    )
    assert alone.exit_code == 0, alone.output
    assert run("profile", "delete", "dev").exit_code == 0
    assert run("profile", "delete", "dev").exit_code == 1
    assert run("--profile", "dev", "plans").exit_code == 3
