"""The body of a fault rule for kymaprov's ``POST /admin/faults`` (the CLI and the pytest plugin)."""

from __future__ import annotations

from typing import Any


def fault_rule(
    method: str,
    path: str,
    *,
    status: int | None = None,
    delay: float | None = None,
    retry_after: int | None = None,
    count: int | None = None,
    seconds: float | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """``method`` (or ``*``) requests whose path matches the glob ``path`` answer ``status`` and/or
    come ``delay`` seconds late, for ``count`` requests and/or ``seconds`` of service time."""
    rule: dict[str, Any] = {"method": method, "path": path}
    for key, value in (
        ("status", status),
        ("delayMs", None if delay is None else int(delay * 1000)),
        ("retryAfter", retry_after),
        ("count", count),
        ("seconds", seconds),
        ("message", message),
    ):
        if value is not None:
            rule[key] = value
    return rule
