"""Waiters against scripted state sequences, with a fake clock and sleep (no real waiting)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kymaprov.client import (
    AsyncProvisioningClient,
    Environment,
    NotFoundError,
    OperationFailed,
    ProvisioningClient,
    WaitTimeout,
)
from tests.client.conftest import FakeClock, FakeUaa, error

MakeClient = Callable[..., tuple[ProvisioningClient, FakeUaa]]
MakeAsyncClient = Callable[..., tuple[AsyncProvisioningClient, FakeUaa]]


def env(state: str, message: str = "") -> dict[str, Any]:
    return {"id": "ENV-1", "state": state, "stateMessage": message, "environmentType": "kyma"}


def states(*items: dict[str, Any] | httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(items)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "GET" and request.url.path == "/provisioning/v1/environments/ENV-1"
        item = queue.pop(0)
        return item if isinstance(item, httpx.Response) else httpx.Response(200, json=item)

    return handler


def test_create_passing_through_updating_ends_at_ok(make_client: MakeClient, clock: FakeClock) -> None:
    client, uaa = make_client(states(env("CREATING"), env("CREATING"), env("UPDATING"), env("OK", "done")))
    polls: list[tuple[str, float]] = []
    result = client.wait_until_ready(
        "ENV-1", timeout=600, interval=30, on_poll=lambda e, elapsed: polls.append((e.state, elapsed))
    )
    assert result.state == "OK" and result.state_message == "done"
    assert polls == [("CREATING", 0), ("CREATING", 30), ("UPDATING", 60), ("OK", 90)]
    assert clock.sleeps == [30, 30, 30]
    assert len(uaa.api_requests) == 4


def test_creation_failed_raises_with_the_state_message(make_client: MakeClient, clock: FakeClock) -> None:
    reason = "Failed to execute provisioning job, reason: ingress filtering option is not available."
    client, _ = make_client(states(env("CREATING"), env("CREATION_FAILED", reason)))
    with pytest.raises(OperationFailed) as info:
        client.wait_until_ready("ENV-1", interval=5)
    assert info.value.state == "CREATION_FAILED"
    assert info.value.state_message == reason
    assert reason in str(info.value)
    assert info.value.environment is not None and info.value.environment.id == "ENV-1"
    assert clock.sleeps == [5]


@pytest.mark.parametrize("state", ["UPDATE_FAILED", "DELETION_FAILED"])
def test_other_failed_states_raise(make_client: MakeClient, state: str) -> None:
    client, _ = make_client(states(env("UPDATING"), env(state, "broken")))
    with pytest.raises(OperationFailed) as info:
        client.wait_until_ready("ENV-1", interval=1)
    assert info.value.state == state and info.value.state_message == "broken"


def test_ready_wait_times_out_on_the_injected_clock(make_client: MakeClient, clock: FakeClock) -> None:
    client, _ = make_client(states(*[env("CREATING")] * 5))
    with pytest.raises(WaitTimeout) as info:
        client.wait_until_ready("ENV-1", timeout=25, interval=10)
    # polls at 0, 10, 20, 25: the last sleep is shortened to end exactly at the deadline
    assert clock.sleeps == [10, 10, 5]
    assert info.value.elapsed == 25
    assert info.value.environment is not None and info.value.environment.state == "CREATING"
    assert "CREATING" in str(info.value)


def test_deleting_while_waiting_for_ready_fails_fast(make_client: MakeClient) -> None:
    client, _ = make_client(states(env("CREATING"), env("DELETING")))
    with pytest.raises(OperationFailed) as info:
        client.wait_until_ready("ENV-1", interval=1)
    assert info.value.state == "DELETING"


def test_ready_wait_propagates_404(make_client: MakeClient) -> None:
    client, _ = make_client(states(error(404, 41000, "Environment instance not found")))
    with pytest.raises(NotFoundError) as info:
        client.wait_until_ready("ENV-1")
    assert info.value.code == 41000


def test_ready_wait_rides_over_a_transient_5xx(make_client: MakeClient, clock: FakeClock) -> None:
    client, _ = make_client(states(env("CREATING"), error(503, 1, "x"), env("OK")))
    assert client.wait_until_ready("ENV-1", interval=10).state == "OK"
    assert clock.sleeps == [10, 0.5]


def test_wait_until_deleted_ends_on_404(make_client: MakeClient, clock: FakeClock) -> None:
    client, _ = make_client(
        states(env("DELETING"), env("DELETING"), error(404, 41000, "Environment instance not found"))
    )
    seen: list[Environment] = []
    client.wait_until_deleted("ENV-1", interval=60, on_poll=lambda e, _: seen.append(e))
    assert [e.state for e in seen] == ["DELETING", "DELETING"]
    assert clock.sleeps == [60, 60]


def test_wait_until_deleted_raises_on_deletion_failed_and_times_out(
    make_client: MakeClient, clock: FakeClock
) -> None:
    client, _ = make_client(states(env("DELETING"), env("DELETION_FAILED", "cluster stuck")))
    with pytest.raises(OperationFailed) as failed:
        client.wait_until_deleted("ENV-1", interval=1)
    assert failed.value.state_message == "cluster stuck"

    client, _ = make_client(states(*[env("DELETING")] * 3))
    with pytest.raises(WaitTimeout):
        client.wait_until_deleted("ENV-1", timeout=2, interval=1)


def test_async_waiters(make_async_client: MakeAsyncClient, clock: FakeClock) -> None:
    client, _ = make_async_client(
        states(env("CREATING"), env("UPDATING"), env("OK"), env("DELETING"), error(404, 41000, "gone"))
    )

    async def main() -> str:
        ready = await client.wait_until_ready("ENV-1", interval=7)
        await client.wait_until_deleted("ENV-1", interval=3)
        return ready.state

    assert asyncio.run(main()) == "OK"
    assert clock.sleeps == [7, 7, 3]
