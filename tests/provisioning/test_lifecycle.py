"""Lifecycle leases: two real workers on one real store (SQLite, and PostgreSQL when configured).

The runtime backend is the only stand-in: its ``create`` blocks until the test releases it, a
step that outlives its lease as a real cluster creation does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kymaprov.accounts.models import ensure_defaults
from kymaprov.backends.base import DONE, ClusterAccess, Progress
from kymaprov.config import Settings
from kymaprov.context import Context
from kymaprov.provisioning.bindings import BindingService
from kymaprov.provisioning.environments import EnvironmentService
from kymaprov.provisioning.lifecycle import LifecycleWorker
from kymaprov.provisioning.models import environments, operations
from kymaprov.uaa.models import Principal
from tests.conftest import POSTGRES_URL

LEASE = 0.3  # seconds; every step below is held for several leases


class Runtimes:
    """Records every call; ``create`` blocks until ``release`` is set."""

    def __init__(self, name: str, *, blocking: bool = True) -> None:
        self.name = name
        self.release = threading.Event()
        if not blocking:
            self.release.set()
        self.started = threading.Event()
        self.created: list[str] = []
        self.deleted: list[str] = []

    def create(self, cluster_id: str, name: str, shape: object) -> Progress:
        self.created.append(cluster_id)
        self.started.set()
        assert self.release.wait(30), "the test never released create"
        return DONE

    def status(self, cluster_id: str) -> Progress:
        return DONE

    def update(self, cluster_id: str, shape: object) -> Progress:
        return DONE

    def delete(self, cluster_id: str) -> Progress:
        self.deleted.append(cluster_id)
        return DONE

    def access(self, cluster_id: str) -> ClusterAccess | None:
        if cluster_id not in self.created:
            return None
        return ClusterAccess(
            server=f"https://{self.name}.example/clusters/{cluster_id}", ca_data="", token="t"
        )

    def reset(self) -> None:
        self.created.clear()


@pytest.fixture(params=["sqlite", "postgres"])
def ctx(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Context]:
    url = None
    if request.param == "postgres":
        if not POSTGRES_URL:
            pytest.skip("set KYMAPROV_TEST_POSTGRES to run against PostgreSQL")
        url = request.getfixturevalue("postgres_database")
    context = Context.open(Settings(data_dir=tmp_path / "data", provisioning_seconds=0, database_url=url))
    yield context
    context.store.dispose()


def principal(ctx: Context) -> Principal:
    login = ensure_defaults(ctx)
    assert login is not None
    return Principal(
        client_id="test",
        xsappname="test",
        scopes=frozenset(),
        grant_type="password",
        subaccount_id=login["subaccount"],
        global_account_id=login["globalAccount"],
        user_name="dev@example.com",
    )


def create_environment(ctx: Context, p: Principal) -> str:
    body = {
        "environmentType": "kyma",
        "parameters": {"name": "lease-rt", "region": "eu-central-1"},
        "planName": "aws",
        "serviceName": "kymaruntime",
    }
    env, _ = EnvironmentService(ctx).create(p, body)
    return env.id


def worker(ctx: Context, runtimes: Runtimes, **kwargs: Any) -> LifecycleWorker:
    return LifecycleWorker(ctx, runtimes, BindingService(ctx, runtimes), configure_runtimes=False, **kwargs)


def in_thread(fn: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


def environment(ctx: Context, env_id: str) -> dict[str, Any] | None:
    with ctx.store.read() as conn:
        row = conn.execute(sa.select(environments).where(environments.c.id == env_id)).first()
    return None if row is None else row._asdict()


def operation(ctx: Context, env_id: str, type_: str = "provision") -> dict[str, Any]:
    with ctx.store.read() as conn:
        row = conn.execute(
            sa.select(operations).where(operations.c.environment_id == env_id, operations.c.type == type_)
        ).one()
    return row._asdict()


def test_a_step_slower_than_its_lease_is_never_run_twice(ctx: Context) -> None:
    env_id = create_environment(ctx, principal(ctx))
    runtimes = Runtimes("shared")
    a, b = worker(ctx, runtimes, lease_seconds=LEASE), worker(ctx, runtimes, lease_seconds=LEASE)
    first = in_thread(a.run_due)
    assert runtimes.started.wait(10)
    b.start()  # polls every 0.2 s for due operations whose lease lapsed
    try:
        deadline = time.monotonic() + 6 * LEASE  # the step runs six leases long: the heartbeat renews it
        while time.monotonic() < deadline:
            assert runtimes.created == [env_id.lower()], "another worker ran the step while it was running"
            time.sleep(0.05)
        runtimes.release.set()
        first.join(10)
    finally:
        runtimes.release.set()
        b.stop()
    assert runtimes.created == [env_id.lower()]
    assert operation(ctx, env_id)["state"] == "succeeded"
    assert operation(ctx, env_id)["attempts"] == 1
    assert (environment(ctx, env_id) or {})["state"] == "OK"


def test_a_worker_that_lost_its_lease_cannot_commit_its_late_result(ctx: Context) -> None:
    env_id = create_environment(ctx, principal(ctx))
    stalled, successor = Runtimes("stalled"), Runtimes("successor")
    a = worker(ctx, stalled, lease_seconds=LEASE, renew_every=3600)  # a worker whose heartbeat stopped
    b = worker(ctx, successor, lease_seconds=30)
    first = in_thread(a.run_due)
    try:
        assert stalled.started.wait(10)
        b.start()
        assert successor.started.wait(10), "the lapsed lease was never taken over"
        taken_over = operation(ctx, env_id)
        stalled.release.set()  # the stalled worker finishes while the successor holds the lease
        first.join(10)
        assert not first.is_alive()
        env = environment(ctx, env_id)
        assert env is not None and env["state"] == "CREATING" and env["cluster_access"] is None
        assert operation(ctx, env_id) == taken_over  # pending, the successor's lease untouched
    finally:
        stalled.release.set()
        successor.release.set()
        b.stop()
    assert (environment(ctx, env_id) or {})["labels"]["APIServerURL"].startswith("https://successor.example/")
    assert operation(ctx, env_id)["state"] == "succeeded"


def test_a_live_lease_is_not_taken_over(ctx: Context) -> None:
    env_id = create_environment(ctx, principal(ctx))
    holder, other = Runtimes("holder"), Runtimes("other", blocking=False)
    a, b = worker(ctx, holder), worker(ctx, other)  # the default 15 s lease
    first = in_thread(a.run_due)
    try:
        assert holder.started.wait(10)
        owner = operation(ctx, env_id)["lease_owner"]
        assert b.run_due() == 0
        assert other.created == [] and operation(ctx, env_id)["lease_owner"] == owner
    finally:
        holder.release.set()
        first.join(10)
    assert (environment(ctx, env_id) or {})["labels"]["APIServerURL"].startswith("https://holder.example/")


def test_a_superseded_operations_late_finish_is_ignored(ctx: Context) -> None:
    p = principal(ctx)
    env_id = create_environment(ctx, p)
    creating, deleting = Runtimes("creating"), Runtimes("deleting", blocking=False)
    a, b = worker(ctx, creating, lease_seconds=LEASE), worker(ctx, deleting, lease_seconds=LEASE)
    first = in_thread(a.run_due)
    try:
        assert creating.started.wait(10)
        EnvironmentService(ctx).delete(p, env_id)  # a delete while the create runs supersedes it
        deadline = time.monotonic() + 4 * LEASE
        while time.monotonic() < deadline:  # the delete waits for the running create to end
            assert b.run_due() == 0 and deleting.deleted == []
            time.sleep(0.05)
    finally:
        creating.release.set()
        first.join(10)
    env = environment(ctx, env_id)
    assert env is not None and env["state"] == "DELETING" and env["cluster_access"] is None
    assert "APIServerURL" not in env["labels"]
    assert operation(ctx, env_id)["state"] == "canceled"
    assert b.run_due() == 1  # now the delete runs at once: the finished create released its lease
    assert deleting.deleted == [env_id.lower()]
    assert environment(ctx, env_id) is None
    assert operation(ctx, env_id, "deprovision")["state"] == "succeeded"


class StagedRuntimes(Runtimes):
    """A cluster that takes ``polls`` status calls to become ready; ``status`` blocks until ``unblock``
    once ``block_status`` is set (a worker that dies while waiting on the backend)."""

    def __init__(self, name: str, polls: int, *, failed: str | None = None) -> None:
        super().__init__(name, blocking=False)
        self.polls = polls
        self.failed = failed
        self.status_calls = 0
        self.block_status = False
        self.polling = threading.Event()
        self.unblock = threading.Event()

    def status(self, cluster_id: str) -> Progress:
        self.status_calls += 1
        self.polling.set()
        if self.block_status:
            assert self.unblock.wait(30), "the test never unblocked status"
        if self.failed:
            return Progress(False, failed=self.failed)
        if self.status_calls <= self.polls:
            return Progress(
                False, f"Shoot is being created ({self.status_calls}/{self.polls})", retry_after=60
            )
        return DONE

    def access(self, cluster_id: str) -> ClusterAccess | None:
        """The cluster is the backend's, whichever worker asked for it."""
        return ClusterAccess(
            server=f"https://{self.name}.example/clusters/{cluster_id}", ca_data="", token="t"
        )


