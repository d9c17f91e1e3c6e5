"""Strict JSON for what clients send: every malformed text is an ``InvalidJSON``, never a crash.

``json.loads`` accepts what no other JSON client can read back: ``NaN``/``Infinity``, ``1e400``
(parsed as infinity and served back as ``Infinity``), lone UTF-16 surrogates (``"\\ud800"``, which
cannot be encoded as UTF-8), and nesting deep enough to make later processing raise
``RecursionError``. ``loads`` refuses all of them, and ``check`` applies the same rules to a value
decoded some other way (YAML), so nothing stored can break a client or the server on the way out.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["MAX_DEPTH", "InvalidJSON", "check", "duplicate_keys", "loads"]

# Deep enough for any real document (a CRD's schema nests a few dozen levels), shallow enough that
# recursive merging and copying stay far from Python's recursion limit.
MAX_DEPTH = 100

_SURROGATE = re.compile("[\ud800-\udfff]")
_NUL = "\x00"


class InvalidJSON(ValueError):
    """Text that is not strict JSON; the message says why, for the 400."""


def _no_constants(name: str) -> Any:
    raise InvalidJSON(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise InvalidJSON(f"number {text} is out of range")
    return value


def _bounded_int(text: str) -> int | float:
    value = int(text)
    try:
        float(value)
    except OverflowError:
        raise InvalidJSON(f"number {text[:32]}... is out of range") from None
    return value


def loads(text: str | bytes, *, allow_nul: bool = True) -> Any:
    """Parse ``text``; ``allow_nul=False`` also refuses NUL characters (PostgreSQL text cannot hold them)."""
    try:
        value = json.loads(
            text, parse_constant=_no_constants, parse_float=_finite_float, parse_int=_bounded_int
        )
    except InvalidJSON:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        if isinstance(exc, RecursionError):
            raise InvalidJSON(f"nested deeper than {MAX_DEPTH} levels") from exc
        raise InvalidJSON(str(exc)) from exc
    check(value, allow_nul=allow_nul)
    return value


def check(value: Any, *, allow_nul: bool = True, max_depth: int = MAX_DEPTH) -> None:
    """Raise ``InvalidJSON`` unless ``value`` can be written as JSON that every client reads back.

    Iterative, so a hostile depth cannot exhaust the stack; checks strings (keys too) for lone
    surrogates and NUL, numbers for finiteness, and the nesting depth.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_string(item, allow_nul)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidJSON(f"number {item} is out of range")
        elif isinstance(item, int):
            continue
        elif isinstance(item, dict | list):
            if depth > max_depth:
                raise InvalidJSON(f"nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        raise InvalidJSON(f"object keys must be strings, not {type(key).__name__}")
                    _check_string(key, allow_nul)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
        else:
            raise InvalidJSON(f"{type(item).__name__} is not a JSON value")


def _check_string(text: str, allow_nul: bool) -> None:
    if _SURROGATE.search(text):
        raise InvalidJSON("string contains a lone UTF-16 surrogate, which is not valid Unicode")
    if not allow_nul and _NUL in text:
        raise InvalidJSON("string contains a NUL character")


class _Pairs(dict[str, Any]):
    """An object as parsed, remembering the keys it was given more than once."""

    duplicates: list[str]


def _pairs(pairs: list[tuple[str, Any]]) -> _Pairs:
    obj = _Pairs(pairs)
    seen: set[str] = set()
    obj.duplicates = [k for k, _ in pairs if k in seen or seen.add(k)]  # type: ignore[func-returns-value]
    return obj


def duplicate_keys(text: str | bytes) -> list[str]:
    """Paths (``spec.template.spec.containers[0].name``) of keys an object of ``text`` repeats.

    The last value wins, as in ``loads`` and Go's decoder; kube-apiserver reports the repeats per
    ``fieldValidation``. Call it on text ``loads`` accepted.
    """
    try:
        value = json.loads(text, object_pairs_hook=_pairs)
    except (ValueError, RecursionError):
        return []
    found: list[str] = []
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, _Pairs):
            found += [f"{path}.{k}" if path else k for k in dict.fromkeys(item.duplicates)]
            stack.extend((v, f"{path}.{k}" if path else k) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((v, f"{path}[{i}]") for i, v in reversed(list(enumerate(item))))
    return found
