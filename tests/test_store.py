"""The store upgrades a database made by an older version: columns and indexes added since are added."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import kymaprov.provisioning.models  # noqa: F401 - declares kyma_bindings on the store's metadata
from kymaprov.store import Query, Store, settings
from tests.conftest import POSTGRES_URL


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.skipif(not POSTGRES_URL, reason="no PostgreSQL")),
    ]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    return str(request.getfixturevalue("postgres_database"))


def test_columns_added_since_are_added_to_an_old_database(url: str) -> None:
    store = Store(url)
    store.create_all()
    with store.engine.begin() as conn:  # as an older version made it: no binding state yet
        conn.exec_driver_sql("DROP INDEX ix_kyma_bindings_state")  # SQLite drops no indexed column
        conn.exec_driver_sql("ALTER TABLE kyma_bindings DROP COLUMN state")
        conn.exec_driver_sql("ALTER TABLE kyma_bindings DROP COLUMN state_since")
        conn.exec_driver_sql(
            "INSERT INTO kyma_bindings (id, environment_id, subaccount_id, expiration_seconds, created_by,"
            " created_ms, expires_ms, kubeconfig, cleaned) VALUES ('b1', 'e1', 's1', 600, 'me', 1, 2, 'x', false)"
        )
    store.dispose()

    upgraded = Store(url)
    upgraded.create_all()
    upgraded.create_all()  # and again: nothing left to add
    columns = {c["name"] for c in sa.inspect(upgraded.engine).get_columns("kyma_bindings")}
    assert {"state", "state_since"} <= columns
    with upgraded.read() as conn:
        row = conn.execute(sa.text("SELECT state, state_since FROM kyma_bindings WHERE id = 'b1'")).one()
    assert tuple(row) == ("READY", None)  # the old row is a finished binding
    upgraded.dispose()


def test_a_query_reads_what_sqlalchemy_reads(url: str) -> None:
    """``Store.query`` runs the statement on the driver's cursor: the values must be SQLAlchemy's own
    (JSON decoded, booleans as bool, NULLs), with the statement's own literals bound too."""
    from kymaprov.provisioning.models import kyma_bindings

    store = Store(url)
    store.create_all()
    base = {
        "environment_id": "e1",
        "subaccount_id": "s1",
        "expiration_seconds": 600,
        "created_by": None,
        "state": "READY",
        "state_since": None,
    }
    with store.write() as conn:
        conn.execute(
            sa.insert(kyma_bindings),
            [
                {**base, "id": "b1", "created_ms": 1, "expires_ms": 2**40, "kubeconfig": "k", "cleaned": True},
                {**base, "id": "b2", "created_ms": 2, "expires_ms": 3, "kubeconfig": "", "cleaned": False},
                {**base, "id": "b3", "created_ms": 3, "expires_ms": 3, "kubeconfig": "", "cleaned": False,
                 "state": "MAKING", "state_since": 1.5},
            ],
        )  # fmt: skip
        store.set_setting("a.json", {"list": [1, "x", None], "nested": {"t": True}}, conn)
    statement = (
        sa.select(kyma_bindings)
        .where(kyma_bindings.c.environment_id == sa.bindparam("env"), kyma_bindings.c.state == "READY")
        .order_by(kyma_bindings.c.created_ms)
    )
    with store.read() as conn:
        expected = [r._asdict() for r in conn.execute(statement, {"env": "e1"})]
    rows = store.query(Query(statement), {"env": "e1"})
    assert rows == expected and [r["id"] for r in rows] == ["b1", "b2"]
    assert rows[0]["cleaned"] is True and rows[1]["cleaned"] is False and rows[0]["created_by"] is None
    assert store.query(Query(statement), {"env": "nothing"}) == []
    assert store.get_setting("a.json") == {"list": [1, "x", None], "nested": {"t": True}}
    assert store.get_setting("missing", "default") == "default"
    store.dispose()


