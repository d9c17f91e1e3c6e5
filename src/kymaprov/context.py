"""The shared, HTTP-free services every component is built on."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from kymaprov.clock import Clock
from kymaprov.config import Settings
from kymaprov.crypto import Sealer, load_or_create_master_key
from kymaprov.store import Store


@dataclass
class Context:
    settings: Settings
    store: Store
    clock: Clock
    sealer: Sealer
    # set once an operation is recorded (after its commit): wakes this process's lifecycle worker at
    # once rather than at its next poll; other replicas find the operation by polling
    operations_due: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    @classmethod
    def open(cls, settings: Settings) -> Context:
        """Open (and if needed initialise) the state of one installation.

        Creates the tables declared so far: each layer's ``models`` registers its tables on
        ``store.metadata`` when imported, and the composition root (``server.py``) imports every layer
        first (tests/test_boundaries.py checks it does), so this module need not know the layers.
        """
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(settings.data_dir, 0o700)
        key = load_or_create_master_key(
            str(settings.data_dir / "master.key"),
            settings.secret_key or os.environ.get("KYMAPROV_SECRET_KEY"),
        )
        store = Store(settings.db_url)
        store.create_all()
        return cls(settings=settings, store=store, clock=Clock(store), sealer=Sealer(key))
