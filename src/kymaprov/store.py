"""The one place state lives: SQLite by default, PostgreSQL when several replicas share it.

Every module declares its tables on :data:`metadata`; :class:`Store` creates them and hands out
transactions. ``write()`` transactions are serialised on SQLite (``BEGIN IMMEDIATE``) so that
check-then-insert sequences (the binding limit, operation leases) are race-free; on PostgreSQL the
same code takes row locks with ``SELECT ... FOR UPDATE``.

Nothing secret leaves through the store's errors: statements' parameters are left out of exceptions and
logs (``hide_parameters``), the database URL is only ever shown with its password masked
(``redact_url``), and the SQLite file and its ``-wal``/``-shm`` companions are readable by the owner only.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import PoolProxiedConnection

log = logging.getLogger("kymaprov.store")

metadata = sa.MetaData()

settings = sa.Table(
    "settings",
    metadata,
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("value", sa.JSON, nullable=False),
)


SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")
_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


_AFTER_COMMIT = "kymaprov.after_commit"
PG_READERS = 8  # threads with a PostgreSQL connection of their own for ``Store.query``


def after_commit(conn: Connection, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the ``write()`` transaction of ``conn`` has committed (never on rollback):
    what others are told of a write must be visible to them when they look. One that raises is logged;
    the write still succeeds and the later callbacks still run."""
    conn.info.setdefault(_AFTER_COMMIT, []).append(callback)


