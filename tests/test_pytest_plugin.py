"""The ``kymaprov.testing`` pytest plugin, used the way a user's project uses it: a test file of theirs,
run by pytest in a directory of its own.

The plugin is registered through the ``pytest11`` entry point. Where the installed distribution's metadata
does not list it yet (an editable install made before the entry point existed, pointing at another
checkout), the run names the plugin with ``-p kymaprov.testing``, which loads the same module.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import kymaprov

ROOT = Path(__file__).resolve().parents[1]

USER_TESTS = '''
import httpx
import pytest

from kymaprov.client.exceptions import RateLimitedError


def my_code_lists_runtimes(client):
    """What a user's code might do: list the Kyma runtimes of its subaccount."""
    return [env.name for env in client.list_environments()]


def test_creates_a_runtime_and_waits(kymaprov_client):
    env = kymaprov_client.create_environment("mine", "aws", "eu-central-1", user="me@example.com")
    assert kymaprov_client.wait_until_ready(env.id, interval=0.2, timeout=60).state == "OK"
    assert my_code_lists_runtimes(kymaprov_client) == ["mine"]


def test_survives_rate_limiting(kymaprov_client, kymaprov_faults):
    my_code_lists_runtimes(kymaprov_client)
    kymaprov_faults.add("GET", "/provisioning/v1/environments*", status=429, retry_after=0, count=1)
    assert my_code_lists_runtimes(kymaprov_client) == []
    assert kymaprov_faults.list() == []


def test_gives_up_on_a_lasting_rate_limit(kymaprov, kymaprov_faults, kymaprov_credentials):
    from kymaprov.client import ProvisioningClient

    with ProvisioningClient(kymaprov_credentials, retries=1, sleep=lambda _: None) as client:
        client.list_environments()
        kymaprov_faults.add("GET", "/provisioning/v1/environments*", status=429)
        with pytest.raises(RateLimitedError):
            client.list_environments()


def test_faults_are_gone_in_the_next_test(kymaprov, kymaprov_faults):
    assert kymaprov_faults.list() == []


def test_clock(kymaprov_clock):
    now = kymaprov_clock.now()
    assert kymaprov_clock.advance(3600) >= now + 3600


def test_reset(kymaprov_reset):
    assert kymaprov_reset.admin("GET", "/admin/clock")["offsetSeconds"] == 0


def test_in_process(kymaprov_inprocess):
    credentials = kymaprov_inprocess.cis_credentials()
    r = httpx.post(
        credentials.token_url,
        data={"grant_type": "client_credentials"},
        auth=(credentials.client_id, credentials.client_secret),
    )
    assert r.status_code == 200
'''


def readme_example() -> str:
    """The Python block under "Testing your code: the pytest plugin" in the README, exactly as written."""
    section = (ROOT / "README.md").read_text().split("## Testing your code: the pytest plugin", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert match, "the README lost its plugin example"
    return match.group(1)


def plugin_args() -> list[str]:
    """``-p kymaprov.testing`` only where the installed metadata lacks the entry point (see above)."""
    registered = any(ep.value == "kymaprov.testing" for ep in entry_points(group="pytest11"))
    return [] if registered else ["-p", "kymaprov.testing"]


def test_pyproject_registers_the_plugin_module() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"kymaprov": "kymaprov.testing"}


def test_a_users_test_file_runs_with_the_plugins_fixtures(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    (tmp_path / "test_readme_example.py").write_text(readme_example())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KYMAPROV_", "PYTEST_"))}
    env["PYTHONPATH"] = str(Path(kymaprov.__file__).resolve().parents[1])  # this checkout's kymaprov
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin_args()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "11 passed" in result.stdout, result.stdout
