"""Accounts domain: the tenancy every other service is scoped by.

The first start creates a default global account, subaccount and platform user, and writes their
login (a random password and the admin token) to ``<data-dir>/local-login.json`` with mode 0600, so
``btp`` on the same machine works without ``btp login``. Only hashes are kept in the store.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import os
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from kymaprov.context import Context
from kymaprov.crypto import fingerprint, hash_secret, random_token, verify_secret
from kymaprov.errors import MessageError
from kymaprov.paths import LOGIN_FILE
from kymaprov.store import metadata

global_accounts = sa.Table(
    "global_accounts",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("display_name", sa.String(255), nullable=False),
    sa.Column("subdomain", sa.String(255), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

subaccounts = sa.Table(
    "subaccounts",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("global_account_id", sa.String(64), nullable=False, index=True),
    sa.Column("display_name", sa.String(255), nullable=False),
    sa.Column("subdomain", sa.String(255), nullable=False, unique=True),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("username", sa.String(255), primary_key=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("global_account_id", sa.String(64), nullable=False),
    sa.Column("default_subaccount_id", sa.String(64), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

DEFAULT_USER = "admin@kymaprov.local"
_ADMIN_TOKEN_KEY = "admin.token_fingerprint"
# the scrypt hash of a random password nobody knows: what an unknown user's password is checked against
UNKNOWN_USER_HASH = (
    "scrypt$2wv9Y+6l9vm5WDuq4ZDang==$"
    "wM/8OIgl0pCa0RP4+5u/6y2fovUnan8h6nMiBAvpvjfS1hkLLcRONuIzCna9386MCPytWhgnvflWvjG+7skkdw=="
)


class AccountError(MessageError):
    """A request about accounts that cannot be honoured (unknown id, duplicate subdomain): a 400."""


@dataclass(frozen=True)
class Subaccount:
    id: str
    global_account_id: str
    display_name: str
    subdomain: str
    region: str
    created_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "guid": self.id,
            "parentGUID": self.global_account_id,
            "globalAccountGUID": self.global_account_id,
            "displayName": self.display_name,
            "subdomain": self.subdomain,
            "region": self.region,
            "state": "OK",
            "createdDate": self.created_ms,
        }


@dataclass(frozen=True)
class GlobalAccount:
    id: str
    display_name: str
    subdomain: str
    created_ms: int


@dataclass(frozen=True)
class User:
    username: str
    global_account_id: str
    default_subaccount_id: str


def ensure_defaults(ctx: Context) -> dict[str, Any] | None:
    """Create the default tenancy on first start; return the login written for it, else None."""
    with ctx.store.write() as conn:
        if conn.execute(sa.select(users.c.username).limit(1)).first() is not None:
            return None
        now = ctx.clock.now_ms()
        ga_id = str(uuid.uuid4())
        sa_id = str(uuid.uuid4())
        password = random_token(18)
        admin_token = ctx.settings.admin_token or random_token(32)
        conn.execute(
            sa.insert(global_accounts).values(
                id=ga_id, display_name="kymaprov", subdomain="kymaprov-ga", created_ms=now
            )
        )
        conn.execute(
            sa.insert(subaccounts).values(
                id=sa_id,
                global_account_id=ga_id,
                display_name="default",
                subdomain="default",
                region="eu10",
                created_ms=now,
            )
        )
        conn.execute(
            sa.insert(users).values(
                username=DEFAULT_USER,
                password_hash=hash_secret(password),
                global_account_id=ga_id,
                default_subaccount_id=sa_id,
                created_ms=now,
            )
        )
        ctx.store.set_setting(_ADMIN_TOKEN_KEY, fingerprint(admin_token), conn)
    login = {
        "url": ctx.settings.base_url,
        "user": DEFAULT_USER,
        "password": password,
        "globalAccount": ga_id,
        "subaccount": sa_id,
        "adminToken": admin_token,
    }
    write_login_file(str(ctx.settings.data_dir / LOGIN_FILE), login)
    return login


def write_login_file(path: str, login: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(login, fh, indent=2)


def check_admin_token(ctx: Context, token: str) -> bool:
    expected = ctx.store.get_setting(_ADMIN_TOKEN_KEY)
    return bool(expected) and hmac.compare_digest(fingerprint(token).encode(), expected.encode())


def authenticate_user(ctx: Context, username: str, password: str) -> User | None:
    """The user if the password is right. An unknown user costs the same scrypt verification as a
    wrong password (against a fixed hash), so the answer's timing does not tell which users exist."""
    row = None
    if "\x00" not in username:  # no user has one, and PostgreSQL refuses it as a parameter
        with ctx.store.read() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    if row is None:
        verify_secret(password, UNKNOWN_USER_HASH)
        return None
    if not verify_secret(password, row.password_hash):
        return None
    return User(row.username, row.global_account_id, row.default_subaccount_id)


def get_user(ctx: Context, username: str) -> User | None:
    with ctx.store.read() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    return None if row is None else User(row.username, row.global_account_id, row.default_subaccount_id)


