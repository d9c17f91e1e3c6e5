"""Accounts' credential checks, in process: what work they do, not how long they take.

The project runs no timed tests; the timing itself is measured by ``bench/bench_token_timing.py``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kymaprov.accounts import models as accounts
from kymaprov.config import Settings
from kymaprov.context import Context


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Context]:
    context = Context.open(Settings(data_dir=tmp_path / "data"))
    yield context
    context.store.dispose()


@pytest.fixture
def login(ctx: Context) -> dict[str, Any]:
    created = accounts.ensure_defaults(ctx)
    assert created is not None
    return created


def count_calls(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[tuple[Any, ...]]:
    """Record each call of ``module.name`` (the real function still runs)."""
    calls: list[tuple[Any, ...]] = []
    real = getattr(module, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, tuple(sorted(kwargs.items()))))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


def test_an_unknown_user_costs_the_same_scrypt_as_a_wrong_password(
    ctx: Context, login: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, an unknown user skipped scrypt: 2.7 ms against 62 ms told which users exist."""
    calls = count_calls(monkeypatch, hashlib, "scrypt")
    assert accounts.authenticate_user(ctx, login["user"], "wrong") is None
    known = list(calls)
    calls.clear()
    assert accounts.authenticate_user(ctx, "nobody@example.com", "wrong") is None
    assert len(known) == len(calls) == 1
    (_, known_params), (_, unknown_params) = known[0], calls[0]
    assert dict(known_params).keys() == dict(unknown_params).keys() >= {"n", "r", "p", "salt"}
    assert {k: v for k, v in known_params if k != "salt"} == {k: v for k, v in unknown_params if k != "salt"}
    calls.clear()
    assert accounts.authenticate_user(ctx, "no\x00body", "wrong") is None  # never queried, same work
    assert len(calls) == 1
    user = accounts.authenticate_user(ctx, login["user"], login["password"])
    assert user is not None and user.username == login["user"]


def test_the_admin_token_is_compared_in_constant_time(
    ctx: Context, login: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_calls(monkeypatch, hmac, "compare_digest")
    assert accounts.check_admin_token(ctx, login["adminToken"])
    assert not accounts.check_admin_token(ctx, login["adminToken"][:-1] + "x")
    assert len(calls) == 2