def test_a_create_in_steps_shows_progress_and_resumes_at_its_step(ctx: Context) -> None:
    env_id = create_environment(ctx, principal(ctx))
    runtimes = StagedRuntimes("staged", polls=25)
    w = worker(ctx, runtimes)
    assert w.run_due() == 1
    op = operation(ctx, env_id)
    assert op["state"] == "pending" and op["data"]["step"] == "wait_for_runtime" and op["lease_until"] is None
    env = environment(ctx, env_id) or {}
    assert env["state"] == "CREATING" and env["state_message"] == ("Shoot is being created (1/25)")
    assert w.run_due() == 0  # not due again before its retry_after
    for _ in range(20):  # 20 service-clock minutes later KEB says it takes longer than usual
        ctx.clock.advance(60)
        assert w.run_due() == 1
    assert (environment(ctx, env_id) or {})["state_message"].startswith(
        "Operation created. Cluster provisioning takes longer than usual."
    )
    for _ in range(5):
        ctx.clock.advance(60)
        w.run_due()
    assert (environment(ctx, env_id) or {})["state"] == "OK"
    assert runtimes.created == [env_id.lower()]  # create ran once; every later attempt resumed at its step
    assert runtimes.status_calls == 26
    assert operation(ctx, env_id)["state"] == "succeeded"


