"""The shared, HTTP-free services every component is built on."""

from __future__ import annotations

import os
from dataclasses import dataclass

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

    @classmethod
    def open(cls, settings: Settings) -> Context:
        """Open (and if needed initialise) the state of one installation."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(settings.data_dir, 0o700)
        key = load_or_create_master_key(
            str(settings.data_dir / "master.key"),
            settings.secret_key or os.environ.get("KYMAPROV_SECRET_KEY"),
        )
        store = Store(settings.db_url)
        _import_all_tables()
        store.create_all()
        return cls(settings=settings, store=store, clock=Clock(store), sealer=Sealer(key))


def _import_all_tables() -> None:
    """Every module that declares tables registers them on ``metadata`` when imported."""
    import kymaprov.accounts.models
    import kymaprov.cis.models
    import kymaprov.kubeapi.models
    import kymaprov.provisioning.models
    import kymaprov.uaa.models  # noqa: F401
