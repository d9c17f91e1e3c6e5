"""The one place state lives: SQLite by default, PostgreSQL when several replicas share it.

Every module declares its tables on :data:`metadata`; :class:`Store` creates them and hands out
transactions. ``write()`` transactions are serialised on SQLite (``BEGIN IMMEDIATE``) so that
check-then-insert sequences (the binding limit, operation leases) are race-free; on PostgreSQL the
same code takes row locks with ``SELECT ... FOR UPDATE``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

metadata = sa.MetaData()

settings = sa.Table(
    "settings",
    metadata,
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("value", sa.JSON, nullable=False),
)


class Store:
    """A SQLAlchemy engine plus the transaction discipline the domain relies on."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine: Engine = self._make_engine(url)
        self._lock = threading.RLock()

    def _make_engine(self, url: str) -> Engine:
        if not self.is_sqlite:
            return sa.create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=20)
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=20,
            max_overflow=20,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine

    def create_all(self) -> None:
        """Create missing tables; schema changes are additive only."""
        with self._lock:
            metadata.create_all(self.engine)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction; serialised against other writers on SQLite."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if self.is_sqlite:
                    conn.exec_driver_sql("ROLLBACK")
                else:
                    conn.rollback()
                raise
            if self.is_sqlite:
                conn.exec_driver_sql("COMMIT")
            else:
                conn.commit()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only snapshot (no write lock on SQLite)."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.exec_driver_sql("BEGIN")
            try:
                yield conn
            finally:
                if self.is_sqlite:
                    conn.exec_driver_sql("ROLLBACK")
                else:
                    conn.rollback()

    def get_setting(self, key: str, default: Any = None) -> Any:
        with self.read() as conn:
            row = conn.execute(sa.select(settings.c.value).where(settings.c.key == key)).first()
        return default if row is None else row[0]

    def set_setting(self, key: str, value: Any, conn: Connection | None = None) -> None:
        if conn is None:
            with self.write() as c:
                self.set_setting(key, value, c)
            return
        updated = conn.execute(sa.update(settings).where(settings.c.key == key).values(value=value))
        if updated.rowcount == 0:
            conn.execute(sa.insert(settings).values(key=key, value=value))

    def dispose(self) -> None:
        self.engine.dispose()
