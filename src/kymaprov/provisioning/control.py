"""Lifecycle control for tests: how long operations take, holding them, failing creates then recovering.

A control is kept per plan (``plan:<name>``) or per environment (``env:<id>``); the environment's beats
its plan's, which beats ``--provisioning-seconds``. Everything works through an operation's ``due_ms``,
so the lifecycle worker needs no branch for it: a held operation is due at ``HELD_MS`` (never) until
released, when it becomes due at once. A plan's ``failTimes`` makes that many of its next creations end
in ``CREATION_FAILED`` with ``failMessage`` (through the environment's ``fail_next``); the ones after
succeed, as a user's retry should.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kymaprov.errors import MessageError
from kymaprov.provisioning import catalog
from kymaprov.provisioning.models import environments, operations
from kymaprov.store import metadata

lifecycle_controls = sa.Table(
    "lifecycle_controls",
    metadata,
    sa.Column("key", sa.String(128), primary_key=True),  # plan:<name> | env:<id>
    sa.Column("seconds", sa.Float, nullable=True),
    sa.Column("hold", sa.Boolean, nullable=False),
    sa.Column("fail_times", sa.Integer, nullable=False),
    sa.Column("fail_message", sa.Text, nullable=True),
)

HELD_MS = 2**62  # an operation due then is never due; release makes it due now
MAX_SECONDS = 7 * 86400.0


class ControlError(MessageError):
    """Bad control input: a 400 in the admin API's format."""


def parse(data: dict[str, Any], *, plan: bool) -> dict[str, Any]:
    """The columns to set from the admin API's JSON (``seconds``, ``hold``; plans also ``failTimes``,
    ``failMessage``). Keys left out keep their value."""
    known = {"seconds", "hold", *(("failTimes", "failMessage") if plan else ())}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ControlError(f"unknown field '{unknown[0]}'; known: {', '.join(sorted(known))}")
    values: dict[str, Any] = {}
    if "seconds" in data:
        seconds = data["seconds"]
        if seconds is not None and (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not 0 <= seconds <= MAX_SECONDS
        ):
            raise ControlError(f"'seconds' must be a number from 0 to {int(MAX_SECONDS)}, or null")
        values["seconds"] = seconds
    if "hold" in data:
        if not isinstance(data["hold"], bool):
            raise ControlError("'hold' must be true or false")
        values["hold"] = data["hold"]
    if "failTimes" in data:
        times = data["failTimes"]
        if isinstance(times, bool) or not isinstance(times, int) or not 0 <= times <= 1000:
            raise ControlError("'failTimes' must be an integer from 0 to 1000")
        values["fail_times"] = times
    if "failMessage" in data:
        if not isinstance(data["failMessage"], str) or not data["failMessage"]:
            raise ControlError("'failMessage' must be a non-empty string")
        values["fail_message"] = data["failMessage"]
    return values


def check_plan(name: str) -> None:
    if name not in catalog.PLANS:
        raise ControlError(f"unknown plan '{name}'; plans: {', '.join(catalog.PLANS)}")


def set_control(conn: sa.Connection, key: str, values: dict[str, Any]) -> dict[str, Any]:
    """Merge ``values`` into the control under ``key``; return it."""
    row = conn.execute(sa.select(lifecycle_controls).where(lifecycle_controls.c.key == key)).first()
    merged = {"key": key, "seconds": None, "hold": False, "fail_times": 0, "fail_message": None}
    if row is not None:
        merged.update(row._asdict())
    merged.update(values)
    conn.execute(sa.delete(lifecycle_controls).where(lifecycle_controls.c.key == key))
    conn.execute(sa.insert(lifecycle_controls).values(**merged))
    return merged


def to_json(row: dict[str, Any]) -> dict[str, Any]:
    out = {"seconds": row["seconds"], "hold": row["hold"]}
    if row["key"].startswith("plan:"):
        out |= {"failTimes": row["fail_times"], "failMessage": row["fail_message"]}
    return out


def all_controls(conn: sa.Connection) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {"plans": {}, "environments": {}}
    for row in conn.execute(sa.select(lifecycle_controls).order_by(lifecycle_controls.c.key)).all():
        kind, _, name = row.key.partition(":")
        out["plans" if kind == "plan" else "environments"][name] = to_json(row._asdict())
    return out


def _controls(conn: sa.Connection, env_id: str, plan: str) -> list[Any]:
    """The environment's control, then its plan's (those that exist)."""
    rows = {
        r.key: r
        for r in conn.execute(
            sa.select(lifecycle_controls).where(
                lifecycle_controls.c.key.in_([f"env:{env_id}", f"plan:{plan}"])
            )
        ).all()
    }
    return [rows[k] for k in (f"env:{env_id}", f"plan:{plan}") if k in rows]


def due_ms(conn: sa.Connection, env_id: str, plan: str, now_ms: int, default_seconds: float) -> int:
    """When an operation of this environment recorded now may finish."""
    controls = _controls(conn, env_id, plan)
    if controls and controls[0].hold:
        return HELD_MS
    seconds = next((c.seconds for c in controls if c.seconds is not None), default_seconds)
    return now_ms + int(seconds * 1000)


def take_creation_failure(conn: sa.Connection, plan: str) -> str | None:
    """The message a new environment of ``plan`` fails with, spending one of the plan's ``failTimes``."""
    key = f"plan:{plan}"
    spent = conn.execute(
        sa.update(lifecycle_controls)
        .where(lifecycle_controls.c.key == key, lifecycle_controls.c.fail_times > 0)
        .values(fail_times=lifecycle_controls.c.fail_times - 1)
    ).rowcount
    if not spent:
        return None
    message = conn.execute(
        sa.select(lifecycle_controls.c.fail_message).where(lifecycle_controls.c.key == key)
    ).scalar_one()
    return str(message or "Provisioning failed (injected by kymaprov)")


def retime(conn: sa.Connection, env_id: str, default_seconds: float) -> None:
    """Apply the environment's control to its pending operations (after it changed)."""
    plan = conn.execute(sa.select(environments.c.plan_name).where(environments.c.id == env_id)).scalar_one()
    controls = _controls(conn, env_id, plan)
    pending = conn.execute(
        sa.select(operations.c.id, operations.c.created_ms).where(
            operations.c.environment_id == env_id, operations.c.state == "pending"
        )
    ).all()
    for op in pending:
        if controls and controls[0].hold:
            due = HELD_MS
        else:
            seconds = next((c.seconds for c in controls if c.seconds is not None), default_seconds)
            due = op.created_ms + int(seconds * 1000)
        conn.execute(sa.update(operations).where(operations.c.id == op.id).values(due_ms=due))


def release(conn: sa.Connection, env_id: str, now_ms: int) -> int:
    """End the hold on one environment: its pending operations are due now; return how many."""
    set_control(conn, f"env:{env_id}", {"hold": False})
    return int(
        conn.execute(
            sa.update(operations)
            .where(operations.c.environment_id == env_id, operations.c.state == "pending")
            .values(due_ms=now_ms)
        ).rowcount
    )


def reset(conn: sa.Connection) -> None:
    conn.execute(sa.delete(lifecycle_controls))
