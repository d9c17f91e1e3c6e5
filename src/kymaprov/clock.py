"""The service clock: wall time plus an offset the emulator can advance.

All expiry decisions (tokens, bindings, provisioning delays) read this clock, so tests can jump
hours ahead without waiting. The offset lives in the store so that restarts and replicas agree.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa

from kymaprov.listeners import Listeners
from kymaprov.store import Store, settings

_OFFSET_KEY = "clock.offset_seconds"


class Clock:
    """Service time in epoch seconds; ``advance`` moves it forward for every component at once."""

    refresh_seconds = 0.5

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._offset = float(store.get_setting(_OFFSET_KEY, 0.0))
        self._read_at = time.monotonic()
        self._listeners: Listeners[[]] = Listeners()

    def listen(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` after every ``advance`` or ``reset`` made through this object (the
        runtimes' controllers move workloads at once); returns the function that stops it."""
        return self._listeners.add(callback)

    def _notify(self) -> None:
        self._listeners.call()

    def _current_offset(self) -> float:
        with self._lock:
            if time.monotonic() - self._read_at > self.refresh_seconds:
                self._offset = float(self._store.get_setting(_OFFSET_KEY, 0.0))
                self._read_at = time.monotonic()
            return self._offset

    def now(self) -> float:
        return time.time() + self._current_offset()

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def now_dt(self) -> datetime:
        return datetime.fromtimestamp(self.now(), tz=UTC)

    def offset(self) -> float:
        return self._current_offset()

    def advance(self, seconds: float) -> float:
        """Move service time forward (never back) and return the new offset."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._store.write() as conn:
            row = conn.execute(sa.select(settings.c.value).where(settings.c.key == _OFFSET_KEY)).first()
            offset = (float(row[0]) if row else 0.0) + seconds
            self._store.set_setting(_OFFSET_KEY, offset, conn)
        with self._lock:
            self._offset = offset
            self._read_at = time.monotonic()
        self._notify()
        return offset

    def reset(self) -> None:
        """Back to wall time, as on first start (no stored offset)."""
        with self._store.write() as conn:
            conn.execute(sa.delete(settings).where(settings.c.key == _OFFSET_KEY))
        with self._lock:
            self._offset = 0.0
            self._read_at = time.monotonic()
        self._notify()