def test_json_columns_read_back_every_value_json_can_hold(url: str) -> None:
    """A client's parameters may hold an integer beyond 64 bits. It must read back exactly: orjson,
    tried here for speed, reads one as a float without a word (Store.query and SQLAlchemy alike)."""
    store = Store(url)
    store.create_all()
    values = {
        "small": {"n": 2**63 - 1, "f": 0.1, "s": "\u00e9\U0001f600", "l": [None, True, -0.0]},
        "big": {"n": 123456789012345678901234567890, "m": -(2**64)},
    }
    for key, value in values.items():
        store.set_setting(key, value)
    for key, value in values.items():
        assert store.get_setting(key) == value  # Store.query, the per-thread reader
        with store.read() as conn:  # SQLAlchemy's own execution
            row = conn.execute(sa.select(settings.c.value).where(settings.c.key == key)).one()
        assert row.value == value
    store.dispose()


def test_indexes_added_since_are_made_on_an_old_database(url: str) -> None:
    store = Store(url)
    store.create_all()
    with store.engine.begin() as conn:  # as an older version made it: no index for the worker's poll
        conn.exec_driver_sql("DROP INDEX ix_operations_state_due")
    store.dispose()

    upgraded = Store(url)
    upgraded.create_all()
    upgraded.create_all()  # and again: nothing left to add
    indexes = {i["name"]: i["column_names"] for i in sa.inspect(upgraded.engine).get_indexes("operations")}
    assert indexes["ix_operations_state_due"] == ["state", "due_ms"]
    upgraded.dispose()


def test_a_new_connection_keeps_the_process_locks_on_the_sqlite_file(tmp_path: Path) -> None:
    """Closing any descriptor of a database file drops every POSIX lock the process holds on it. A new
    connection must not do that: another process (a backup, ``sqlite3``, a checker) closing the database
    would then take itself for the last user, checkpoint and delete the WAL under the live server, and
    the server's next writes would corrupt the file (seen as "file is not a database" in a chaos run)."""
    import subprocess
    import sys

    from kymaprov.store import settings

    db = tmp_path / "live.db"
    store = Store(f"sqlite:///{db}")
    store.create_all()
    held = store.engine.raw_connection()  # a live connection: the process holds a shared lock
    held.cursor().execute("SELECT count(*) FROM settings").fetchall()
    store.set_setting("a", 1)
    newer = [store.engine.raw_connection() for _ in range(3)]  # new pool connections: set up afresh
    closing = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('SELECT 1 FROM settings'); c.close()"
    subprocess.run([sys.executable, "-c", closing, str(db)], check=True)
    assert Path(f"{db}-wal").exists(), "another process took the live database for unused and removed its WAL"
    with store.write() as conn:
        conn.execute(sa.insert(settings).values(key="b", value=2))
    check = "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])"
    assert (
        subprocess.run([sys.executable, "-c", check, str(db)], capture_output=True, text=True).stdout.strip()
        == "ok"
    )
    for raw in (held, *newer):
        raw.close()
    store.dispose()


def test_statements_in_a_transaction_on_the_driver_cursor(url: str) -> None:
    """``Query.fetch``/``execute`` run inside ``write()``'s transaction: they see its writes, a rollback
    undoes them, and a driver error is SQLAlchemy's (``IntegrityError``)."""
    from kymaprov.store import settings

    store = Store(url)
    store.create_all()
    insert = Query(sa.insert(settings).values(key=sa.bindparam("k"), value=sa.bindparam("v")))
    read = Query(sa.select(settings.c.value).where(settings.c.key == sa.bindparam("k")))
    with store.write() as conn:
        assert insert.execute(conn, {"k": "kept", "v": {"n": 1}}) == 1
        assert read.fetch(conn, {"k": "kept"}) == [{"value": {"n": 1}}]  # JSON bound and read back
    with pytest.raises(RuntimeError), store.write() as conn:
        insert.execute(conn, {"k": "undone", "v": 2})
        raise RuntimeError("roll back")
    with pytest.raises(sa.exc.IntegrityError), store.write() as conn:
        insert.execute(conn, {"k": "kept", "v": 3})
    assert store.get_setting("kept") == {"n": 1}
    assert store.get_setting("undone") is None
    store.dispose()


