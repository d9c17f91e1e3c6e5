"""Structural schemas of CustomResourceDefinitions, as ``apiextensions-apiserver`` uses them.

Three jobs, each a walk of a custom resource against its version's ``openAPIV3Schema``:

- ``prune_and_default``: what the decoder does to a request body. Unknown fields are dropped (and
  reported per ``fieldValidation``, as for built-ins), ``null`` is dropped where the schema is not
  ``nullable``, and ``default`` values are filled in; ``x-kubernetes-preserve-unknown-fields`` keeps
  what it covers, ``x-kubernetes-embedded-resource`` keeps ``apiVersion``/``kind``/``metadata``.
- ``validate``: the 422 causes with kube-openapi's messages (``spec.replicas in body must be of type
  integer: "string"``), converted to field errors as ``kubeOpenAPIResultToFieldErrors`` does.
- ``structural_causes``: what makes a CRD's schema non-structural (a missing ``type``...).

CEL rules (``x-kubernetes-validations``) are not evaluated.
"""

from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
import json
import re
import uuid
from datetime import date, datetime
from typing import Any

from kymaprov.kubeapi import schemas
from kymaprov.kubeapi.validation import Cause

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_ROOT_FIELDS = ("apiVersion", "kind", "metadata")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _preserves(schema: dict[str, Any]) -> bool:
    return bool(schema.get("x-kubernetes-preserve-unknown-fields"))


# --- decoding: pruning, nulls, defaults --------------------------------------------------------------


def prune_and_default(obj: dict[str, Any], schema: dict[str, Any], unknown: list[str]) -> None:
    """Prune ``obj`` (a whole custom resource) in place, collecting the unknown fields' paths.

    ``metadata`` is pruned to ObjectMeta's fields, as the API server's metadata decoding does.
    """
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        schemas.prune_definition(meta, OBJECT_META, "metadata", unknown)
    _object(obj, schema, "", unknown, root=True)


def _object(value: dict[str, Any], schema: dict[str, Any], path: str, unknown: list[str], root: bool) -> None:
    properties: dict[str, Any] = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    keep_all = _preserves(schema) or additional is True
    embedded = root or bool(schema.get("x-kubernetes-embedded-resource"))
    for key in list(value):
        child = value[key]
        prop = properties.get(key)
        if prop is None and isinstance(additional, dict):
            prop = additional
        if prop is None:
            if embedded and key in _ROOT_FIELDS:
                continue
            if not keep_all:
                unknown.append(_join(path, key) if not isinstance(additional, dict) else f"{path}[{key}]")
                del value[key]
            continue
        if child is None:
            if not prop.get("nullable"):
                del value[key]
            continue
        _value(child, prop, _join(path, key), unknown)
    for key, prop in properties.items():
        if key not in value and "default" in prop:
            value[key] = copy.deepcopy(prop["default"])


def _value(value: Any, schema: dict[str, Any], path: str, unknown: list[str]) -> None:
    if isinstance(value, dict) and schema.get("type", "object") == "object":
        _object(value, schema, path, unknown, root=False)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        items = schema["items"]
        for index, child in enumerate(value):
            if child is None:
                if "default" in items:
                    value[index] = copy.deepcopy(items["default"])
                continue
            _value(child, items, f"{path}[{index}]", unknown)


# --- validation --------------------------------------------------------------------------------------


def _go_value(value: Any) -> str:
    """A value as a field error prints it (``%q`` for strings, ``%v`` for numbers)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if value is None:
        return "null"
    return json.dumps(value, separators=(",", ":"))


def _go_float(value: float) -> str:
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def _type_of(value: Any) -> str:
    """kube-openapi's name for a value's type (``swag`` typing of unstructured JSON)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _fits(value: Any, schema: dict[str, Any]) -> bool:
    actual = _type_of(value)
    if schema.get("x-kubernetes-int-or-string"):
        return actual in ("integer", "string")
    declared = schema.get("type")
    if not declared:
        return True
    if actual == "null":
        return bool(schema.get("nullable"))
    if declared == "number":
        return actual in ("integer", "number")
    return bool(actual == declared)