class Query:
    """A statement compiled once per database and run on the driver's cursor: a SELECT on its own
    (``Store.query``) or any statement inside a transaction (``fetch``, ``execute``).

    SQLAlchemy's execution (pooled ``Connection``, execution context, result objects) costs several
    times a small query itself: ~50 us against ~10 us on SQLite, and the hot GETs run two per request,
    every Kubernetes write six. The statement is still SQLAlchemy's, so the SQL, parameter style and
    type conversions are the dialect's, and a driver error is raised as SQLAlchemy's (``IntegrityError``
    and the rest). Rows are dicts of the selected columns' Python values (JSON decoded, booleans as
    bool).
    """

    def __init__(self, statement: sa.Executable) -> None:
        self.statement = statement
        self._plans: dict[tuple[str, str], _Plan] = {}

    @classmethod
    def insert(cls, table: sa.Table, columns: Iterable[str] | None = None) -> Query:
        """An INSERT of ``columns`` (all of the table's by default), each parameter named as its column."""
        names = [c.name for c in table.columns] if columns is None else list(columns)
        return cls(sa.insert(table).values({name: sa.bindparam(name) for name in names}))

    def fetch(self, conn: Connection, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The rows of this SELECT, read in ``conn``'s transaction."""
        plan = self.plan(conn.dialect)
        rows: list[dict[str, Any]] = _in_transaction(conn, plan, plan.arguments(params or {}), fetch=True)
        return rows

    def execute(self, conn: Connection, params: Mapping[str, Any] | None = None) -> int:
        """Run this INSERT, UPDATE or DELETE in ``conn``'s transaction; how many rows it touched."""
        plan = self.plan(conn.dialect)
        return int(_in_transaction(conn, plan, plan.arguments(params or {})))

    def execute_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run this INSERT once per row of ``rows`` in ``conn``'s transaction, as one ``executemany``
        (psycopg sends the rows in one pipeline instead of a round trip each)."""
        plan = self.plan(conn.dialect)
        _in_transaction(conn, plan, [plan.arguments(row) for row in rows], many=True)

    def plan(self, dialect: Dialect) -> _Plan:
        key = (dialect.name, dialect.driver)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = _Plan(self.statement, dialect)
        return plan


class _Plan:
    """One ``Query`` compiled for one dialect."""

    def __init__(self, statement: sa.Executable, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        self.sql = compiled.string
        self._positions = tuple(compiled.positiontup or ()) if compiled.positional else None
        binds = compiled.bind_names  # each parameter and its name in the SQL
        # the statement's own values (``state == 'READY'``); the caller gives the ``bindparam``s
        self._defaults = {name: b.value for b, name in binds.items() if not b.required}
        self._binds = [
            (name, process)
            for b, name in binds.items()
            if (process := b.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        ]
        self._dialect = dialect
        self._columns = list(getattr(statement, "selected_columns", ()))
        self._names = tuple(str(c.key) for c in self._columns)
        self._results: list[tuple[str, Callable[[Any], Any]]] | None = None

    def arguments(self, params: Mapping[str, Any]) -> Any:
        values = {**self._defaults, **params}
        for name, process in self._binds:
            values[name] = process(values[name])
        return values if self._positions is None else tuple(values[name] for name in self._positions)

    def rows(self, cursor: Any) -> list[dict[str, Any]]:
        """The cursor's rows as dicts of Python values."""
        found = cursor.fetchall()
        results = self._results
        if results is None:  # the driver's column types are known once the statement ran
            results = []
            dialect = self._dialect
            # only this once: psycopg builds ``description`` anew on each access (~30 us for 25 columns)
            described_columns = cursor.description
            for name, column, described in zip(self._names, self._columns, described_columns, strict=True):
                process = column.type.dialect_impl(dialect).result_processor(dialect, described[1])
                if process is not None:
                    results.append((name, process))
            self._results = results
        rows = [dict(zip(self._names, values, strict=True)) for values in found]
        for name, convert in results:
            for row in rows:
                row[name] = convert(row[name])
        return rows


class StoreError(Exception):
    """The database cannot be opened; the message names it without its password."""


def redact_url(url: str) -> str:
    """``url`` with its password masked, for banners, logs and errors."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # not parseable: mask what looks like ``user:password@``
        return _URL_PASSWORD.sub(r"\1***@", url)


def url_password(url: str) -> str | None:
    """The URL's password as the driver gets it (percent-decoded), if any."""
    try:
        password = make_url(url).password
    except (ArgumentError, ValueError):
        found = _URL_PASSWORD.search(url)
        return found.group(0)[len(found.group(1)) : -1] if found else None
    return None if password is None else str(password)


def _restrict_sqlite_files(database: str, create: bool = True) -> None:
    """Owner-only modes: create the file 0600 before SQLite does, tighten it and existing companions.

    SQLite creates ``-wal`` and ``-shm`` with the database file's mode, so a 0600 file keeps them 0600.
    The file is opened (to create it) only before the engine's first connection: closing any descriptor
    of the file drops every POSIX lock this process holds on it, SQLite's included, and another process
    could then write under a live transaction and corrupt the database.
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    if create:
        os.close(os.open(database, os.O_RDWR | os.O_CREAT, 0o600))
    for suffix in SQLITE_COMPANIONS:
        path = database + suffix
        if os.path.exists(path) and os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o600)


_SETTING = Query(sa.select(settings.c.value).where(settings.c.key == sa.bindparam("key")))


class Store:
    """A SQLAlchemy engine plus the transaction discipline the domain relies on."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        try:
            self.engine: Engine = self._make_engine(url)
        except Exception as exc:  # a malformed URL: SQLAlchemy's message quotes it whole
            raise StoreError(_scrub(f"cannot use database {redact_url(url)}: {exc}", url)) from None
        self._lock = threading.RLock()
        self._local = threading.local()
        self._readers: weakref.WeakSet[_Reader] = weakref.WeakSet()  # every thread's, for dispose()

    @property
    def safe_url(self) -> str:
        return redact_url(self.url)

    def _make_engine(self, url: str) -> Engine:
        if not self.is_sqlite:
            server = sa.create_engine(url, pool_size=20, max_overflow=20, hide_parameters=True)
            _ping_when_idle(server)
            return server
        database = make_url(url).database or ""
        _restrict_sqlite_files(database)
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=20,
            max_overflow=20,
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            _restrict_sqlite_files(database, create=False)  # SQLite's own locks stay
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine

    def create_all(self) -> None:
        """Create missing tables; schema changes are additive only. The first connection: an
        unreachable database is a ``StoreError`` without the password."""
        with self._lock:
            try:
                metadata.create_all(self.engine)
                self._add_missing_columns()
                self._add_missing_indexes()
            except sa.exc.OperationalError as exc:
                message = f"cannot connect to database {self.safe_url}: {exc.orig or exc}"
                raise StoreError(_scrub(message, self.url)) from None

    def _add_missing_columns(self) -> None:
        """A database made by an older version lacks the columns added since; add them.

        Only additive changes are made, so a new column is nullable or has a server default: adding it
        is all a migration needs. Replicas starting together may race; the loser's ``ALTER`` fails and
        the column is there all the same.
        """
        inspector = sa.inspect(self.engine)
        for table in metadata.sorted_tables:
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                ddl = sa.schema.CreateColumn(column).compile(dialect=self.engine.dialect)
                try:
                    with self.engine.begin() as conn:
                        conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {ddl}")
                except sa.exc.DBAPIError:
                    if column.name not in {
                        c["name"] for c in sa.inspect(self.engine).get_columns(table.name)
                    }:
                        raise

    def _add_missing_indexes(self) -> None:
        """``create_all`` makes a table's indexes only with the table: add those declared since. As with
        columns, a replica that loses the race finds the index made by the other."""
        inspector = sa.inspect(self.engine)
        for table in metadata.sorted_tables:
            present = {i["name"] for i in inspector.get_indexes(table.name)}
            for index in table.indexes:
                if index.name in present:
                    continue
                try:
                    index.create(self.engine)
                except sa.exc.DBAPIError:
                    if index.name not in {i["name"] for i in sa.inspect(self.engine).get_indexes(table.name)}:
                        raise

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction; serialised against other writers on SQLite."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                _driver_sql(conn, "BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.invalidated:  # the connection died: its callbacks went with it
                    conn.rollback()  # SQLAlchemy's own state; nothing is sent
                    raise
                conn.info.pop(_AFTER_COMMIT, None)
                if self.is_sqlite:
                    _driver_sql(conn, "ROLLBACK")
                else:
                    conn.rollback()
                raise
            callbacks = conn.info.pop(_AFTER_COMMIT, [])
            if self.is_sqlite:
                _driver_sql(conn, "COMMIT")
            else:
                conn.commit()
            for callback in callbacks:
                try:
                    callback()
                except Exception:  # the write committed: the caller must hear so, and the others run
                    log.exception("a callback after a commit failed")

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only snapshot (no write lock on SQLite).

        On PostgreSQL a snapshot that read without error ends with COMMIT, which for a transaction that
        wrote nothing is a ROLLBACK's equal: psycopg answers every ROLLBACK by dropping the connection's
        prepared statements (``DEALLOCATE ALL``, a round trip more), and each is parsed afresh until
        used five times again; reads ended so ~50 times per new runtime."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                _driver_sql(conn, "BEGIN")
            try:
                yield conn
            except BaseException:
                if self.is_sqlite and not conn.invalidated:
                    _driver_sql(conn, "ROLLBACK")
                else:
                    conn.rollback()
                raise
            if self.is_sqlite:
                _driver_sql(conn, "ROLLBACK")
            else:
                conn.commit()

    def query(self, query: Query, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The rows of one read-only ``Query``. One statement is atomic by itself: no BEGIN and ROLLBACK
        as ``read()`` spends on one snapshot for several."""
        plan = query.plan(self.engine.dialect)
        args = plan.arguments(params or {})
        dialect = self.engine.dialect
        reader = self._reader()
        if reader is not None:
            try:
                return reader.run(plan, args)
            except dialect.loaded_dbapi.Error as exc:
                if self.is_sqlite:
                    raise _as_sqlalchemy(exc, plan.sql, dialect, False) from exc
                # e.g. the server restarted: read again from the pool below (its check-out pings a
                # connection idle for a while), and this thread connects afresh next time
                reader.close()
        conn = self._raw_connection()  # back to the pool on close, rolled back there
        try:
            return _run(conn, plan, args)
        except dialect.loaded_dbapi.Error as exc:
            gone = dialect.is_disconnect(exc, conn.driver_connection, None)
            if gone:  # not back into the pool
                conn.invalidate(exc)
            raise _as_sqlalchemy(exc, plan.sql, dialect, gone) from exc
        finally:
            conn.close()

    def _reader(self) -> _Reader | None:
        """This thread's own connection for ``query``, in autocommit mode, so it holds no snapshot
        between queries: a pool check-out costs as much as a small query on SQLite, and on PostgreSQL
        it adds the pre-ping's round trip, and BEGIN's and the rollback's on return, to the query's
        one. PostgreSQL's are limited to ``PG_READERS`` per process (each is a server process; the
        others' queries use the pool) and are dropped on any error."""
        reader: _Reader | None = getattr(self._local, "reader", None)
        if reader is not None and not reader.closed:
            return reader
        with self._lock:
            if not self.is_sqlite and sum(1 for r in list(self._readers) if not r.closed) >= PG_READERS:
                return None
            pooled = self._raw_connection()  # made (and set up) as every connection is
            pooled.detach()  # then this thread's alone; closed with the thread, or by dispose()
            if not self.is_sqlite:
                pooled.dbapi_connection.autocommit = True  # type: ignore[union-attr]
            reader = self._local.reader = _Reader(pooled.dbapi_connection)
            self._readers.add(reader)
        return reader

    def _raw_connection(self) -> PoolProxiedConnection:
        """A pooled driver connection. A failure to connect is raised as SQLAlchemy's, as ``connect()``
        raises it (``raw_connection()`` passes the driver's own through)."""
        try:
            return self.engine.raw_connection()
        except self.engine.dialect.loaded_dbapi.Error as exc:
            raise _as_sqlalchemy(exc, None, self.engine.dialect, True) from exc

    def get_setting(self, key: str, default: Any = None) -> Any:
        rows = self.query(_SETTING, {"key": key})
        return rows[0]["value"] if rows else default

    def set_setting(self, key: str, value: Any, conn: Connection | None = None) -> None:
        if conn is None:
            with self.write() as c:
                self.set_setting(key, value, c)
            return
        updated = conn.execute(sa.update(settings).where(settings.c.key == key).values(value=value))
        if updated.rowcount == 0:
            conn.execute(sa.insert(settings).values(key=key, value=value))

    def dispose(self) -> None:
        for reader in list(self._readers):
            reader.close()
        self.engine.dispose()


class _Reader:
    """A thread's connection for ``Store.query``; closed when the thread ends (with its locals). It
    keeps one cursor: making and closing one per query cost ~8 us of psycopg's ~45 us."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.cursor = conn.cursor()
        self.closed = False

    def run(self, plan: _Plan, args: Any) -> list[dict[str, Any]]:
        self.cursor.execute(plan.sql, args)
        return plan.rows(self.cursor)

    def close(self) -> None:
        self.closed = True
        self.conn.close()

    def __del__(self) -> None:
        self.conn.close()


PING_AFTER_IDLE_SECONDS = 5.0
_IDLE_SINCE = "kymaprov.idle_since"


def _ping_when_idle(engine: Engine) -> None:
    """``pool_pre_ping`` for connections that sat in the pool ``PING_AFTER_IDLE_SECONDS`` or more: a
    ``SELECT 1`` round trip before handing one out, a fresh connection if it fails (the server
    restarted, a proxy dropped it). Pinging every check-out cost a round trip per transaction (~100 per
    new runtime, ~0.15 ms of CPU each); one checked in moments ago was alive then, and should the server
    restart within those seconds, the one statement that meets the dead connection fails, and
    SQLAlchemy discards the pool's connections older than it."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is not None and time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise sa.exc.DisconnectionError(f"connection lost: {type(exc).__name__}") from exc


def _run(conn: Any, plan: _Plan, args: Any) -> list[dict[str, Any]]:
    cursor = conn.cursor()
    try:
        cursor.execute(plan.sql, args)
        return plan.rows(cursor)
    finally:
        cursor.close()


def _in_transaction(conn: Connection, plan: _Plan, args: Any, fetch: bool = False, many: bool = False) -> Any:
    """Run ``plan`` with ``args`` on the driver connection under ``conn``, inside ``conn``'s transaction
    (once per item of ``args`` if ``many``); its rows if ``fetch``, else the row count."""
    if not conn.in_transaction():  # SQLAlchemy's own, so that its commit or rollback ends this too
        conn.begin()
    return _on_driver(conn, plan.sql, args, plan if fetch else None, many)


def _driver_sql(conn: Connection, sql: str) -> None:
    """SQLite's BEGIN, COMMIT or ROLLBACK on the driver connection: through ``exec_driver_sql`` each
    cost ~50 us of SQLAlchemy's execution machinery, three times per write. SQLAlchemy's SQLite
    dialect sends nothing to begin or end its own transactions (``_on_connect`` put the driver in
    autocommit mode), so these are the only ones."""
    _on_driver(conn, sql, (), None)


def _on_driver(conn: Connection, sql: str, args: Any, rows_of: _Plan | None, many: bool = False) -> Any:
    """Execute on ``conn``'s driver connection (once per item of ``args`` if ``many``); the rows
    (``rows_of``'s) or the row count. A driver error is raised as SQLAlchemy raises it
    (``IntegrityError``, ``OperationalError``, ...)."""
    driver = conn.connection.driver_connection
    cursor = driver.cursor()  # type: ignore[union-attr]
    dialect = conn.dialect
    try:
        if many:
            cursor.executemany(sql, args)
            return cursor.rowcount
        cursor.execute(sql, args)
        return rows_of.rows(cursor) if rows_of else cursor.rowcount
    except dialect.loaded_dbapi.Error as exc:
        gone = dialect.is_disconnect(exc, driver, cursor)
        if gone:
            conn.invalidate(exc)
        raise _as_sqlalchemy(exc, sql, dialect, gone) from exc
    finally:
        cursor.close()


def _as_sqlalchemy(exc: Exception, sql: str | None, dialect: Dialect, gone: bool) -> sa.exc.StatementError:
    """A driver error as SQLAlchemy raises it (``IntegrityError``, ``OperationalError``, ...), so that
    callers and the HTTP layers catch one kind whichever path ran the statement. Parameters hidden."""
    return sa.exc.DBAPIError.instance(
        sql,
        None,
        exc,
        dialect.loaded_dbapi.Error,
        hide_parameters=True,
        connection_invalidated=gone,
        dialect=dialect,
    )


def _scrub(message: str, url: str) -> str:
    """``message`` with the URL's password masked wherever a driver or SQLAlchemy quoted it."""
    password = url_password(url)
    message = _URL_PASSWORD.sub(r"\1***@", message.replace(url, redact_url(url)))
    return message.replace(password, "***") if password and len(password) >= 4 else message
