"""The lifecycle worker: finishes provision, update and deprovision operations, and expires bindings.

Operations are rows in the store, written with the request that caused them. A worker claims one
with a short lease (an atomic compare-and-set that works on SQLite and PostgreSQL alike), so several
replicas can share the work and a crashed worker's operation is taken over once its lease lapses.
Each step is idempotent, which makes re-running a half-finished operation safe.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
import uuid

import sqlalchemy as sa

from kymaprov.context import Context
from kymaprov.provisioning.bindings import BindingService
from kymaprov.provisioning.models import (
    CREATED,
    CREATION_FAILED,
    DELETION_FAILED,
    UPDATE_FAILED,
    UPDATED,
    Environment,
    environments,
    kyma_bindings,
    operations,
    state_values,
)
from kymaprov.runtimes import RuntimeBackend

log = logging.getLogger(__name__)

LEASE_SECONDS = 15.0


class LifecycleWorker:
    def __init__(self, ctx: Context, backend: RuntimeBackend, bindings: BindingService) -> None:
        self._ctx = ctx
        self._backend = backend
        self._bindings = bindings
        self.worker_id = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- running --------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="kymaprov-lifecycle", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)

    def _loop(self) -> None:
        last_cleanup = 0.0
        while not self._stop.is_set():
            try:
                self.run_due()
                if time.monotonic() - last_cleanup > 1.0:
                    self._bindings.clean_expired()
                    self._bindings.reconcile()  # at most every few seconds
                    last_cleanup = time.monotonic()
            except Exception:  # keep the worker alive; the operation is retried after its lease
                log.exception("lifecycle worker iteration failed")
            self._stop.wait(self._ctx.settings.worker_interval)

    def run_due(self) -> int:
        """Process every operation that is due now; return how many finished."""
        done = 0
        for op_id in self._due_operations():
            if self._claim(op_id):
                self._process(op_id)
                done += 1
        return done

    def _due_operations(self) -> list[str]:
        now_ms = self._ctx.clock.now_ms()
        with self._ctx.store.read() as conn:
            rows = conn.execute(
                sa.select(operations.c.id)
                .where(
                    operations.c.state == "pending",
                    operations.c.due_ms <= now_ms,
                    sa.or_(operations.c.lease_until.is_(None), operations.c.lease_until < time.time()),
                )
                .order_by(operations.c.created_ms)
                .limit(20)
            ).all()
        return [r[0] for r in rows]

    def _claim(self, op_id: str) -> bool:
        now = time.time()
        with self._ctx.store.write() as conn:
            result = conn.execute(
                sa.update(operations)
                .where(
                    operations.c.id == op_id,
                    operations.c.state == "pending",
                    sa.or_(operations.c.lease_until.is_(None), operations.c.lease_until < now),
                )
                .values(
                    lease_owner=self.worker_id,
                    lease_until=now + LEASE_SECONDS,
                    attempts=operations.c.attempts + 1,
                )
            )
        return result.rowcount == 1

    # -- steps ----------------------------------------------------------------------------------

    def _process(self, op_id: str) -> None:
        with self._ctx.store.read() as conn:
            op = conn.execute(sa.select(operations).where(operations.c.id == op_id)).first()
            row = (
                None
                if op is None
                else conn.execute(
                    sa.select(environments).where(environments.c.id == op.environment_id)
                ).first()
            )
        if op is None:
            return
        if row is None:
            self._finish(op_id, "canceled", "The environment instance no longer exists")
            return
        env = Environment(row._asdict())
        failure = env.row.get("fail_next")
        if failure and failure.get("operation") in (None, op.type):
            self._fail(op, env, str(failure.get("message") or "Operation failed"))
            return
        if op.type == "provision":
            self._provision(op_id, env)
        elif op.type == "update":
            self._update(op_id, env, op.data.get("parameters", {}))
        elif op.type == "deprovision":
            self._deprovision(op_id, env)

    def _provision(self, op_id: str, env: Environment) -> None:
        access = self._backend.create_cluster(env.cluster_id, env.cluster_name)
        labels = {
            "Name": env.row["labels"].get("Name", env.cluster_name),
            "KubeconfigURL": f"{self._ctx.settings.base_url}/kubeconfig/{env.id}",
            "APIServerURL": access.server,
        }
        sealed = self._ctx.sealer.seal(json.dumps(dataclasses.asdict(access)))
        with self._ctx.store.write() as conn:
            if not self._still_current(conn, op_id):
                return
            conn.execute(
                sa.update(environments)
                .where(environments.c.id == env.id)
                .values(
                    cluster_access=sealed,
                    labels=labels,
                    modified_ms=self._ctx.clock.now_ms(),
                    **state_values(CREATED),
                )
            )
            self._finish(op_id, "succeeded", "Processing finished", conn)

    def _update(self, op_id: str, env: Environment, parameters: dict[str, object]) -> None:
        with self._ctx.store.write() as conn:
            if not self._still_current(conn, op_id):
                return
            labels = dict(env.row["labels"])
            if isinstance(parameters.get("name"), str):
                labels["Name"] = parameters["name"]
            conn.execute(
                sa.update(environments)
                .where(environments.c.id == env.id)
                .values(
                    parameters=json.dumps(parameters, separators=(",", ":")),
                    labels=labels,
                    modified_ms=self._ctx.clock.now_ms(),
                    **state_values(UPDATED),
                )
            )
            self._finish(op_id, "succeeded", "Processing finished", conn)

    def _deprovision(self, op_id: str, env: Environment) -> None:
        self._backend.delete_cluster(env.cluster_id)
        with self._ctx.store.write() as conn:
            if not self._still_current(conn, op_id):
                return
            conn.execute(sa.delete(kyma_bindings).where(kyma_bindings.c.environment_id == env.id))
            conn.execute(sa.delete(environments).where(environments.c.id == env.id))
            self._finish(op_id, "succeeded", "Operation succeeded. The instance was deprovisioned.", conn)

    def _fail(self, op: sa.Row, env: Environment, message: str) -> None:
        step = {"provision": CREATION_FAILED, "update": UPDATE_FAILED, "deprovision": DELETION_FAILED}[
            op.type
        ]
        with self._ctx.store.write() as conn:
            if not self._still_current(conn, op.id):
                return
            conn.execute(
                sa.update(environments)
                .where(environments.c.id == env.id)
                .values(fail_next=None, modified_ms=self._ctx.clock.now_ms(), **state_values(step, message))
            )
            self._finish(op.id, "failed", message, conn)

    def _still_current(self, conn: sa.Connection, op_id: str) -> bool:
        """False once a newer operation superseded this one, or another worker finished it."""
        state = conn.execute(sa.select(operations.c.state).where(operations.c.id == op_id)).scalar()
        return state == "pending"

    def _finish(self, op_id: str, state: str, description: str, conn: sa.Connection | None = None) -> None:
        if conn is None:
            with self._ctx.store.write() as c:
                self._finish(op_id, state, description, c)
            return
        conn.execute(
            sa.update(operations)
            .where(operations.c.id == op_id)
            .values(
                state=state, description=description, lease_until=None, updated_ms=self._ctx.clock.now_ms()
            )
        )
