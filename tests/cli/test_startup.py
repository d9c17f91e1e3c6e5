"""What ``kymaprov --help`` and ``btp --help`` load: only what printing help needs, so they start fast.

Each case runs in a fresh interpreter and reports which modules the command imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kymaprov.cli.main import COMMANDS, load_command

SRC = str(Path(__file__).resolve().parents[2] / "src")


def modules_after(code: str) -> set[str]:
    script = f"import json, sys\ntry:\n    {code}\nexcept SystemExit:\n    pass\nprint(json.dumps(sorted(sys.modules)), file=sys.stderr)"
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_kymaprov_help_lists_serve_without_importing_the_server() -> None:
    loaded = modules_after("from kymaprov.cli.main import cli; cli(['--help'])")
    assert "kymaprov.server" not in loaded and "kymaprov.cli.serve" not in loaded
    assert "sqlalchemy" not in loaded and "uvicorn" not in loaded


def test_kymaprov_help_loads_no_sdk_and_no_http_client() -> None:
    loaded = modules_after("from kymaprov.cli.main import cli; cli(['--help'])")
    assert not loaded & {"httpx", "rich", "yaml", "asyncio", "kymaprov.client"}


def test_each_listed_summary_is_its_commands_own() -> None:
    """The summaries ``kymaprov --help`` shows without loading the commands are theirs, word for word."""
    for name, (summary, _) in COMMANDS.items():
        command = load_command(name)
        assert command.name == name
        assert command.get_short_help_str(limit=300) == summary, name


def test_serve_help_still_shows_the_servers_options() -> None:
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(
        [sys.executable, "-m", "kymaprov", "serve", "--help"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "--kube-port" in done.stdout


def test_btp_help_loads_no_http_client() -> None:
    loaded = modules_after("from kymaprov.cli.btp import main; sys.argv[1:] = ['--help']; main()")
    assert "httpx" not in loaded
