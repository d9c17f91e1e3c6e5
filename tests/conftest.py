"""Shared fixtures: a real ``kymaprov serve`` process on free ports, and clients for it.

The helpers themselves live in ``tests/support/server.py`` (the bench scripts use them too); they are
re-exported here for the test modules that import them from ``tests.conftest``.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.support.server import KUBECTL_DIR as KUBECTL_DIR
from tests.support.server import Api as Api
from tests.support.server import RunningServer as RunningServer
from tests.support.server import b64 as b64
from tests.support.server import free_port as free_port
from tests.support.server import kubeconfig_server as kubeconfig_server
from tests.support.server import kubectl_binary as kubectl_binary
from tests.support.server import new_api as new_api
from tests.support.server import run_kubectl as run_kubectl

POSTGRES_URL = os.environ.get("KYMAPROV_TEST_POSTGRES")
requires_postgres = pytest.mark.skipif(
    not POSTGRES_URL, reason="set KYMAPROV_TEST_POSTGRES to run against PostgreSQL"
)


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """The SQLAlchemy URL of a fresh database on the test PostgreSQL server, dropped afterwards."""
    import psycopg

    assert POSTGRES_URL
    name = f"kymaprov_{uuid.uuid4().hex[:12]}"
    admin = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{POSTGRES_URL}/{name}"
    drop_database(name)


def drop_database(name: str, server_url: str | None = POSTGRES_URL) -> None:
    """Drop a test database. FORCE ends the sessions still open; an autovacuum worker on it (a
    superuser's process) cannot be ended by the test role, but it finishes within moments: try again,
    and leave the database if not."""
    import psycopg

    assert server_url
    admin = server_url.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    for _ in range(20):
        try:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.errors.InsufficientPrivilege:
            time.sleep(0.5)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One kymaprov per test module; provisioning takes half a second."""
    base = tmp_path_factory.mktemp("kymaprov")
    srv = RunningServer(base / "data", free_port(), free_port(), provisioning_seconds=0.5).start()
    yield srv
    srv.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The chaos runs first: they keep one worker busy for minutes, so started last (as collected)
    they alone would decide when a parallel run ends."""
    items.sort(key=lambda item: item.path.name != "test_chaos.py")
