"""Polling for a state that arrives asynchronously (controllers, lifecycle steps, restarts)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30, interval: float = 0.1) -> Any:
    """``check()``'s first truthy value, polled every ``interval`` seconds; an assertion naming ``what``
    after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)
