"""The lifecycle worker: finishes provision, update and deprovision operations, and expires bindings.

Operations are rows in the store, written with the request that caused them. A worker claims one
with a short lease (an atomic compare-and-set that works on SQLite and PostgreSQL alike), so several
replicas can share the work and a crashed worker's operation is taken over once its lease lapses.
Each step is idempotent, which makes re-running a half-finished operation safe.

A step may outlive its lease (a real backend takes minutes to make a cluster), so while it runs a
heartbeat renews the lease. Every claim writes a fresh fencing token into ``lease_owner``, and a step's
result is committed only while the row still holds that token and is pending: a worker whose lease
was taken over (it stalled past the lease) or whose operation was superseded (a delete during a
create) cannot commit. One environment runs one step at a time: an operation is not claimed while
another operation of its environment holds a live lease, so a delete never overtakes a running create.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from kymaprov.accounts.models import get_subaccount
from kymaprov.backends.base import DONE, ClusterAccess, Progress, RuntimeBackend
from kymaprov.cis.models import issue_operator_credentials, revoke_operator_credentials
from kymaprov.context import Context
from kymaprov.metrics import Metrics
from kymaprov.provisioning import administrators, btpmanager, modules
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
from kymaprov.provisioning.shape import shape_of
from kymaprov.store import Query
from kymaprov.uaa.models import TokenService

log = logging.getLogger(__name__)

LEASE_SECONDS = 15.0
HELPER_POLL_FACTOR = 10  # how much less often than the first thread the other worker threads look

# pending operations due now whose lease lapsed, oldest first: read every ``worker_interval`` by the
# first worker thread, so one statement (``Store.query``), not a transaction
_DUE = Query(
    sa.select(operations.c.id)
    .where(
        operations.c.state == "pending",
        operations.c.due_ms <= sa.bindparam("now_ms"),
        sa.or_(operations.c.lease_until.is_(None), operations.c.lease_until < sa.bindparam("now")),
    )
    .order_by(operations.c.created_ms)
    .limit(20)
)


class LifecycleWorker:
    """Runs due operations; ``lease_seconds`` and ``renew_every`` (default a third of the lease) for tests,
    ``configure_runtimes=False`` for tests whose backend's clusters have no Kubernetes API."""

    def __init__(
        self,
        ctx: Context,
        backend: RuntimeBackend,
        bindings: BindingService,
        *,
        lease_seconds: float = LEASE_SECONDS,
        renew_every: float | None = None,
        configure_runtimes: bool = True,
        metrics: Metrics | None = None,
    ) -> None:
        self._ctx = ctx
        self._backend = backend
        self._bindings = bindings
        self.worker_id = uuid.uuid4().hex
        self.lease_seconds = lease_seconds
        self.renew_every = lease_seconds / 3 if renew_every is None else renew_every
        self.configure_runtimes = configure_runtimes
        self._metrics = metrics
        self._tokens: TokenService | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- running --------------------------------------------------------------------------------

    def start(self) -> None:
        """``settings.worker_threads`` threads, as KEB runs operations in parallel: a step spends most of
        its time waiting on the database or a runtime's API, and 100 creates one after another on
        PostgreSQL took twice as long with one thread as with four. The lease keeps any two threads
        (or replicas) from running one operation."""
        count = max(1, self._ctx.settings.worker_threads)
        self._threads = [
            threading.Thread(target=self._loop, args=(i,), name=f"kymaprov-lifecycle-{i}", daemon=True)
            for i in range(count)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def alive(self) -> bool:
        """Every worker thread runs (for ``/readyz``)."""
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._ctx.operations_due.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.0))

    def _loop(self, index: int = 0) -> None:
        """One thread's loop. The first looks for due operations every ``worker_interval`` (they come due
        by time, or from another replica) and runs the bindings' housekeeping; the others wake when an
        operation is recorded here or a thread finds more than one due, and otherwise look only every
        ``HELPER_POLL_FACTOR`` intervals (should the first be stuck in a long step), so idle helpers
        cost next to nothing."""
        poller = index == 0
        last_cleanup = 0.0
        while not self._stop.is_set():
            self._ctx.operations_due.clear()  # before looking: an operation recorded from now on wakes us
            try:
                self.run_due(start=index)
                if poller and time.monotonic() - last_cleanup > 1.0:
                    self._bindings.clean_expired()
                    self._bindings.reconcile()  # at most every few seconds
                    last_cleanup = time.monotonic()
            except Exception:  # keep the worker alive; the operation is retried after its lease
                log.exception("lifecycle worker iteration failed")
            interval = self._ctx.settings.worker_interval
            self._ctx.operations_due.wait(interval if poller else interval * HELPER_POLL_FACTOR)

    def run_due(self, start: int = 0) -> int:
        """Process every operation that is due now; return how many finished. ``start``: where in the
        due list to begin, so that threads looking at once try different operations first."""
        done = 0
        due = self._due_operations()
        if due:
            start %= len(due)
            due = due[start:] + due[:start]
        for op_id in due:
            token = self._claim(op_id)
            if token is not None:
                if len(due) > 1:  # more due than this thread will run soon: wake the idle ones
                    self._ctx.operations_due.set()
                with self._heartbeat(op_id, token):
                    self._process(op_id, token)
                self._count(op_id, token)
                done += 1
        return done

    def _count(self, op_id: str, token: str) -> None:
        """Count an operation this worker finished (its result committed under our token) in metrics."""
        if self._metrics is None:
            return
        with self._ctx.store.read() as conn:
            op = conn.execute(
                sa.select(
                    operations.c.type, operations.c.state, operations.c.created_ms, operations.c.updated_ms
                ).where(operations.c.id == op_id, operations.c.lease_owner == token)
            ).first()
        if op is not None and op.state != "pending":
            self._metrics.operation_finished(op.type, op.state, (op.updated_ms - op.created_ms) / 1000)

    def _due_operations(self) -> list[str]:
        params = {"now_ms": self._ctx.clock.now_ms(), "now": time.time()}
        return [r["id"] for r in self._ctx.store.query(_DUE, params)]

    def _claim(self, op_id: str) -> str | None:
        """Take the lease of a pending operation whose lease lapsed; return the fencing token."""
        now = time.time()
        token = f"{self.worker_id[:12]}:{uuid.uuid4().hex}"
        other = operations.alias("other")
        busy = (  # another step of the same environment is still running (e.g. a superseded create)
            sa.select(other.c.id)
            .where(
                other.c.environment_id == operations.c.environment_id,
                other.c.id != operations.c.id,
                other.c.lease_until >= now,
            )
            .exists()
        )
        with self._ctx.store.write() as conn:
            result = conn.execute(
                sa.update(operations)
                .where(
                    operations.c.id == op_id,
                    operations.c.state == "pending",
                    sa.or_(operations.c.lease_until.is_(None), operations.c.lease_until < now),
                    ~busy,
                )
                .values(
                    lease_owner=token,
                    lease_until=now + self.lease_seconds,
                    attempts=operations.c.attempts + 1,
                )
            )
        return token if result.rowcount == 1 else None

    @contextmanager
    def _heartbeat(self, op_id: str, token: str) -> Iterator[None]:
        """Renew the lease while the step runs, for as long as the row still holds our token.

        It renews a superseded operation too: its step is still running, and the lease keeps the
        superseding operation of the same environment from starting until it ends.
        """
        done = threading.Event()

        def renew() -> None:
            while not done.wait(self.renew_every):
                try:
                    with self._ctx.store.write() as conn:
                        held = conn.execute(
                            sa.update(operations)
                            .where(
                                operations.c.id == op_id,
                                operations.c.lease_owner == token,
                                operations.c.lease_until.is_not(None),  # not once finished or released
                            )
                            .values(lease_until=time.time() + self.lease_seconds)
                        ).rowcount
                except Exception:  # a store outage: try again; the fence protects the commit
                    log.warning("renewing the lease of operation %s failed", op_id, exc_info=True)
                    continue
                if not held and not done.is_set():
                    log.warning("operation %s: lease lost to another worker; its result is dropped", op_id)
                    return

        thread = threading.Thread(target=renew, name=f"kymaprov-lease-{op_id[:8]}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    # -- steps ----------------------------------------------------------------------------------

    def _process(self, op_id: str, token: str) -> None:
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
            with self._commit(op_id, token) as conn:
                if conn is not None:
                    self._finish(op_id, "canceled", "The environment instance no longer exists", conn)
            return
        env = Environment(row._asdict())
        log.info("operation %s: %s of environment %s, attempt %d", op_id, op.type, env.id, op.attempts)
        failure = env.row.get("fail_next")
        if failure and failure.get("operation") in (None, op.type):
            self._fail(op, token, env, str(failure.get("message") or "Operation failed"))
            return
        if op.type in STEPS:
            self._run_steps(op, token, env)

    def _run_steps(self, op: sa.Row[Any], token: str, env: Environment) -> None:
        """Run the operation's steps from the one recorded in ``data.step`` until all are done, one
        asks to be retried later (the operation is released and due again then) or one fails.

        Each finished step is recorded under the fence before the next starts, so a worker that takes
        the operation over (after a crash) resumes at the step that was running, not at the first.
        """
        steps = STEPS[op.type]
        names = [step.name for step in steps]
        data = dict(op.data or {})
        now = self._ctx.clock.now_ms()
        name = str(data["step"]) if data.get("step") in names else names[0]
        started = int(data.get("step_started_ms") or now)
        while True:
            step = steps[names.index(name)]
            progress = step.run(self, op, env, data)
            if progress.failed is not None:
                self._fail(op, token, env, progress.failed)
                return
            now = self._ctx.clock.now_ms()
            elapsed = (now - started) / 1000
            if not progress.done:
                if elapsed > step.timeout:
                    self._fail(op, token, env, step.timeout_message or f"{step.name} timed out")
                    return
                message = progress.message or None
                if step.slow_message and elapsed > step.expected:
                    message = step.slow_message
                data.update(step=name, step_started_ms=started)
                self._wait(op.id, token, env, data, message, progress.retry_after)
                return
            log.info("operation %s: step %s done", op.id, name)
            if name == names[-1]:
                return  # the last step finished the operation itself
            name, started = names[names.index(name) + 1], now
            data.update(step=name, step_started_ms=started)
            with self._commit(op.id, token) as conn:
                if conn is None:
                    return
                conn.execute(sa.update(operations).where(operations.c.id == op.id).values(data=data))

    def _wait(
        self,
        op_id: str,
        token: str,
        env: Environment,
        data: dict[str, Any],
        message: str | None,
        after: float,
    ) -> None:
        """Record the step's progress and give the operation back until it is due again."""
        now = self._ctx.clock.now_ms()
        with self._commit(op_id, token) as conn:
            if conn is None:
                return
            conn.execute(
                sa.update(operations)
                .where(operations.c.id == op_id)
                .values(data=data, due_ms=now + int(max(after, 0.0) * 1000), lease_until=None, updated_ms=now)
            )
            if message:
                conn.execute(
                    sa.update(environments)
                    .where(environments.c.id == env.id)
                    .values(state_message=message, modified_ms=now)
                )

    # -- the steps: each idempotent, each returns the backend's or its own Progress ---------------

    def _create_runtime(self, op: sa.Row[Any], env: Environment, data: dict[str, Any]) -> Progress:
        data["effective"] = _parameters(env.row.get("parameters"))  # recorded with the step's end
        shape = shape_of(str(env.row.get("plan_name", "")), data["effective"])
        return self._backend.create(env.cluster_id, env.cluster_name, shape)

    def _update_runtime(self, op: sa.Row[Any], env: Environment, data: dict[str, Any]) -> Progress:
        """The runtime as the update leaves it: what the last finished create or update made of it, with
        the parameters this update names (an update keeps the ones it omits; the environment's stored
        ``parameters`` are only the last request's)."""
        if not isinstance(data.get("effective"), dict):
            base = self._last_effective(env) or _parameters(env.row.get("parameters"))
            data["effective"] = {**base, **dict(data.get("parameters") or {})}
        shape = shape_of(str(env.row.get("plan_name", "")), data["effective"])
        return self._backend.update(env.cluster_id, shape)

    def _last_effective(self, env: Environment) -> dict[str, Any] | None:
        with self._ctx.store.read() as conn:
            rows = conn.execute(
                sa.select(operations.c.data)
                .where(
                    operations.c.environment_id == env.id,
                    operations.c.state == "succeeded",
                    operations.c.type.in_(("provision", "update")),
                )
                .order_by(operations.c.created_ms.desc())
            ).scalars()
            for data in rows:
                if isinstance(data, dict) and isinstance(data.get("effective"), dict):
                    return dict(data["effective"])
        return None

    def _wait_for_runtime(self, op: sa.Row[Any], env: Environment, data: dict[str, Any]) -> Progress:
        return self._backend.status(env.cluster_id)

    def _delete_runtime(self, op: sa.Row[Any], env: Environment, data: dict[str, Any]) -> Progress:
        return self._backend.delete(env.cluster_id)

    def _configure_step(self, op: sa.Row[Any], env: Environment, data: dict[str, Any]) -> Progress:
        creating = op.type == "provision"
        parameters = (
            _parameters(env.row.get("parameters")) if creating else dict(data.get("parameters") or {})
        )
        if not self.configure_runtimes:
            return DONE
        access = self._backend.access(env.cluster_id)
        if access is None:
            if not creating:
                return DONE  # nothing to configure on a runtime its backend no longer serves
            return Progress(False, "Waiting for access to the runtime's Kubernetes API", retry_after=5)
        self._configure_runtime(access, env, parameters, creating=creating)
        return DONE

    def _revoke_credentials(self, op: sa.Row[Any], env: Environment, data: dict[str, Any]) -> Progress:
        revoke_operator_credentials(self._ctx, env.id)
        return DONE

    def _finish_provision(self, op: sa.Row[Any], env: Environment, data: dict[str, Any]) -> Progress:
        token = str(op.lease_owner)
        access = self._backend.access(env.cluster_id)
        if access is None:
            return Progress(False, failed="The runtime's backend gives no access to the created cluster")
        labels = {
            "Name": env.row["labels"].get("Name", env.cluster_name),
            "KubeconfigURL": f"{self._ctx.settings.base_url}/kubeconfig/{env.id}",
            "APIServerURL": access.server,
        }
        sealed = self._ctx.sealer.seal(json.dumps(access.record()))
        with self._commit(op.id, token) as conn:
            if conn is not None:
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
                self._finish(op.id, "succeeded", "Processing finished", conn)
        return DONE

    def _finish_update(self, op: sa.Row[Any], env: Environment, data: dict[str, Any]) -> Progress:
        parameters = dict(data.get("parameters") or {})
        with self._commit(op.id, str(op.lease_owner)) as conn:
            if conn is not None:
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
                self._finish(op.id, "succeeded", "Processing finished", conn)
        return DONE

    def _finish_deprovision(self, op: sa.Row[Any], env: Environment, data: dict[str, Any]) -> Progress:
        with self._commit(op.id, str(op.lease_owner)) as conn:
            if conn is not None:
                conn.execute(sa.delete(kyma_bindings).where(kyma_bindings.c.environment_id == env.id))
                conn.execute(sa.delete(environments).where(environments.c.id == env.id))
                self._finish(op.id, "succeeded", "Operation succeeded. The instance was deprovisioned.", conn)
        return DONE

    def _configure_runtime(
        self, access: ClusterAccess, env: Environment, parameters: dict[str, Any], *, creating: bool
    ) -> None:
        """What KIM and KEB apply in the runtime through its Kubernetes API: the administrators'
        ClusterRoleBindings (on create, and on an update that names them) and, on create, the
        ``modules`` parameter (the Kyma CR) and the btp-operator's credentials (``sap-btp-manager``).
        Idempotent: a failure fails this attempt, and the retried step applies it again."""
        default = env.row.get("created_by") if creating else None
        admins = administrators.administrators_of(parameters, default)
        if admins is not None:
            administrators.apply(access, admins)
        kyma = modules.kyma_spec(parameters) if creating else None  # ``modules`` is create-only
        if kyma is not None:
            modules.apply(access, kyma)
        sub = get_subaccount(self._ctx, env.row["subaccount_id"]) if creating else None
        if sub is not None:
            if self._tokens is None:
                self._tokens = TokenService(self._ctx)
            client_id, secret = issue_operator_credentials(self._ctx, self._tokens, sub, env.id)
            body = btpmanager.secret(client_id, secret, self._ctx.settings.base_url, env.cluster_id)
            btpmanager.write(access, body)

    def _fail(self, op: sa.Row[Any], token: str, env: Environment, message: str) -> None:
        step = {"provision": CREATION_FAILED, "update": UPDATE_FAILED, "deprovision": DELETION_FAILED}[
            op.type
        ]
        with self._commit(op.id, token) as conn:
            if conn is None:
                return
            conn.execute(
                sa.update(environments)
                .where(environments.c.id == env.id)
                .values(fail_next=None, modified_ms=self._ctx.clock.now_ms(), **state_values(step, message))
            )
            self._finish(op.id, "failed", message, conn)

    @contextmanager
    def _commit(self, op_id: str, token: str) -> Iterator[sa.Connection | None]:
        """A write transaction for the step's result, or None when the fence no longer holds.

        The operation row is locked and must still be pending and hold our token; otherwise the
        result is dropped (another worker took the lease over, or a newer operation superseded this
        one) and the lease is released, so the superseding operation may start at once.

        The environment's row is locked before the operation's, the order of the API's writes (which
        lock the environment, then supersede its pending operations): the other order deadlocks.
        """
        with self._ctx.store.write() as conn:
            env_id = operations.c.environment_id
            conn.execute(
                sa.select(environments.c.id)
                .where(
                    environments.c.id == sa.select(env_id).where(operations.c.id == op_id).scalar_subquery()
                )
                .with_for_update()
            )
            row = conn.execute(
                sa.select(operations.c.state, operations.c.lease_owner)
                .where(operations.c.id == op_id)
                .with_for_update()
            ).first()
            if row is not None and row.state == "pending" and row.lease_owner == token:
                yield conn
                return
            conn.execute(
                sa.update(operations)
                .where(operations.c.id == op_id, operations.c.lease_owner == token)
                .values(lease_until=None)
            )
        log.info("operation %s: result dropped (superseded, or its lease was taken over)", op_id)
        yield None

    def _finish(self, op_id: str, state: str, description: str, conn: sa.Connection) -> None:
        log.info("operation %s: %s (%s)", op_id, state, description)
        conn.execute(
            sa.update(operations)
            .where(operations.c.id == op_id)
            .values(
                state=state, description=description, lease_until=None, updated_ms=self._ctx.clock.now_ms()
            )
        )


def _parameters(stored: Any) -> dict[str, Any]:
    """The environment's create parameters (stored as JSON text)."""
    try:
        value = json.loads(stored) if isinstance(stored, str) else stored
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Step:
    """One named, idempotent step; ``timeout`` and ``expected`` are service-clock seconds since it began.

    Past ``expected`` a waiting step shows ``slow_message`` as the environment's ``stateMessage``; past
    ``timeout`` the operation fails with ``timeout_message``.
    """

    name: str
    run: Callable[[LifecycleWorker, sa.Row[Any], Environment, dict[str, Any]], Progress]
    timeout: float = 600.0
    expected: float = 0.0
    slow_message: str = ""
    timeout_message: str = ""


_MINUTE = 60.0
# KEB's description after 20 minutes of provisioning (provisioningTakesLongThreshold); timeouts: stepTimeouts
_SLOW_CREATE = "Operation created. Cluster provisioning takes longer than usual. It takes up to 60 minutes."

STEPS: dict[str, tuple[Step, ...]] = {
    "provision": (
        Step(
            "create_runtime",
            LifecycleWorker._create_runtime,
            timeout_message="The runtime's cluster was not created: the backend did not start it in time",
        ),
        Step(
            "wait_for_runtime",
            LifecycleWorker._wait_for_runtime,
            timeout=60 * _MINUTE,
            expected=20 * _MINUTE,
            slow_message=_SLOW_CREATE,
            timeout_message="Runtime resource not in Ready state",
        ),
        Step("configure_runtime", LifecycleWorker._configure_step),
        Step("finish", LifecycleWorker._finish_provision),
    ),
    "update": (
        Step("update_runtime", LifecycleWorker._update_runtime),
        Step(
            "wait_for_runtime",
            LifecycleWorker._wait_for_runtime,
            timeout=180 * _MINUTE,
            timeout_message="Runtime resource update timed out",
        ),
        Step("configure_runtime", LifecycleWorker._configure_step),
        Step("finish", LifecycleWorker._finish_update),
    ),
    "deprovision": (
        Step(
            "delete_runtime",
            LifecycleWorker._delete_runtime,
            timeout=60 * _MINUTE,
            timeout_message="Runtime resource deletion timed out",
        ),
        Step(
            "wait_for_deletion",
            LifecycleWorker._wait_for_runtime,
            timeout=60 * _MINUTE,
            timeout_message="Runtime resource deletion timed out",
        ),
        Step("revoke_credentials", LifecycleWorker._revoke_credentials),
        Step("finish", LifecycleWorker._finish_deprovision),
    ),
}
