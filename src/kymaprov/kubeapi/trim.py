"""Give the heap that large replies freed back to the OS.

glibc's malloc keeps freed memory in its arenas (one per thread that allocated, up to 8 per core),
so after a burst of large lists the process stays near its peak RSS. ``limit_arenas`` caps them at
``ARENAS`` unless ``MALLOC_ARENA_MAX`` is set (threads mostly take turns under the GIL anyway), and
``malloc_trim(0)`` returns the free pages of every arena. Trimming walks the heap, so it runs once
per burst: ``SECONDS`` after the last large reply (while they keep coming, freed memory is reused
anyway), in a worker thread (ctypes releases the GIL). Without glibc both do nothing. Measured by
``bench/perf_runtime.py`` (``docs/performance.md``).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
from collections.abc import Callable

LARGE_BYTES = 256 * 1024
SECONDS = 1.0
ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter (malloc.h)


def _glibc(name: str) -> Callable[..., int] | None:
    try:
        fn: Callable[..., int] = getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return None
    return fn


def limit_arenas() -> None:
    """At most ``ARENAS`` malloc arenas from now on (before the server's threads start)."""
    mallopt = _glibc("mallopt")
    if mallopt is not None and "MALLOC_ARENA_MAX" not in os.environ:
        mallopt(_M_ARENA_MAX, ARENAS)


class Trimmer:
    """``replied(size)`` on the event loop after each reply; trims once after a burst of large ones."""

    def __init__(self) -> None:
        self._trim = _glibc("malloc_trim")
        self._timer: asyncio.TimerHandle | None = None

    def replied(self, size: int) -> None:
        if self._trim is None or size < LARGE_BYTES:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(SECONDS, self._run)

    def _run(self) -> None:
        self._timer = None
        if self._trim is not None:
            asyncio.get_running_loop().run_in_executor(None, self._trim, 0)
