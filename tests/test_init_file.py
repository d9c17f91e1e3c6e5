"""``kymaprov serve --init FILE``: a real server made from a YAML file, restarted with it, and bad files."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kymaprov.testing import Kymaprov, start_subprocess, stop_subprocess

README = Path(__file__).parents[1] / "README.md"


def readme_example() -> str:
    """The YAML block under "Start-up file" in the README, exactly as written."""
    section = README.read_text().split("## Start-up file", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", section, flags=re.S)
    assert match, "the README lost its --init example"
    return match.group(1)


# the README's example plus a subaccount with a central cis binding
INIT = (
    readme_example()
    + """  - subdomain: viewers
    cis:
      - name: central
        plan: central
        bindings:
          - name: central-key
            clientId: central-client
            clientSecret: central-secret-0123
"""
)


def token(server: Kymaprov, client_id: str, secret: str) -> str:
    r = httpx.post(
        f"{server.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def environments(server: Kymaprov) -> list[dict[str, Any]]:
    headers = {"authorization": f"Bearer {token(server, 'ci-client', 'ci-secret-0123')}"}
    r = httpx.get(f"{server.url}/provisioning/v1/environments", headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json()["environmentInstances"])


def row_counts(data_dir: Path) -> dict[str, int]:
    engine = sa.create_engine(f"sqlite:///{data_dir / 'kymaprov.db'}")
    with engine.connect() as conn:
        tables = [
            "subaccounts",
            "cis_instances",
            "cis_bindings",
            "oauth_clients",
            "environments",
            "operations",
        ]
        counts = {t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables}
    engine.dispose()
    return counts


def test_init_creates_fixed_credentials_and_an_environment_and_a_restart_changes_nothing(
    tmp_path: Path,
) -> None:
    init = tmp_path / "init.yaml"
    init.write_text(INIT)
    data_dir = tmp_path / "data"
    proc, server = start_subprocess(data_dir, extra_args=("--init", str(init)))
    try:
        envs = environments(server)
        assert [e["name"] for e in envs] == ["ci-runtime"]
        assert envs[0]["subaccountGUID"] == "6f1c3a52-0f55-4d0e-9a57-0c1b6f0e9d11"
        deadline = time.monotonic() + 30
        while environments(server)[0]["state"] != "OK":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        token(server, "central-client", "central-secret-0123")
    finally:
        stop_subprocess(proc)
    before = row_counts(data_dir)
    proc, server = start_subprocess(data_dir, extra_args=("--init", str(init)))
    try:
        assert [(e["id"], e["state"]) for e in environments(server)] == [(envs[0]["id"], "OK")]
    finally:
        stop_subprocess(proc)
    assert row_counts(data_dir) == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("subaccounts:\n  - subdomain: a\n    cis:\n      - name: c\n        bindings:\n          - name: b\n            clientId: x\n            clientSecrt: yyyyyyyy\n",
         "subaccounts[0].cis[0].bindings[0]: Additional properties are not allowed ('clientSecrt' was unexpected)"),
        ("subaccounts:\n  - subdomain: a\n    environments:\n      - name: r\n        plan: awz\n        region: x\n",
         "subaccounts[0].environments[0].plan: 'awz' is not one of"),
        ("subacounts: []\n", "top level: Additional properties are not allowed ('subacounts' was unexpected)"),
        ("subaccounts: [\n", "not valid YAML (line 2)"),
        ("subaccounts:\n  - subdomain: a\n    environments:\n      - name: r\n        plan: aws\n        region: mars-1\n",
         "subaccounts[0].environments[0]:"),
    ],
)  # fmt: skip
def test_a_bad_init_file_is_one_line_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    init = tmp_path / "init.yaml"
    init.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "kymaprov", "serve", "--port", "0", "--kube-port", "0",
         "--data-dir", str(tmp_path / "data"), "--init", str(init)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