def _is_date_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return "T" in text.upper() or " " in text


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _is_ip(text: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


def _is_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return "/" in text


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


def _is_byte(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$"
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")
# the formats kube's strfmt registry checks (the others it knows are rarely used and are accepted)
FORMATS = {
    "date-time": _is_date_time,
    "datetime": _is_date_time,
    "date": _is_date,
    "ipv4": lambda t: _is_ip(t, 4),
    "ipv6": lambda t: _is_ip(t, 6),
    "cidr": _is_cidr,
    "uuid": _is_uuid,
    "byte": _is_byte,
    "hostname": lambda t: bool(_HOSTNAME.match(t)),
    "email": lambda t: bool(_EMAIL.match(t)),
    "mac": lambda t: bool(_MAC.match(t)),
}


class _Errors:
    def __init__(self) -> None:
        self.causes: list[Cause] = []

    def invalid(self, path: str, value: Any, detail: str) -> None:
        self.causes.append((path, "FieldValueInvalid", f"Invalid value: {_go_value(value)}: {detail}"))

    def type_invalid(self, path: str, value: Any, detail: str) -> None:
        self.causes.append((path, "FieldValueTypeInvalid", f"Invalid value: {_go_value(value)}: {detail}"))


def validate(obj: dict[str, Any], schema: dict[str, Any]) -> list[Cause]:
    """The 422 causes of a custom resource against its version's schema (``ValidateCustomResource``)."""
    errors = _Errors()
    body = {k: v for k, v in obj.items() if k not in ("metadata",)}
    root = {
        **schema,
        "properties": {k: v for k, v in (schema.get("properties") or {}).items() if k != "metadata"},
    }
    _check(body, root, "", errors)
    return errors.causes


def _check(value: Any, schema: dict[str, Any], path: str, errors: _Errors) -> None:
    shown = path or "<root>"
    if not _fits(value, schema):
        types = "integer,string" if schema.get("x-kubernetes-int-or-string") else schema.get("type")
        actual = _type_of(value)
        errors.type_invalid(path, actual, f"{shown} in body must be of type {types}: {json.dumps(actual)}")
        return
    if value is None:
        return
    if "enum" in schema and value not in schema["enum"]:
        allowed = [v if isinstance(v, str) else json.dumps(v) for v in schema["enum"]]
        detail = "supported values: " + ", ".join(json.dumps(a) for a in allowed)
        errors.causes.append(
            (path, "FieldValueNotSupported", f"Unsupported value: {_go_value(value)}: {detail}")
        )
    if isinstance(value, str):
        _check_string(value, schema, path, shown, errors)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _check_number(value, schema, path, shown, errors)
    elif isinstance(value, list):
        _check_array(value, schema, path, shown, errors)
    elif isinstance(value, dict):
        _check_object(value, schema, path, shown, errors)
    _check_combinators(value, schema, path, shown, errors)


def _check_string(value: str, schema: dict[str, Any], path: str, shown: str, errors: _Errors) -> None:
    length = len(value)
    if "maxLength" in schema and length > schema["maxLength"]:
        errors.causes.append(
            (path, "FieldValueTooLong", f"Too long: may not be more than {schema['maxLength']} bytes")
        )
    if "minLength" in schema and length < schema["minLength"]:
        errors.invalid(path, value, f"{shown} in body should be at least {schema['minLength']} chars long")
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            matched = re.search(pattern, value) is not None
        except re.error:
            matched = True  # a pattern Python cannot compile was accepted by the CRD: do not refuse with it
        if not matched:
            errors.invalid(path, value, f"{shown} in body should match '{pattern}'")
    check = FORMATS.get(str(schema.get("format", "")))
    if check is not None and not check(value):
        errors.type_invalid(
            path, value, f"{shown} in body must be of type {schema['format']}: {json.dumps(value)}"
        )


def _check_number(value: float, schema: dict[str, Any], path: str, shown: str, errors: _Errors) -> None:
    if "maximum" in schema:
        limit = schema["maximum"]
        if schema.get("exclusiveMaximum") and value >= limit:
            errors.invalid(path, value, f"{shown} in body should be less than {_go_value(float(limit))}")
        elif value > limit:
            errors.invalid(
                path, value, f"{shown} in body should be less than or equal to {_go_value(float(limit))}"
            )
    if "minimum" in schema:
        limit = schema["minimum"]
        if schema.get("exclusiveMinimum") and value <= limit:
            errors.invalid(path, value, f"{shown} in body should be greater than {_go_value(float(limit))}")
        elif value < limit:
            errors.invalid(
                path, value, f"{shown} in body should be greater than or equal to {_go_value(float(limit))}"
            )
    factor = schema.get("multipleOf")
    if isinstance(factor, int | float) and factor and (value / factor) % 1:
        errors.invalid(path, value, f"{shown} in body should be a multiple of {_go_value(float(factor))}")
    if schema.get("format") == "int32" and isinstance(value, int) and not -(2**31) <= value < 2**31:
        errors.invalid(path, value, f"{shown} in body must be of type int32: {json.dumps(str(value))}")


def _check_array(value: list[Any], schema: dict[str, Any], path: str, shown: str, errors: _Errors) -> None:
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.causes.append(
            (
                path,
                "FieldValueTooMany",
                f"Too many: {len(value)}: must have at most {schema['maxItems']} items",
            )
        )
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.invalid(path, len(value), f"{shown} in body should have at least {schema['minItems']} items")
    if schema.get("uniqueItems"):
        seen = [json.dumps(v, sort_keys=True) for v in value]
        if len(set(seen)) != len(seen):
            errors.invalid(path, value, f"{shown} in body shouldn't contain duplicates")
    items = schema.get("items")
    if isinstance(items, dict):
        for index, child in enumerate(value):
            _check(child, items, f"{path}[{index}]", errors)
    list_type = schema.get("x-kubernetes-list-type")
    if list_type in ("set", "map"):
        keys = schema.get("x-kubernetes-list-map-keys") or []
        seen_keys: list[str] = []
        for index, child in enumerate(value):
            key = json.dumps(
                [child.get(k) for k in keys] if list_type == "map" and isinstance(child, dict) else child,
                sort_keys=True,
            )
            if key in seen_keys:
                errors.causes.append(
                    (f"{path}[{index}]", "FieldValueDuplicate", f"Duplicate value: {_go_value(child)}")
                )
            seen_keys.append(key)


def _check_object(
    value: dict[str, Any], schema: dict[str, Any], path: str, shown: str, errors: _Errors
) -> None:
    for key in schema.get("required") or ():
        if value.get(key) is None:
            errors.causes.append((_join(path, key), "FieldValueRequired", "Required value"))
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        errors.causes.append(
            (path, "FieldValueTooMany",
             f"Too many: {len(value)}: must have at most {schema['maxProperties']} items")
        )  # fmt: skip
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        errors.invalid(
            path, len(value), f"{shown} in body should have at least {schema['minProperties']} properties"
        )
    properties = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    embedded = bool(schema.get("x-kubernetes-embedded-resource"))
    for key, child in value.items():
        prop = properties.get(key)
        if prop is not None:
            _check(child, prop, _join(path, key), errors)
        elif isinstance(additional, dict):
            _check(child, additional, f"{path}[{key}]", errors)
    if embedded:
        for key in ("apiVersion", "kind"):
            if not value.get(key):
                errors.causes.append(
                    (_join(path, key), "FieldValueRequired", "Required value: must not be empty")
                )


def _check_combinators(value: Any, schema: dict[str, Any], path: str, shown: str, errors: _Errors) -> None:
    def ok(sub: dict[str, Any]) -> bool:
        probe = _Errors()
        _check(value, sub, path, probe)
        return not probe.causes

    all_of = schema.get("allOf") or []
    for sub in all_of:
        if isinstance(sub, dict):
            _check(value, {**sub, "type": sub.get("type")}, path, errors)
    any_of = [s for s in schema.get("anyOf") or [] if isinstance(s, dict)]
    if any_of and not any(ok(s) for s in any_of):
        errors.invalid(path, _type_of(value), f"{shown} in body must validate at least one schema (anyOf)")
    one_of = [s for s in schema.get("oneOf") or [] if isinstance(s, dict)]
    if one_of and sum(ok(s) for s in one_of) != 1:
        errors.invalid(
            path, _type_of(value), f"{shown} in body must validate one and only one schema (oneOf)"
        )
    negated = schema.get("not")
    if isinstance(negated, dict) and ok(negated):
        errors.invalid(path, _type_of(value), f"{shown} in body must not validate the schema (not)")


# --- the CRD's schema itself -------------------------------------------------------------------------


def structural_causes(schema: Any, path: str) -> list[Cause]:
    """Why ``schema`` (a version's openAPIV3Schema at ``path``) is not structural, as kube reports it."""
    causes: list[Cause] = []
    if not isinstance(schema, dict):
        return [(path, "FieldValueRequired", "Required value: schemas are required")]
    _structural(schema, path, "root", causes, "")
    return causes


def _structural(schema: dict[str, Any], path: str, level: str, causes: list[Cause], data: str) -> None:
    kind = schema.get("type", "")
    if "default" in schema and schema["default"] is not None:  # a default must pass its own schema
        probe = _Errors()
        _check(
            copy.deepcopy(schema["default"]), {k: v for k, v in schema.items() if k != "default"}, data, probe
        )
        causes += [(f"{path}.default", reason, message) for _, reason, message in probe.causes]
    if "$ref" in schema:
        causes.append((f"{path}.$ref", "FieldValueForbidden", "Forbidden: $ref is not supported"))
    embedded = bool(schema.get("x-kubernetes-embedded-resource"))
    if embedded and kind != "object":
        message = "must be object if x-kubernetes-embedded-resource is true"
        if kind:
            causes.append(
                (f"{path}.type", "FieldValueInvalid", f"Invalid value: {_go_value(kind)}: {message}")
            )
        else:
            causes.append((f"{path}.type", "FieldValueRequired", f"Required value: {message}"))
    elif not kind and not schema.get("x-kubernetes-int-or-string") and not _preserves(schema):
        where = {
            "root": "at the root",
            "item": "for specified array items",
            "field": "for specified object fields",
        }
        causes.append(
            (f"{path}.type", "FieldValueRequired", f"Required value: must not be empty {where[level]}")
        )
    if level == "root" and kind and kind != "object":
        causes.append(
            (
                f"{path}.type",
                "FieldValueInvalid",
                f"Invalid value: {_go_value(kind)}: must be object at the root",
            )
        )
    if kind and kind not in ("object", "array", "string", "integer", "number", "boolean"):
        causes.append(
            (f"{path}.type", "FieldValueNotSupported",
             f'Unsupported value: {_go_value(kind)}: supported values: "array", "boolean", "integer", '
             f'"number", "object", "string"')
        )  # fmt: skip
    properties = schema.get("properties")
    additional = schema.get("additionalProperties")
    if isinstance(properties, dict) and properties and additional is not None and additional is not False:
        causes.append(
            (f"{path}.additionalProperties", "FieldValueForbidden",
             "Forbidden: additionalProperties and properties are mutual exclusive")
        )  # fmt: skip
    if schema.get("uniqueItems") is True:
        causes.append(
            (f"{path}.uniqueItems", "FieldValueForbidden",
             "Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic")
        )  # fmt: skip
    if isinstance(properties, dict):
        for key, prop in properties.items():
            if isinstance(prop, dict):
                _structural(prop, f"{path}.properties[{key}]", "field", causes, _join(data, key))
    if isinstance(additional, dict):
        _structural(additional, f"{path}.additionalProperties", "field", causes, f"{data}[key]")
    items = schema.get("items")
    if isinstance(items, dict):
        _structural(items, f"{path}.items", "item", causes, f"{data}[0]")
    elif kind == "array":
        causes.append((f"{path}.items", "FieldValueRequired", "Required value: must be specified"))


def openapi_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A version's schema as published in OpenAPI: int-or-string as kube publishes it, defaults kept."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties") and isinstance(value, dict):
            out[key] = {k: openapi_schema(v) if isinstance(v, dict) else v for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = openapi_schema(value)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            out[key] = [openapi_schema(v) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    if schema.get("x-kubernetes-int-or-string") and "type" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return out
