"""The runtime on PostgreSQL: two servers (replicas) on one database serve the same clusters.

Runs when ``KYMAPROV_TEST_POSTGRES`` names a server, as ``tests/test_postgres_replicas.py`` does.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from kymaprov.backends.base import ClusterAccess
from kymaprov.backends.embedded import EmbeddedRuntimes
from kymaprov.config import Settings
from kymaprov.context import Context
from kymaprov.kubeapi.objects import ObjectStore
from kymaprov.kubeapi.resources import lookup
from tests.conftest import requires_postgres
from tests.kubeapi.conftest import Kube, Kubectl, KubeServer, binding_token
from tests.kubeapi.test_watch_log import CM, Collector
from tests.support.server import free_port
from tests.support.wait import wait_for

pytestmark = requires_postgres


@pytest.fixture
def replicas(
    tmp_path: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[KubeServer, KubeServer]]:
    """Two servers on one database, sharing the master key as replicas do."""
    monkeypatch.setenv("KYMAPROV_SECRET_KEY", "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=")
    a = KubeServer(tmp_path / "a", postgres_database)
    b = KubeServer(tmp_path / "b", postgres_database)
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


def through(access: ClusterAccess, a: KubeServer, b: KubeServer, token: str | None = None) -> ClusterAccess:
    """``access`` (made on ``a``) pointed at replica ``b``'s listener, optionally with another token."""
    server = access.server.replace(str(a.kube_port), str(b.kube_port))
    return dataclasses.replace(access, server=server, token=token or access.token)


def test_two_servers_share_clusters_on_postgres(
    tmp_path: Path, replicas: tuple[KubeServer, KubeServer]
) -> None:
    a, b = replicas
    access = a.runtimes.create_cluster("pg-cluster", "pg")
    assert b.runtimes.create_cluster("pg-cluster", "pg").token == access.token
    admin = Kube(access)
    token = binding_token(admin)
    on_b = through(access, a, b, token)
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


def test_a_cluster_deleted_while_a_write_holds_its_row_waits_for_it(
    tmp_path: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write (a controller's Node Lease renewal) has locked the cluster's row and then updates one of
    its objects while the cluster is being deleted: the delete waits for it instead of deadlocking."""
    monkeypatch.setenv("KYMAPROV_SECRET_KEY", "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=")
    ctx = Context.open(
        Settings(data_dir=tmp_path, port=free_port(), kube_port=free_port(), database_url=postgres_database)
    )
    runtimes = EmbeddedRuntimes(ctx)
    namespaces = lookup("", "v1", "namespaces")
    assert namespaces is not None
    runtimes.create_cluster("pg-delete", "pg")
    locked = threading.Event()
    failures: list[BaseException] = []

    def delete() -> None:
        locked.wait()
        try:
            runtimes.delete_cluster("pg-delete")
        except BaseException as exc:
            failures.append(exc)

    deleter = threading.Thread(target=delete)
    deleter.start()
    try:
        with ctx.store.write() as conn:
            store = ObjectStore(conn, "pg-delete", ctx.clock.now(), ctx.sealer)
            store._lock()
            locked.set()
            _until_another_waits(ctx, conn)
            default = store.get(namespaces, "", "default")
            default["metadata"].setdefault("labels", {})["renewed"] = "yes"
            store.update(namespaces, "", "default", default)
    finally:
        deleter.join()
    assert not failures, failures
    assert runtimes.access("pg-delete") is None
    with ctx.store.read() as conn:
        left = conn.exec_driver_sql("SELECT count(*) FROM kube_objects WHERE cluster_id = 'pg-delete'")
        assert left.scalar() == 0
    ctx.store.dispose()


def _until_another_waits(ctx: Context, holder: sa.Connection) -> None:
    """Return once another session of the test database waits for a lock (the delete, queued behind
    ``holder``'s transaction)."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND pid <> :pid"
    )
    mine = holder.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with ctx.store.read() as conn:
            if conn.execute(query, {"pid": mine}).scalar():
                return
        time.sleep(0.02)
    raise AssertionError("the delete never waited for a lock")


def test_a_watch_on_one_replica_sees_writes_made_on_the_other(
    replicas: tuple[KubeServer, KubeServer],
) -> None:
    """Replica B's watchers hear of A's writes through B's shared poll, and read them from the log."""
    a, b = replicas
    access = a.runtimes.create_cluster("pg-watch", "pg")
    on_a = Kube(access)
    on_b = Kube(through(access, a, b))
    # the root CA ConfigMap is published shortly after the namespace: first, so the watch sees only ours
    wait_for(lambda: on_a.get(f"{CM}/kube-root-ca.crt").status_code == 200, "kube-root-ca.crt")
    on_a.create(CM, {"metadata": {"name": "before"}})
    listed = on_b.get(CM).json()["metadata"]["resourceVersion"]
    assert on_a.delete(f"{CM}/before").status_code == 200  # between B's list and B's watch
    with Collector(on_b, {"resourceVersion": listed}) as watcher:
        on_a.create(CM, {"metadata": {"name": "after"}, "data": {"secret": "no"}})
        events = watcher.wait_for(2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("DELETED", "before"),
        ("ADDED", "after"),
    ]
    on_a.close()
    on_b.close()


def test_controllers_act_once_across_replicas(replicas: tuple[KubeServer, KubeServer]) -> None:
    """Two replicas' controllers on one database: one holds the cluster's lease; a namespace deleted
    through either replica is emptied and goes, and an owner's dependent is collected."""
    a, b = replicas
    access = a.runtimes.create_cluster("pg-gc", "pg")
    on_a = Kube(access)
    on_b = Kube(through(access, a, b))
    owner = on_a.create(CM, {"metadata": {"name": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    on_a.create(CM, {"metadata": {"name": "dependent", "ownerReferences": [ref]}})
    on_a.create("/api/v1/namespaces", {"metadata": {"name": "team"}})
    on_a.create("/api/v1/namespaces/team/configmaps", {"metadata": {"name": "c"}})
    assert on_b.delete(f"{CM}/owner").status_code == 200
    assert on_b.delete("/api/v1/namespaces/team").status_code == 200
    deadline = time.monotonic() + 15
    while (
        on_a.get(f"{CM}/dependent").status_code != 404
        or on_a.get("/api/v1/namespaces/team").status_code != 404
    ):
        assert time.monotonic() < deadline, "the replicas' controllers did not finish"
        time.sleep(0.1)
    holders = [m for m in (a.controllers, b.controllers) if m._lease("pg-gc")]
    assert len(holders) == 1  # the lease holder renews; the other is refused
    on_a.close()
    on_b.close()
