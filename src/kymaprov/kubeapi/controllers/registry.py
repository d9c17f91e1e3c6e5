"""Finds the controllers: every module of this package that lists some in ``CONTROLLERS``."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from kymaprov.kubeapi import controllers
from kymaprov.kubeapi.controllers.base import Controller

# modules of the package that are machinery, not controllers
_MACHINERY = {"base", "client", "events", "graph", "manager", "registry"}


@cache
def all_controllers() -> tuple[Controller, ...]:
    """Every registered controller, in a stable order (by ``order`` then name; the garbage collector
    first, as its deletes make work for the others)."""
    found: list[Controller] = []
    for module in pkgutil.walk_packages(controllers.__path__, controllers.__name__ + "."):
        if module.name.rsplit(".", 1)[-1] in _MACHINERY:
            continue
        loaded = importlib.import_module(module.name)
        found.extend(getattr(loaded, "CONTROLLERS", ()))
    return tuple(sorted(found, key=lambda c: (getattr(c, "order", 100), c.name)))


def kept_kinds(chosen: tuple[Controller, ...]) -> frozenset[tuple[str, str]]:
    """The kinds whose whole bodies some controller reads."""
    return frozenset(kind for c in chosen for kind in c.kinds)
