"""CLI-server sessions: what ``X-Cpcli-Sessionid`` names after a login.

Only a fingerprint of the session id is stored, so a copy of the database does not hand out sessions.
A session ends on logout, after ``SESSION_SECONDS`` of the service clock without use, or on
``POST /admin/reset`` (the first start had none).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from kymaprov.context import Context
from kymaprov.crypto import fingerprint, random_token
from kymaprov.store import metadata

SESSION_SECONDS = 12 * 3600

cli_sessions = sa.Table(
    "cli_sessions",
    metadata,
    sa.Column("id_hash", sa.String(128), primary_key=True),
    sa.Column("username", sa.String(255), nullable=False),
    sa.Column("global_account_id", sa.String(64), nullable=False),
    sa.Column("subdomain", sa.String(255), nullable=False),
    sa.Column("identity_provider", sa.String(255), nullable=False),
    sa.Column("last_used_ms", sa.BigInteger, nullable=False),
)


@dataclass(frozen=True)
class Session:
    username: str
    global_account_id: str
    subdomain: str
    identity_provider: str


class SessionStore:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def reset(self) -> None:
        """End every session (``POST /admin/reset``)."""
        with self._ctx.store.write() as conn:
            conn.execute(sa.delete(cli_sessions))

    def open(self, session: Session) -> str:
        """A new session id for ``session``; only its fingerprint is kept."""
        session_id = random_token(32)
        now = self._ctx.clock.now_ms()
        with self._ctx.store.write() as conn:
            # sessions nobody logged out of go when they would have expired
            idle = cli_sessions.c.last_used_ms < now - SESSION_SECONDS * 1000
            conn.execute(sa.delete(cli_sessions).where(idle))
            conn.execute(
                sa.insert(cli_sessions).values(
                    id_hash=fingerprint(session_id),
                    username=session.username,
                    global_account_id=session.global_account_id,
                    subdomain=session.subdomain,
                    identity_provider=session.identity_provider,
                    last_used_ms=now,
                )
            )
        return session_id

    def find(self, session_id: str) -> Session | None:
        """The live session with this id (its idle time starts again), else None."""
        now = self._ctx.clock.now_ms()
        key = fingerprint(session_id)
        with self._ctx.store.write() as conn:
            row = conn.execute(sa.select(cli_sessions).where(cli_sessions.c.id_hash == key)).first()
            if row is None:
                return None
            if now - row.last_used_ms > SESSION_SECONDS * 1000:
                conn.execute(sa.delete(cli_sessions).where(cli_sessions.c.id_hash == key))
                return None
            mine = cli_sessions.c.id_hash == key
            conn.execute(sa.update(cli_sessions).where(mine).values(last_used_ms=now))
        return Session(row.username, row.global_account_id, row.subdomain, row.identity_provider)

    def close(self, session_id: str) -> bool:
        with self._ctx.store.write() as conn:
            mine = cli_sessions.c.id_hash == fingerprint(session_id)
            deleted = conn.execute(sa.delete(cli_sessions).where(mine))
        return bool(deleted.rowcount)
