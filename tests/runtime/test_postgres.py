"""The runtime on PostgreSQL: two servers (replicas) on one database serve the same clusters.

Runs when ``KYMAPROV_TEST_POSTGRES`` names a server, as ``tests/test_postgres_replicas.py`` does.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.runtime.conftest import Kube, Kubectl, KubeServer, binding_token

PG = os.environ.get("KYMAPROV_TEST_POSTGRES")
pytestmark = pytest.mark.skipif(not PG, reason="set KYMAPROV_TEST_POSTGRES to run against PostgreSQL")


@pytest.fixture
def database() -> Iterator[str]:
    import psycopg

    assert PG
    name = f"kymaprov_rt_{uuid.uuid4().hex[:12]}"
    admin = PG.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{PG}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_two_servers_share_clusters_on_postgres(
    tmp_path: Path, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KYMAPROV_SECRET_KEY", "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=")
    a = KubeServer(tmp_path / "a", database)
    b = KubeServer(tmp_path / "b", database)
    try:
        access = a.runtimes.create_cluster("pg-cluster", "pg")
        assert b.runtimes.create_cluster("pg-cluster", "pg").token == access.token
        admin = Kube(access)
        token = binding_token(admin)
        on_b = access.__class__(
            access.server.replace(str(a.kube_port), str(b.kube_port)),
            access.ca_data,
            token,
            access.tls_server_name,
        )
        with ThreadPoolExecutor(8) as pool:  # concurrent writers get distinct resourceVersions
            created = list(
                pool.map(
                    lambda i: admin.create(
                        "/api/v1/namespaces/default/configmaps", {"metadata": {"name": f"cm{i}"}}
                    ),
                    range(16),
                )
            )
        versions = {c["metadata"]["resourceVersion"] for c in created}
        assert len(versions) == 16
        result = Kubectl(tmp_path, on_b)("get", "configmaps")
        assert result.returncode == 0, result.stderr
        assert "cm15" in result.stdout
        b.runtimes.delete_cluster("pg-cluster")
        assert admin.get("/api/v1/namespaces").status_code == 401
    finally:
        a.stop()
        b.stop()
