"""The 1.33 schemas of every built-in kind, and decoding a body against them as kube-apiserver does.

The source is ``kubernetes-validate``'s ``v1.33.0-local/_definitions.json`` (JSON-Schema ``$defs``
with the ``x-kubernetes-*`` extensions). It is 1.4 MB, so it is read on first need (a write, an
OpenAPI document) and kept; importing the server does not pay for it.

``decode`` plays Go's JSON decoder on the typed object: a value of the wrong JSON type is a 400
(``json: cannot unmarshal string into Go struct field ContainerPort...``); unknown fields are
dropped from what is stored, and reported per ``fieldValidation`` (Strict: 400
``strict decoding error``, Warn: ``Warning`` headers, Ignore: nothing), duplicate fields likewise.
``required_causes`` gives the 422 causes for required fields that are missing.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kymaprov.kubeapi.bodies import go_type
from kymaprov.kubeapi.errors import BadRequest

SCHEMA_DIR = "kubernetes-json-schema/v1.33.0-local"
REF_PREFIX = "#/$defs/"
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
FIELD_VALIDATIONS = ("Ignore", "Warn", "Strict")


@functools.cache
def definitions() -> dict[str, Any]:
    """Every ``$defs`` entry of the 1.33 definitions, keyed by name (``io.k8s.api.apps.v1.Deployment``)."""
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or spec.origin is None:
        raise RuntimeError("kubernetes-validate is not installed")
    path = Path(spec.origin).parent / SCHEMA_DIR / "_definitions.json"
    with path.open(encoding="utf-8") as handle:
        return dict(json.load(handle)["$defs"])


@functools.cache
def _by_gvk() -> dict[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or ():
            index.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return index


def definition_name(group: str, version: str, kind: str) -> str | None:
    """The definition of a kind (``apps``, ``v1``, ``Deployment`` -> ``io.k8s.api.apps.v1.Deployment``)."""
    return _by_gvk().get((group, version, kind))


def resolve(schema: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Follow ``$ref`` (also inside a one-element ``allOf``); the schema and its definition name."""
    name = ""
    while True:
        ref = schema.get("$ref")
        if ref is None and len(schema.get("allOf") or ()) == 1:
            ref = schema["allOf"][0].get("$ref")
        if not ref:
            return schema, name
        name = ref[len(REF_PREFIX) :]
        schema = definitions()[name]


def _types(schema: dict[str, Any]) -> set[str]:
    declared = schema.get("type")
    if declared is None:
        if "oneOf" in schema:  # IntOrString, Quantity
            return {t for option in schema["oneOf"] for t in _types(option)}
        return set()
    return {declared} - {"null"} if isinstance(declared, str) else set(declared) - {"null"}


def _go_type(schema: dict[str, Any]) -> str:
    """The Go type a schema stands for, as the decoder's errors print it."""
    schema, name = resolve(schema)
    if name:
        parts = name.split(".")
        return f"{parts[-2]}.{parts[-1]}"
    types = _types(schema)
    fmt = schema.get("format", "")
    if "array" in types:
        return "[]" + _go_type(schema.get("items") or {})
    if "object" in types:
        values = schema.get("additionalProperties")
        return "map[string]" + (_go_type(values) if isinstance(values, dict) else "interface {}")
    if "integer" in types:
        return fmt if fmt in ("int32", "int64") else "int"
    if "number" in types:
        return "float64"
    if "boolean" in types:
        return "bool"
    if fmt == "byte":
        return "[]uint8"
    return "string"


