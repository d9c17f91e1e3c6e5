"""Failed-authentication limits of the token endpoint.

Only failures count, so a client that authenticates correctly is never slowed down however often it
asks for tokens. Each key (a client id, a user name, a remote address) may fail ``limit`` times within
``window`` seconds; after that every request for the key is refused, even a correct one, until the
oldest of those failures leaves the window: a guesser learns nothing while blocked. The state lives in
this process's memory, so each replica counts on its own.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

CLIENT_FAILURES = 10  # per client id (or user name of the password grant) within the window
ADDRESS_FAILURES = 50  # per remote address: many clients may share one address (NAT, CI runners)
# environment overrides, e.g. for a load test; 0 turns a limit off
CLIENT_FAILURES_ENV = "KYMAPROV_TOKEN_FAILURE_LIMIT"
ADDRESS_FAILURES_ENV = "KYMAPROV_TOKEN_ADDRESS_FAILURE_LIMIT"
WINDOW_SECONDS = 60.0
MAX_KEYS = 100_000  # bounds memory under a spray of ever new client ids


class FailureLimiter:
    """A sliding window of failure times per key; thread-safe."""

    def __init__(
        self, limit: int, window: float = WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, name: str, default: int) -> FailureLimiter:
        value = os.environ.get(name, "")
        return cls(int(value) if value.isdigit() else default)

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until every key may try again; 0 if none is blocked (or the limit is off)."""
        if self.limit <= 0:
            return 0.0
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if times is not None and len(times) >= self.limit:
                    wait = max(wait, times[-self.limit] + self.window - now)
        return wait

    def failed(self, keys: Iterable[str]) -> None:
        if self.limit <= 0:
            return
        now = self._clock()
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if times is None:
                    if len(self._failures) >= MAX_KEYS:
                        self._prune(now)
                    times = self._failures[key] = deque(maxlen=self.limit)
                times.append(now)

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def _prune(self, now: float) -> None:
        """Forget keys whose failures have all left the window, else the oldest half."""
        for key in list(self._failures):
            self._recent(key, now)
        if len(self._failures) >= MAX_KEYS:
            oldest = sorted(self._failures, key=lambda k: self._failures[k][-1])
            for key in oldest[: len(oldest) // 2]:
                del self._failures[key]