def test_a_worker_killed_while_waiting_on_the_backend_is_resumed_at_that_step(ctx: Context) -> None:
    env_id = create_environment(ctx, principal(ctx))
    dying = StagedRuntimes("dying", polls=0)
    dying.block_status = True
    a = worker(ctx, dying, lease_seconds=LEASE, renew_every=3600)  # its heartbeat stopped: it died
    first = in_thread(a.run_due)
    successor = StagedRuntimes("successor", polls=0)
    b = worker(ctx, successor, lease_seconds=30)
    try:
        assert dying.polling.wait(10)
        assert operation(ctx, env_id)["data"]["step"] == "wait_for_runtime"  # recorded before it ran
        time.sleep(2 * LEASE)
        assert b.run_due() == 1
    finally:
        dying.unblock.set()
        first.join(10)
    assert dying.created == [env_id.lower()] and successor.created == []  # no second create
    assert successor.status_calls == 1
    env = environment(ctx, env_id) or {}
    assert env["state"] == "OK" and env["labels"]["APIServerURL"].startswith("https://successor.example/")


def test_a_step_that_fails_fails_the_create(ctx: Context) -> None:
    failing = create_environment(ctx, principal(ctx))
    worker(ctx, StagedRuntimes("f", polls=0, failed="quota exceeded for machine type")).run_due()
    assert (environment(ctx, failing) or {})["state"] == "CREATION_FAILED"
    assert (environment(ctx, failing) or {})["state_message"] == "quota exceeded for machine type"


def test_a_step_past_its_timeout_fails_the_create(ctx: Context) -> None:
    slow = create_environment(ctx, principal(ctx))
    never = StagedRuntimes("never", polls=10**6)
    w = worker(ctx, never)
    for _ in range(62):
        w.run_due()
        ctx.clock.advance(60)
    env = environment(ctx, slow) or {}
    assert env["state"] == "CREATION_FAILED" and env["state_message"] == "Runtime resource not in Ready state"
    assert operation(ctx, slow)["state"] == "failed"


def test_a_recorded_operation_wakes_the_worker_before_its_next_poll(ctx: Context) -> None:
    """The worker of this process is told of a new operation once it is committed; polling (here once an
    hour) is only how other replicas' operations are found."""
    ctx.settings.worker_interval = 3600
    runtimes = Runtimes("awake", blocking=False)
    w = worker(ctx, runtimes)
    w.start()
    try:
        p = principal(ctx)
        time.sleep(0.2)  # the worker's first pass found nothing and it sleeps until woken
        env_id = create_environment(ctx, p)
        deadline = time.monotonic() + 30
        while (environment(ctx, env_id) or {}).get("state") != "OK":
            assert time.monotonic() < deadline, "the create waited for the worker's next poll"
            time.sleep(0.05)
    finally:
        w.stop()
    assert not w.alive
