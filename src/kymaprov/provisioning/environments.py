"""Environment instances: create, read, update, delete, custom labels, job status.

Every call is scoped to the subaccount of the caller's token; another subaccount's environment is
indistinguishable from a missing one. Operations are written to the store in the same transaction
as the state change, so the lifecycle worker (or another replica, or a restarted process) finishes
them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from kymaprov.accounts.models import lock_subaccount
from kymaprov.context import Context
from kymaprov.provisioning import catalog, control
from kymaprov.provisioning.exceptions import (
    BadRequest,
    Conflict,
    EnvironmentNotFound,
    Forbidden,
    InvalidParameters,
    NotFound,
)
from kymaprov.provisioning.models import (
    CREATING,
    DELETING,
    UPDATING,
    Environment,
    environments,
    operations,
    state_values,
)
from kymaprov.store import Query, Store, after_commit
from kymaprov.uaa.models import Principal

IN_PROGRESS = ("CREATING", "UPDATING", "DELETING")
MAX_CUSTOM_LABELS = 10


def _subaccount(p: Principal) -> str:
    if not p.subaccount_id:
        raise Forbidden("The token is not bound to a subaccount; use a binding of the cis 'local' plan")
    return p.subaccount_id


def _actor(p: Principal, body: dict[str, Any] | None = None) -> str:
    user = body.get("user") if body else None
    return str(user or p.user_name or p.client_id)


# longest accepted value per top-level field (the columns' sizes); anything else is capped at 255
MAX_LENGTHS = {
    "environmentType": 32,
    "serviceName": 64,
    "planName": 64,
    "landscapeLabel": 64,
    "description": 4000,
}


def require_string(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidParameters(f"Missing required field '{name}'", field=name)
        return None
    if not isinstance(value, str):
        raise InvalidParameters(f"Field '{name}' must be a string", field=name)
    if required and not value.strip():
        raise InvalidParameters(f"Field '{name}' must not be empty", field=name)
    limit = MAX_LENGTHS.get(name, 255)
    if len(value) > limit:
        raise InvalidParameters(f"Field '{name}' must be at most {limit} characters long", field=name)
    return value


def lookup(conn: sa.Connection, p: Principal, env_id: str, *, lock: bool = False) -> Environment:
    """The caller's environment ``env_id``, for every endpoint under ``/environments/{id}``.

    Another subaccount's environment is a missing one (404 41000, as the real service answers for an
    unknown or deprovisioned id); one being deleted is still there until its deprovisioning ends. A
    token bound to no subaccount may not use the API at all (403).
    """
    rows = (_LOCK_BY_ID if lock else _BY_ID).fetch(conn, _key(p, env_id))
    return _found(rows[0] if rows else None)


def find(store: Store, p: Principal, env_id: str) -> Environment:
    """``lookup`` in a read of its own: the one statement of a GET."""
    rows = store.query(_BY_ID, _key(p, env_id))
    return _found(rows[0] if rows else None)


# built once: making a statement costs more than running it
_SELECT_BY_ID = sa.select(environments).where(
    environments.c.id == sa.bindparam("id"), environments.c.subaccount_id == sa.bindparam("subaccount_id")
)
_BY_ID = Query(_SELECT_BY_ID)
_LOCK_BY_ID = Query(_SELECT_BY_ID.with_for_update())
_BY_SUBACCOUNT = Query(
    sa.select(environments)
    .where(environments.c.subaccount_id == sa.bindparam("subaccount_id"))
    .order_by(environments.c.created_ms)
)


def _key(p: Principal, env_id: str) -> dict[str, str]:
    return {"id": env_id, "subaccount_id": _subaccount(p)}


def _found(row: Mapping[str, Any] | None) -> Environment:
    if row is None:
        raise EnvironmentNotFound()
    return Environment(dict(row))


class EnvironmentService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def reset(self) -> None:
        """Delete every environment and operation (``POST /admin/reset``); their runtimes go separately."""
        with self._ctx.store.write() as conn:
            conn.execute(sa.delete(operations))
            conn.execute(sa.delete(environments))
            control.reset(conn)

    def fail_next(self, env_id: str, message: str, operation: str | None) -> bool:
        """Make the environment's next (``operation``, or any) operation fail; False if there is none."""
        with self._ctx.store.write() as conn:
            updated = conn.execute(
                sa.update(environments)
                .where(environments.c.id == env_id)
                .values(fail_next={"message": message, "operation": operation})
            )
        return bool(updated.rowcount)

    # -- lifecycle control (admin) ------------------------------------------------------------

    def controls(self) -> dict[str, dict[str, Any]]:
        with self._ctx.store.read() as conn:
            return control.all_controls(conn)

    def clear_controls(self) -> None:
        with self._ctx.store.write() as conn:
            control.reset(conn)

    def control_plan(self, plan: str, data: dict[str, Any]) -> dict[str, Any]:
        control.check_plan(plan)
        values = control.parse(data, plan=True)
        with self._ctx.store.write() as conn:
            return control.to_json(control.set_control(conn, f"plan:{plan}", values))

    def control_environment(self, env_id: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """Set the environment's control and re-time its pending operation; None if there is none."""
        values = control.parse(data, plan=False)
        with self._ctx.store.write() as conn:
            if conn.execute(sa.select(environments.c.id).where(environments.c.id == env_id)).first() is None:
                return None
            row = control.set_control(conn, f"env:{env_id}", values)
            control.retime(conn, env_id, self._ctx.settings.provisioning_seconds)
        return control.to_json(row)

    def release(self, env_id: str) -> int | None:
        """Let a held environment's pending operation run now; None if there is no such environment."""
        with self._ctx.store.write() as conn:
            if conn.execute(sa.select(environments.c.id).where(environments.c.id == env_id)).first() is None:
                return None
            return control.release(conn, env_id, self._ctx.clock.now_ms())

    # -- reads ----------------------------------------------------------------------------------

    def find_any(self, env_id: str) -> Environment:
        """Look an environment up by id alone, for the token-free kubeconfig download."""
        with self._ctx.store.read() as conn:
            row = conn.execute(sa.select(environments).where(environments.c.id == env_id)).first()
        if row is None or row.state in ("CREATING", "CREATION_FAILED"):
            raise EnvironmentNotFound()
        return Environment(row._asdict())

    def get(self, p: Principal, env_id: str) -> Environment:
        return find(self._ctx.store, p, env_id)

    def list_all(self, p: Principal) -> list[Environment]:
        rows = self._ctx.store.query(_BY_SUBACCOUNT, {"subaccount_id": _subaccount(p)})
        return [Environment(r) for r in rows]

    # -- create ---------------------------------------------------------------------------------

    def create(self, p: Principal, body: dict[str, Any]) -> tuple[Environment, str]:
        """Validate, record the environment and its provisioning operation; return both ids."""
        sub = _subaccount(p)
        environment_type = require_string(body, "environmentType")
        service_name = require_string(body, "serviceName") or ""
        plan_name = require_string(body, "planName") or ""
        for optional in ("name", "description", "user", "landscapeLabel", "origin", "technicalKey"):
            require_string(body, optional, required=False)
        # an unknown service or plan is the catalog error first, as the real service answers
        plan = catalog.find_plan(service_name, plan_name)
        if environment_type != catalog.KYMA_ENVIRONMENT_TYPE:
            raise InvalidParameters(
                f"environmentType '{environment_type}' does not match service '{service_name}'; use 'kyma'",
                field="environmentType",
            )
        if p.grant_type == "client_credentials" and not body.get("user"):
            raise InvalidParameters(
                "Field 'user' is required when the OAuth 2.0 client credentials grant is used", field="user"
            )
        parameters = catalog.validate_create(plan, body.get("parameters", {}))
        display_name = body.get("name") or parameters.get("name")
        now = self._ctx.clock.now_ms()
        env_id = str(uuid.uuid4()).upper()
        op_id = str(uuid.uuid4())
        row = {
            "id": env_id,
            "subaccount_id": sub,
            "global_account_id": p.global_account_id or "",
            "name": display_name,
            "description": body.get("description"),
            "service_name": service_name,
            "service_id": catalog.KYMA_SERVICE_ID,
            "plan_name": plan.name,
            "plan_id": plan.id,
            "environment_type": catalog.KYMA_ENVIRONMENT_TYPE,
            "landscape_label": body.get("landscapeLabel"),
            "parameters": json.dumps(parameters, separators=(",", ":")),
            "labels": {"Name": parameters.get("name", display_name)},
            "custom_labels": {},
            "created_by": _actor(p, body),
            "modified_by": _actor(p, body),
            "created_ms": now,
            "modified_ms": now,
            "cluster_access": None,
            "fail_next": None,
            **state_values(CREATING),
        }
        with self._ctx.store.write() as conn:
            lock_subaccount(conn, sub)  # one Kyma environment per subaccount, also under races
            existing = conn.execute(
                sa.select(environments.c.id).where(
                    environments.c.subaccount_id == sub,
                    environments.c.environment_type == catalog.KYMA_ENVIRONMENT_TYPE,
                )
            ).first()
            if existing is not None:
                raise BadRequest(
                    "An environment instance of type kyma already exists in this subaccount "
                    f"(id {existing[0]}); only one is allowed",
                    code=41005,
                )
            failure = control.take_creation_failure(conn, plan.name)
            if failure is not None:
                row["fail_next"] = {"message": failure, "operation": "provision"}
            conn.execute(sa.insert(environments).values(**row))
            self._record_operation(conn, env_id, sub, "provision", op_id, {})
        return Environment(row), op_id

    def _record_operation(
        self, conn: sa.Connection, env_id: str, sub: str, kind: str, op_id: str, data: dict[str, Any]
    ) -> None:
        now = self._ctx.clock.now_ms()
        plan = conn.execute(
            sa.select(environments.c.plan_name).where(environments.c.id == env_id)
        ).scalar_one()
        # an operation in flight is superseded by a newer one (e.g. delete during create)
        conn.execute(
            sa.update(operations)
            .where(operations.c.environment_id == env_id, operations.c.state == "pending")
            .values(state="canceled", description="Superseded by a newer operation", updated_ms=now)
        )
        after_commit(conn, self._ctx.operations_due.set)
        conn.execute(
            sa.insert(operations).values(
                id=op_id,
                environment_id=env_id,
                subaccount_id=sub,
                type=kind,
                state="pending",
                description="Operation created",
                data=data,
                due_ms=control.due_ms(conn, env_id, plan, now, self._ctx.settings.provisioning_seconds),
                attempts=0,
                created_ms=now,
                updated_ms=now,
            )
        )

    # -- update ---------------------------------------------------------------------------------

    def update(self, p: Principal, env_id: str, body: dict[str, Any]) -> str:
        plan_name = require_string(body, "planName") or ""
        op_id = str(uuid.uuid4())
        with self._ctx.store.write() as conn:
            env = lookup(conn, p, env_id, lock=True)
            if plan_name != env.row["plan_name"]:
                raise InvalidParameters(
                    f"Plan '{env.row['plan_name']}' cannot be changed to '{plan_name}'", field="planName"
                )
            if env.state in IN_PROGRESS:
                raise Conflict(f"Environment instance {env_id} is {env.state}; retry when the operation ends")
            if env.state == "CREATION_FAILED":
                raise BadRequest("Unable to process an update of a failed instance")
            plan = catalog.find_plan(env.row["service_name"], plan_name)
            current = json.loads(env.row["parameters"])
            parameters = catalog.validate_update(plan, body.get("parameters", {}), current)
            conn.execute(
                sa.update(environments)
                .where(environments.c.id == env_id)
                .values(modified_ms=self._ctx.clock.now_ms(), modified_by=_actor(p), **state_values(UPDATING))
            )
            self._record_operation(
                conn, env_id, env.row["subaccount_id"], "update", op_id, {"parameters": parameters}
            )
        return op_id

    # -- delete ---------------------------------------------------------------------------------

    def delete(self, p: Principal, env_id: str) -> tuple[Environment, str]:
        """Start deprovisioning (idempotent while DELETING); bindings never block it."""
        with self._ctx.store.write() as conn:
            env = lookup(conn, p, env_id, lock=True)
            return env, self._start_deprovision(conn, p, env)

    def delete_all(self, p: Principal) -> list[Environment]:
        out = []
        with self._ctx.store.write() as conn:
            rows = conn.execute(
                sa.select(environments)
                .where(environments.c.subaccount_id == _subaccount(p))
                .with_for_update()
            ).all()
            for r in rows:
                env = Environment(r._asdict())
                self._start_deprovision(conn, p, env)
                out.append(env)
        return out

    def _start_deprovision(self, conn: sa.Connection, p: Principal, env: Environment) -> str:
        if env.state == "DELETING":
            pending = conn.execute(
                sa.select(operations.c.id).where(
                    operations.c.environment_id == env.id,
                    operations.c.type == "deprovision",
                    operations.c.state == "pending",
                )
            ).first()
            if pending is not None:
                return str(pending[0])
        op_id = str(uuid.uuid4())
        conn.execute(
            sa.update(environments)
            .where(environments.c.id == env.id)
            .values(modified_ms=self._ctx.clock.now_ms(), modified_by=_actor(p), **state_values(DELETING))
        )
        self._record_operation(conn, env.id, env.row["subaccount_id"], "deprovision", op_id, {})
        return op_id

    # -- custom labels --------------------------------------------------------------------------

    def get_labels(self, p: Principal, env_id: str) -> dict[str, list[str]]:
        labels: dict[str, list[str]] = self.get(p, env_id).row["custom_labels"]
        return labels

    def set_labels(self, p: Principal, env_id: str, body: dict[str, Any]) -> dict[str, list[str]]:
        labels = _validate_labels(body.get("labels"))
        with self._ctx.store.write() as conn:
            lookup(conn, p, env_id, lock=True)
            conn.execute(
                sa.update(environments)
                .where(environments.c.id == env_id)
                .values(custom_labels=labels, modified_ms=self._ctx.clock.now_ms())
            )
        return labels

    def delete_labels(self, p: Principal, env_id: str) -> dict[str, list[str]]:
        with self._ctx.store.write() as conn:
            lookup(conn, p, env_id, lock=True)
            conn.execute(
                sa.update(environments)
                .where(environments.c.id == env_id)
                .values(custom_labels={}, modified_ms=self._ctx.clock.now_ms())
            )
        return {}

    # -- jobs -----------------------------------------------------------------------------------

    def job_status(self, p: Principal, job_id: str) -> dict[str, Any]:
        with self._ctx.store.read() as conn:
            row = conn.execute(
                sa.select(operations).where(
                    operations.c.id == job_id, operations.c.subaccount_id == _subaccount(p)
                )
            ).first()
        if row is None:
            raise NotFound(f"Job {job_id} not found", code=80000)
        status = {"pending": "IN_PROGRESS", "succeeded": "COMPLETED"}.get(row.state, "FAILED")
        return {
            "status": status,
            "description": row.description,
            "jobParams": {
                "environmentInstanceId": {"identifying": True, "type": "STRING", "value": row.environment_id},
                "operation": {"identifying": False, "type": "STRING", "value": row.type},
            },
        }

    # -- quotas ---------------------------------------------------------------------------------

    def plan_assignments(self, p: Principal) -> dict[str, Any]:
        sub = _subaccount(p)
        with self._ctx.store.read() as conn:
            rows = conn.execute(
                sa.select(environments.c.plan_name, sa.func.count())
                .where(environments.c.subaccount_id == sub)
                .group_by(environments.c.plan_name)
            ).all()
        consumed = {r[0]: int(r[1]) for r in rows}
        return catalog.service_plan_assignments(p.global_account_id or "", sub, consumed)


def _validate_labels(labels: Any) -> dict[str, list[str]]:
    if not isinstance(labels, dict):
        raise InvalidParameters(
            "Field 'labels' must be an object of label names to arrays of strings", field="labels"
        )
    if len(labels) > MAX_CUSTOM_LABELS:
        raise InvalidParameters(f"An entity is allowed up to {MAX_CUSTOM_LABELS} labels", field="labels")
    for key, values in labels.items():
        if not key or len(key) > 63:
            raise InvalidParameters(f"Label key '{key}' must be 1 to 63 characters long", field="labels")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InvalidParameters(
                f"The values of label '{key}' must be an array of strings", field="labels"
            )
        if len(values) > 10:
            raise InvalidParameters(f"Label '{key}' is allowed up to 10 values", field="labels")
        if any(len(v) > 255 for v in values):
            raise InvalidParameters(
                f"The values of label '{key}' are limited to 255 characters", field="labels"
            )
    return labels