def test_rows_inserted_at_once_and_a_failing_after_commit_callback(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``Query.execute_many`` inserts every row in the transaction; a callback after the commit that
    raises is logged, the write still succeeds, and the callbacks after it still run."""
    from kymaprov.store import after_commit, settings

    store = Store(url)
    store.create_all()
    insert = Query.insert(settings)
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("a listener's bug")

    with store.write() as conn:
        insert.execute_many(conn, [{"key": f"k{i}", "value": i} for i in range(3)])
        after_commit(conn, broken)
        after_commit(conn, lambda: ran.append("later"))
    assert [store.get_setting(f"k{i}") for i in range(3)] == [0, 1, 2]
    assert ran == ["later"]
    assert "a callback after a commit failed" in caplog.text
    with pytest.raises(sa.exc.IntegrityError), store.write() as conn:
        insert.execute_many(conn, [{"key": "k3", "value": 3}, {"key": "k0", "value": 9}])
    assert store.get_setting("k3") is None  # the batch went with its transaction
    store.dispose()


@pytest.mark.skipif(not POSTGRES_URL, reason="no PostgreSQL")
def test_a_postgresql_reader_whose_connection_died_reads_again(postgres_database: str) -> None:
    """``Store.query``'s own PostgreSQL connection of a thread: a dead one (the server restarted, or
    ended it) costs a read from the pool, not an error, and the next query connects afresh."""
    import threading

    import psycopg

    from kymaprov import store as store_module

    store = Store(postgres_database)
    store.create_all()
    store.set_setting("a", 1)
    assert store.get_setting("a") == 1
    reader = store._reader()
    assert reader is not None
    pid = reader.conn.info.backend_pid
    with psycopg.connect(postgres_database.replace("postgresql+psycopg://", "postgresql://")) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert store.get_setting("a") == 1
    assert reader.closed
    assert store.get_setting("a") == 1
    assert store._reader() is not reader and store._reader().conn.info.backend_pid != pid  # type: ignore[union-attr]

    # beyond PG_READERS threads with a reader, the others read from the pool
    read: list[tuple[object, object]] = []
    release = threading.Event()

    def in_thread() -> None:
        read.append((store.get_setting("a"), store._reader()))
        release.wait(10)

    limit = store_module.PG_READERS
    threads = [threading.Thread(target=in_thread) for _ in range(limit)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(read) < limit and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for t in threads:
        t.join()
    assert [value for value, _ in read] == [1] * limit
    assert sum(reader is None for _, reader in read) == 1  # this thread's reader counts too
    store.dispose()


@pytest.mark.skipif(not POSTGRES_URL, reason="no PostgreSQL")
def test_a_pooled_connection_idle_for_a_while_is_checked_before_use(
    postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that sat in the pool is pinged and replaced if dead; one just checked in is not
    pinged, so a server restart within those seconds fails one statement, and the next works."""
    import psycopg

    from kymaprov import store as store_module

    def kill_pooled(store: Store) -> None:
        with store.write() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with psycopg.connect(postgres_database.replace("postgresql+psycopg://", "postgresql://")) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (pid,))

    store = Store(postgres_database)
    store.create_all()
    monkeypatch.setattr(store_module, "PING_AFTER_IDLE_SECONDS", 0.0)  # every check-out is pinged
    kill_pooled(store)
    with store.write() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    monkeypatch.setattr(store_module, "PING_AFTER_IDLE_SECONDS", 3600.0)  # none is
    kill_pooled(store)
    with pytest.raises(sa.exc.OperationalError), store.write() as conn:
        conn.exec_driver_sql("SELECT 1")
    with store.write() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    store.dispose()


@pytest.mark.skipif(not POSTGRES_URL, reason="no PostgreSQL")
def test_a_postgresql_snapshot_keeps_the_connections_prepared_statements(postgres_database: str) -> None:
    """A read that ended well ends with COMMIT, not ROLLBACK, after which psycopg drops every prepared
    statement of the connection; one that failed still rolls back, and the connection goes on."""
    store = Store(postgres_database)
    store.create_all()
    select = sa.select(settings.c.value).where(settings.c.key == "a")
    for _ in range(6):  # psycopg prepares a statement on its fifth run
        with store.read() as conn:
            conn.execute(select).all()
    with store.read() as conn:
        prepared = conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars().all()
    assert any("settings" in text for text in prepared), prepared
    with pytest.raises(sa.exc.ProgrammingError), store.read() as conn:
        conn.exec_driver_sql("SELECT * FROM no_such_table")
    with store.read() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    store.dispose()
