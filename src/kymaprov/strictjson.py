"""Strict JSON for what clients send: every malformed text is an ``InvalidJSON``, never a crash.

``json.loads`` accepts ``NaN`` and ``Infinity`` and lets deep nesting raise ``RecursionError``;
both would reach users as 500s. ``loads`` refuses them with a message that says why.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["InvalidJSON", "loads"]


class InvalidJSON(ValueError):
    """Text that is not strict JSON; the message says why, for the 400."""


def _no_constants(name: str) -> Any:
    raise InvalidJSON(f"{name} is not a JSON value")


def loads(text: str | bytes) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constants)
    except InvalidJSON:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidJSON("nested too deeply" if isinstance(exc, RecursionError) else str(exc)) from exc
