"""The btp-operator's wake-ups: like the real operator's informers, it passes over a runtime after writes
to the kinds it watches (ServiceInstances, ServiceBindings, Secrets) and ignores writes to others."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from kymaprov.backends.base import ClusterAccess
from kymaprov.btpoperator import BtpOperator

OTHER = frozenset({("apps", "deployments"), ("", "configmaps")})


@pytest.fixture
def operator() -> Iterator[tuple[BtpOperator, list[str]]]:
    """An operator whose passes are recorded (``access`` is the first thing a pass asks for)."""
    passes: list[str] = []
    lock = threading.Lock()

    def access(cluster_id: str) -> ClusterAccess | None:
        with lock:
            passes.append(cluster_id)
        return None  # nothing to reach: the pass ends there

    op = BtpOperator(lambda: {}, access, resync_seconds=3600, min_interval=0.0)
    op.start()
    time.sleep(0.2)  # the first resync pass over versions() (none) is done
    try:
        yield op, passes
    finally:
        op.stop()


def settle(passes: list[str], count: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(passes) < count and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize(
    "kinds",
    [
        frozenset({("services.cloud.sap.com", "serviceinstances")}),
        frozenset({("services.cloud.sap.com", "servicebindings")}),
        OTHER | {("", "secrets")},
        None,  # unknown (another process wrote): any kind may have changed
    ],
)
def test_a_write_to_a_watched_kind_wakes_the_operator(
    operator: tuple[BtpOperator, list[str]], kinds: frozenset[tuple[str, str]] | None
) -> None:
    op, passes = operator
    op.notify("c1", kinds)
    settle(passes, 1)
    assert passes == ["c1"]


def test_writes_to_other_kinds_do_not(operator: tuple[BtpOperator, list[str]]) -> None:
    op, passes = operator
    for _ in range(5):
        op.notify("c1", OTHER)
    op.notify("c2", frozenset({("services.cloud.sap.com", "servicebindings")}))
    settle(passes, 1)
    time.sleep(0.3)  # time enough for a wrongly woken pass over c1 as well
    assert passes == ["c2"]
