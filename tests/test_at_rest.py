"""At rest and in the process list: owner-only files, no SQL parameters in errors, no database password.

Real ``kymaprov serve`` processes; PostgreSQL cases run when ``KYMAPROV_TEST_POSTGRES`` is set.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from kymaprov.store import Store, metadata, settings
from tests.conftest import POSTGRES_URL, RunningServer, free_port, requires_postgres


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_files_are_owner_only_after_a_real_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = RunningServer(data, free_port(), free_port(), provisioning_seconds=0).start()
    try:
        srv.platform_token()  # a write or two, so the WAL exists
        files = {p.name: mode(p) for p in data.iterdir()}
    finally:
        srv.stop()
    assert mode(data) == 0o700
    assert {"kymaprov.db", "kymaprov.db-wal", "kymaprov.db-shm", "master.key", "local-login.json"} <= set(
        files
    )
    assert {name: m for name, m in files.items() if m != 0o600} == {}  # before: kymaprov.db* were 0644


def test_an_existing_readable_database_is_tightened_on_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = RunningServer(data, free_port(), free_port(), provisioning_seconds=0).start()
    srv.stop()
    for path in data.glob("kymaprov.db*"):
        path.chmod(0o644)
    srv = RunningServer(data, free_port(), free_port(), provisioning_seconds=0).start()
    try:
        assert {p.name: mode(p) for p in data.glob("kymaprov.db*")} == dict.fromkeys(
            [p.name for p in data.glob("kymaprov.db*")], 0o600
        )
    finally:
        srv.stop()


def failing_statement(store: Store, secret: str) -> str:
    """Insert a duplicate key whose value is a secret; return the error's text."""
    store.create_all()
    with store.write() as conn:
        conn.execute(sa.insert(settings).values(key="dup", value={"v": 1}))
    with pytest.raises(sa.exc.IntegrityError) as caught, store.write() as conn:
        conn.execute(sa.insert(settings).values(key="dup", value={"sealed": secret}))
    return str(caught.value)


def test_a_failed_statement_does_not_show_its_parameters(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        text = failing_statement(store, "s3cret-parameter-value")
    finally:
        store.dispose()
    assert "UNIQUE constraint failed" in text or "unique" in text.lower()
    assert "s3cret-parameter-value" not in text  # before: "[parameters: ('dup', '{"sealed": ...}')]"
    assert "parameters hidden" in text


@requires_postgres
def test_a_failed_statement_on_postgres_does_not_show_its_parameters(postgres_database: str) -> None:
    store = Store(postgres_database)
    try:
        text = failing_statement(store, "s3cret-parameter-value")
    finally:
        metadata.drop_all(store.engine)
        store.dispose()
    assert "duplicate key" in text and "s3cret-parameter-value" not in text


def serve(data: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KYMAPROV_")}
    cmd = [sys.executable, "-m", "kymaprov", "serve", "--data-dir", str(data), "--port", str(free_port())]
    cmd += ["--kube-port", str(free_port()), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={**base, **(env or {})})


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://kymaprov:Unreachable-Pw-4242@127.0.0.1:{port}/kymaprov",
        "postgresql+psycopg://kymaprov:Unreachable-Pw-4242@127.0.0.1:notaport/kymaprov",
    ],
)
def test_a_database_that_cannot_be_opened_is_named_without_its_password(tmp_path: Path, url: str) -> None:
    url = url.format(port=free_port())
    for result in (
        serve(tmp_path / "a", "--database-url", url),
        serve(tmp_path / "b", env={"KYMAPROV_DATABASE_URL": url}),
    ):
        assert result.returncode == 1, result.stderr
        output = result.stdout + result.stderr
        assert "Unreachable-Pw-4242" not in output
        assert "kymaprov:***@127.0.0.1" in output and "Traceback" not in output  # before: a traceback


@requires_postgres
def test_a_database_password_never_shows_in_the_log_or_process_list(
    tmp_path: Path, postgres_database: str
) -> None:
    """The test server's password is the user name, so the URL spells it percent-encoded: that text is
    what a verbatim copy of the URL would show."""
    assert POSTGRES_URL and "kymaprov:kymaprov@" in postgres_database
    encoded = "%6B%79%6D%61%70%72%6F%76"
    url = postgres_database.replace("kymaprov:kymaprov@", f"kymaprov:{encoded}@")
    srv = RunningServer(tmp_path / "data", free_port(), free_port(), provisioning_seconds=0, database_url=url)
    srv.start()
    try:
        assert srv.proc is not None
        cmdline = Path(f"/proc/{srv.proc.pid}/cmdline").read_bytes().decode()
        srv.platform_token()
    finally:
        srv.stop()
    log = srv.log()
    assert "database postgresql+psycopg://kymaprov:***@" in log
    assert "KYMAPROV_DATABASE_URL" in log  # the warning to pass it in the environment instead
    assert encoded not in log and encoded not in cmdline  # before: in the process list for the whole run
    assert "kymaprov:***@" in cmdline
