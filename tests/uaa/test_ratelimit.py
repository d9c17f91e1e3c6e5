"""The failure limiter's window, with a fake clock (no sleeping)."""

from __future__ import annotations

import pytest

from kymaprov.uaa import ratelimit
from kymaprov.uaa.ratelimit import FailureLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_blocked_after_limit_failures_until_the_oldest_leaves_the_window() -> None:
    clock = FakeClock()
    limiter = FailureLimiter(3, window=60, clock=clock)
    for step in range(3):
        assert limiter.retry_after(["k"]) == 0
        limiter.failed(["k"])
        clock.now += 10 if step < 2 else 0
    assert limiter.retry_after(["k"]) == 40  # the first failure (at 1000) leaves the window at 1060
    assert limiter.retry_after(["other"]) == 0
    clock.now = 1060
    assert limiter.retry_after(["k"]) == 0
    limiter.failed(["k"])  # failures at 1010, 1020 and 1060: blocked until 1070
    assert limiter.retry_after(["other", "k"]) == 10


def test_memory_is_bounded_under_a_spray_of_new_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "MAX_KEYS", 100)
    clock = FakeClock()
    limiter = FailureLimiter(10, clock=clock)
    for i in range(1000):
        limiter.failed([f"k{i}"])
    assert len(limiter._failures) <= 100