def find_global_account(
    ctx: Context, *, subdomain: str | None = None, global_account_id: str | None = None
) -> GlobalAccount | None:
    """The global account with this subdomain (what ``btp login`` names) or id; None if there is none."""
    if "\x00" in (subdomain or "") + (global_account_id or ""):  # PostgreSQL refuses it as a parameter
        return None
    query = sa.select(global_accounts)
    if subdomain is not None:
        query = query.where(global_accounts.c.subdomain == subdomain)
    if global_account_id is not None:
        query = query.where(global_accounts.c.id == global_account_id)
    with ctx.store.read() as conn:
        row = conn.execute(query.limit(1)).first()
    return None if row is None else GlobalAccount(row.id, row.display_name, row.subdomain, row.created_ms)


def _subaccount(row: Any) -> Subaccount:
    return Subaccount(
        row.id, row.global_account_id, row.display_name, row.subdomain, row.region, row.created_ms
    )


def get_subaccount(ctx: Context, subaccount_id: str) -> Subaccount | None:
    with ctx.store.read() as conn:
        row = conn.execute(sa.select(subaccounts).where(subaccounts.c.id == subaccount_id)).first()
    return None if row is None else _subaccount(row)


def list_subaccounts(ctx: Context, global_account_id: str | None = None) -> list[Subaccount]:
    query = sa.select(subaccounts).order_by(subaccounts.c.created_ms)
    if global_account_id:
        query = query.where(subaccounts.c.global_account_id == global_account_id)
    with ctx.store.read() as conn:
        return [_subaccount(r) for r in conn.execute(query)]


_COLUMNS = {
    "displayName": subaccounts.c.display_name,
    "subdomain": subaccounts.c.subdomain,
    "region": subaccounts.c.region,
}


def _check_length(name: str, value: str) -> None:
    """PostgreSQL refuses a value longer than its column (SQLite stores it): say so as a 400 first."""
    column_type = _COLUMNS[name].type
    limit = column_type.length if isinstance(column_type, sa.String) else None
    if limit is not None and len(value) > limit:
        raise AccountError(f"'{name}' must be at most {limit} characters long")


def create_subaccount(
    ctx: Context,
    global_account_id: str,
    display_name: str,
    subdomain: str,
    region: str = "eu10",
    subaccount_id: str | None = None,
) -> Subaccount:
    """``subaccount_id``: a fixed GUID (``serve --init``), else a new one."""
    for name, value in (("displayName", display_name), ("subdomain", subdomain), ("region", region)):
        _check_length(name, value)
    taken = AccountError(f"subdomain {subdomain} is already taken")
    try:
        with ctx.store.write() as conn:
            if (
                conn.execute(
                    sa.select(global_accounts.c.id).where(global_accounts.c.id == global_account_id)
                ).first()
                is None
            ):
                raise AccountError(f"global account {global_account_id} does not exist")
            if conn.execute(sa.select(subaccounts.c.id).where(subaccounts.c.subdomain == subdomain)).first():
                raise taken
            sub = Subaccount(
                subaccount_id or str(uuid.uuid4()),
                global_account_id,
                display_name,
                subdomain,
                region,
                ctx.clock.now_ms(),
            )
            conn.execute(sa.insert(subaccounts).values(**dataclasses.asdict(sub)))
    except sa.exc.IntegrityError as exc:  # a concurrent create took the subdomain after our check
        raise taken from exc
    return sub


def update_subaccount(ctx: Context, subaccount_id: str, display_name: str) -> Subaccount:
    """Rename a subaccount (its one changeable field here)."""
    _check_length("displayName", display_name)
    with ctx.store.write() as conn:
        updated = conn.execute(
            sa.update(subaccounts).where(subaccounts.c.id == subaccount_id).values(display_name=display_name)
        )
    sub = get_subaccount(ctx, subaccount_id) if updated.rowcount else None
    if sub is None:
        raise AccountError(f"Subaccount {subaccount_id} not found", status=404)
    return sub


def delete_subaccount(ctx: Context, subaccount_id: str) -> None:
    """Remove the subaccount's row; the caller has emptied it. A user's default subaccount stays."""
    with ctx.store.write() as conn:
        lock_subaccount(conn, subaccount_id)
        if conn.execute(
            sa.select(users.c.username).where(users.c.default_subaccount_id == subaccount_id)
        ).first():
            raise AccountError(
                f"Subaccount {subaccount_id} is a user's default subaccount and cannot be deleted"
            )
        deleted = conn.execute(sa.delete(subaccounts).where(subaccounts.c.id == subaccount_id))
    if not deleted.rowcount:
        raise AccountError(f"Subaccount {subaccount_id} not found", status=404)


def lock_subaccount(conn: sa.Connection, subaccount_id: str) -> None:
    """Serialise a subaccount's check-then-insert rules (one Kyma environment, unique names).

    PostgreSQL's READ COMMITTED lets two transactions both pass the check; the row lock makes the
    second wait for the first and then see its row. SQLite's ``BEGIN IMMEDIATE`` serialises anyway.
    """
    conn.execute(sa.select(subaccounts.c.id).where(subaccounts.c.id == subaccount_id).with_for_update())


def default_global_account_id(ctx: Context) -> str:
    with ctx.store.read() as conn:
        row = conn.execute(
            sa.select(global_accounts.c.id).order_by(global_accounts.c.created_ms).limit(1)
        ).first()
    if row is None:
        raise AccountError("no global account; start kymaprov once to create the defaults")
    return str(row[0])