def _json_kind(value: Any) -> str:
    """The JSON type Go's decoder names in an ``UnmarshalTypeError`` (numbers with their text)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"number {json.dumps(value)}"
    return go_type(value)


def _fits(value: Any, schema: dict[str, Any], types: set[str]) -> bool:
    if not types:
        return True
    if isinstance(value, bool):
        return "boolean" in types
    if isinstance(value, int):
        if "integer" in types:
            low, high = INT32 if schema.get("format") == "int32" else INT64
            return low <= value <= high
        return "number" in types
    if isinstance(value, float):
        return "number" in types
    if isinstance(value, str):
        return "string" in types
    if isinstance(value, list):
        return "array" in types
    return isinstance(value, dict) and "object" in types


@dataclass
class FieldValidation:
    """What a write request asked for (``fieldValidation``) and what decoding found."""

    directive: str = "Warn"
    duplicates: list[str] = field(default_factory=list)  # JSON paths of fields given twice
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, value: str | None) -> FieldValidation:
        directive = value or "Warn"  # kube-apiserver's default when the parameter is absent
        if directive not in FIELD_VALIDATIONS:
            raise BadRequest(
                f'fieldValidation: Unsupported value: "{directive}": supported values: '
                + ", ".join(f'"{v}"' for v in FIELD_VALIDATIONS)
            )
        return cls(directive)


IGNORE = FieldValidation("Ignore")


class _TypeError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _walk(
    value: Any, schema: dict[str, Any], path: str, go_path: str, struct: str, unknown: list[str]
) -> None:
    """Check ``value`` against ``schema`` (already resolved); prune and record unknown fields."""
    if isinstance(value, dict):
        properties = schema.get("properties")
        if properties is not None:
            for key in list(value):
                child = value[key]
                prop = properties.get(key)
                if prop is None:
                    unknown.append(_join(path, key))
                    del value[key]
                    continue
                if child is None:
                    continue
                _check(child, prop, _join(path, key), _join(go_path, key), struct, unknown)
            return
        values = schema.get("additionalProperties")
        if isinstance(values, dict):
            for key, child in value.items():
                if child is not None:
                    _check(child, values, f"{path}[{key}]", go_path, struct, unknown)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for index, child in enumerate(value):
                if child is not None:
                    _check(child, items, f"{path}[{index}]", go_path, struct, unknown)


def _check(
    value: Any, schema: dict[str, Any], path: str, go_path: str, struct: str, unknown: list[str]
) -> None:
    resolved, name = resolve(schema)
    types = _types(resolved)
    if not _fits(value, resolved, types):
        raise _TypeError(
            f"json: cannot unmarshal {_json_kind(value)} into Go struct field {struct}.{go_path} "
            f"of type {_go_type(schema)}"
        )
    if resolved.get("x-kubernetes-preserve-unknown-fields"):
        return
    _walk(value, resolved, path, go_path, name.rsplit(".", 1)[-1] if name else struct, unknown)


TypeMismatch = _TypeError  # what ``prune_definition`` raises: Go's decoder refusing a value's type


def prune_definition(value: dict[str, Any], name: str, path: str, unknown: list[str]) -> None:
    """Type-check ``value`` against definition ``name`` and prune it, collecting unknown fields'
    paths (custom resources' ``metadata`` against ObjectMeta); raises ``TypeMismatch``."""
    _walk(value, definitions()[name], path, path, name.rsplit(".", 1)[-1], unknown)


def report(kind: str, version: str, unknown: list[str], validation: FieldValidation) -> None:
    """Unknown and duplicate fields per ``fieldValidation``: Strict is a 400, Warn a warning."""
    problems = [f'duplicate field "{p}"' for p in validation.duplicates]
    problems += [f'unknown field "{p}"' for p in unknown]
    validation.duplicates = []  # reported once, even if the body is decoded again (apply creating)
    if not problems:
        return
    if validation.directive == "Strict":
        raise BadRequest(
            f'{kind} in version "{version}" cannot be handled as a {kind}: strict decoding error: '
            + ", ".join(problems)
        )
    if validation.directive == "Warn":
        validation.warnings += [p for p in problems if p not in validation.warnings]


def decode(group: str, version: str, kind: str, obj: dict[str, Any], validation: FieldValidation) -> None:
    """Type-check ``obj`` in place against its kind's schema and drop unknown fields.

    Raises ``BadRequest`` for a value of the wrong type, and for unknown or duplicate fields under
    ``Strict``; under ``Warn`` they become ``validation.warnings``.
    """
    name = definition_name(group, version, kind)
    if name is None:
        return
    unknown: list[str] = []
    try:
        _walk(obj, definitions()[name], "", "", kind, unknown)
    except _TypeError as exc:
        raise BadRequest(
            f'{kind} in version "{version}" cannot be handled as a {kind}: {exc.message}'
        ) from exc
    report(kind, version, unknown, validation)


def required_causes(group: str, version: str, kind: str, obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``Required value`` causes for fields the schema requires, outside ``status`` (controllers own it)."""
    name = definition_name(group, version, kind)
    if name is None:
        return []
    causes: list[tuple[str, str, str]] = []
    stack: list[tuple[Any, dict[str, Any], str]] = [(obj, definitions()[name], "")]
    while stack:
        value, schema, path = stack.pop()
        schema, _ = resolve(schema)
        if isinstance(value, dict) and "properties" in schema:
            for key in schema.get("required") or ():
                if value.get(key) is None and key not in ("apiVersion", "kind", "metadata"):
                    causes.append((_join(path, key), "FieldValueRequired", "Required value"))
            for key, child in value.items():
                prop = schema["properties"].get(key)
                if prop is not None and child is not None and not (key == "status" and not path):
                    stack.append((child, prop, _join(path, key)))
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            stack.extend((child, schema["items"], f"{path}[{i}]") for i, child in enumerate(value))
    return sorted(causes)
