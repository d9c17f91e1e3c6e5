"""Encode a Swagger 2.0 document as the gnostic ``openapi.v2.Document`` protobuf message.

kubectl 1.27 and 1.28 read ``/openapi/v2`` only as protobuf (``Accept:
application/com.github.proto-openapi.spec.v2@v1.0+protobuf``) to validate, apply, diff and edit.
kube-apiserver builds that body with gnostic's ``openapi_v2.ParseDocument`` over the JSON document and
``proto.Marshal``; this module reproduces that mapping so the bytes match:

- fields are written in field-number order, proto3 style: empty strings, ``false`` and ``0`` are
  left out, a present object is written even when empty, a set ``oneof`` member always is;
- every ``x-*`` key becomes a ``NamedAny`` whose ``yaml`` is the value rendered as go-yaml v3 renders
  it (block style, 4-space indentation, quoting only where a plain scalar would change type);
- ``type`` is a ``TypeItem`` (repeated string), ``items`` an ``ItemsItem``, ``$ref`` the ``_ref`` field,
  ``additionalProperties`` an ``AdditionalPropertiesItem`` (schema or boolean); parameters, responses
  and security definitions choose their ``oneof`` member as gnostic's validation does for valid input.

gnostic rejects a whole document over an unknown key or a wrongly typed value; this encoder skips
such a key instead, so a document that gnostic accepts encodes identically and anything else still
encodes. Field numbers are those of google/gnostic ``openapiv2/OpenAPIv2.proto``.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import math
import re
import struct
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from kymaprov.kubeapi import discovery
from kymaprov.kubeapi.resources import Registry

Encoder = Callable[[int, Any], bytes]

# --- wire format ----------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 is ten bytes of two's complement, as Go writes it
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _len_field(number: int, payload: bytes) -> bytes:
    return _tag(number, 2) + _varint(len(payload)) + payload


# --- JSON values as gnostic reads them (yaml.v3 nodes parsed from JSON) ---------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _go_float(value: float) -> str:
    """The text Go's encoding/json writes for a float64 (what kube-apiserver's JSON holds)."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{value} is not a JSON number")
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    shortest = Decimal(repr(value)).normalize()
    if 1e-6 <= abs(value) < 1e21:
        return format(shortest, "f")
    _, digits, exponent = shortest.as_tuple()
    text = "".join(map(str, digits))
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    power = int(exponent) + len(text) - 1
    sign = "-" if value < 0 else ""
    return f"{sign}{mantissa}e-{-power}" if power < 0 else f"{sign}{mantissa}e+{power:02d}"


def _scalar_text(value: Any) -> str:
    """A scalar's node value: the JSON text without quotes."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    return str(value)


def _string(value: Any) -> str | None:
    """gnostic's StringForScalarNode: strings, integers (as written) and null ("")."""
    if isinstance(value, str):
        return value
    if _is_int(value):
        return str(value)
    if value is None:
        return ""
    return None


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [s for s in (_string(item) for item in value) if s is not None]


# --- field encoders: (field number, JSON value) -> encoded field, b"" when absent ----------------


def _str(number: int, value: Any) -> bytes:
    text = _string(value)
    return _len_field(number, text.encode()) if text else b""


def _bool(number: int, value: Any) -> bytes:
    return _tag(number, 0) + b"\x01" if value is True else b""


def _double(number: int, value: Any) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return b""
    number_value = float(value)
    if number_value == 0 and math.copysign(1, number_value) > 0:
        return b""
    return _tag(number, 1) + struct.pack("<d", number_value)


def _int64(number: int, value: Any) -> bytes:
    return _tag(number, 0) + _varint(value) if _is_int(value) and value != 0 else b""


def _str_list(number: int, value: Any) -> bytes:
    return b"".join(_len_field(number, s.encode()) for s in _strings(value))


def _any(number: int, value: Any) -> bytes:
    return _len_field(number, _len_field(2, to_yaml(value).encode()))


def _any_list(number: int, value: Any) -> bytes:
    return b"".join(_any(number, item) for item in value) if isinstance(value, list) else b""


def _message(name: str) -> Encoder:
    """A message field from a JSON object (looked up late: Schema and PrimitivesItems recurse)."""

    def encode(number: int, value: Any) -> bytes:
        payload = _MESSAGES[name](value)
        return b"" if payload is None else _len_field(number, payload)

    return encode


def _message_list(name: str) -> Encoder:
    def encode(number: int, value: Any) -> bytes:
        if not isinstance(value, list):
            return b""
        return b"".join(_message(name)(number, item) for item in value)

    return encode


def _named(value_encoder: Encoder, keep: Callable[[str], bool] = lambda key: True) -> Encoder:
    """A map written as repeated ``Named*`` entries {name = 1, value = 2} in document order."""

    def encode(number: int, obj: Any) -> bytes:
        return b"".join(
            _len_field(number, _len_field(1, key.encode()) + value_encoder(2, value))
            for key, value in obj.items()
            if keep(key)
        )

    return encode


_vendor = _named(_any, lambda key: key.startswith("x-"))
_RESPONSE_CODE = re.compile(r"^([0-9]{3})$|^(default)$")

WHOLE = ""  # a field filled from the whole object (vendor extensions, maps) rather than one key

Fields = list[tuple[str, int, Encoder]]


def _fields(fields: Fields) -> Callable[[Any], bytes | None]:
    ordered = sorted(fields, key=lambda f: f[1])

    def encode(value: Any) -> bytes | None:
        if not isinstance(value, dict):
            return None
        out = bytearray()
        for key, number, field in ordered:
            if key == WHOLE:
                out += field(number, value)
            elif key in value:
                out += field(number, value[key])
        return bytes(out)

    return encode


def _oneof(choose: Callable[[dict[str, Any]], tuple[int, str] | None]) -> Callable[[Any], bytes | None]:
    """A ``oneof`` wrapper message: ``choose`` names the member gnostic would have matched."""

    def encode(value: Any) -> bytes | None:
        if not isinstance(value, dict):
            return None
        choice = choose(value)
        if choice is None:
            return b""
        number, name = choice
        payload = _MESSAGES[name](value)
        return b"" if payload is None else _len_field(number, payload)

    return encode


def _parameter(value: dict[str, Any]) -> tuple[int, str]:
    return (1, "BodyParameter") if value.get("in") == "body" else (2, "NonBodyParameter")


_NON_BODY = {"header": 1, "formData": 2, "query": 3, "path": 4}


def _non_body(value: dict[str, Any]) -> tuple[int, str] | None:
    number = _NON_BODY.get(value.get("in", ""))
    if number is None:
        return None
    return number, f"{value['in'][0].upper()}{value['in'][1:]}ParameterSubSchema"


_OAUTH2 = {"implicit": 3, "password": 4, "application": 5, "accessCode": 6}


def _security_definition(value: dict[str, Any]) -> tuple[int, str] | None:
    kind, flow = value.get("type"), value.get("flow", "")
    if kind == "basic":
        return 1, "BasicAuthenticationSecurity"
    if kind == "apiKey":
        return 2, "ApiKeySecurity"
    if kind == "oauth2" and flow in _OAUTH2:
        return _OAUTH2[flow], f"Oauth2{flow[0].upper()}{flow[1:]}Security"
    return None


def _type_item(number: int, value: Any) -> bytes:
    """``type``: a scalar or a list of scalars, each kept as written."""
    items = value if isinstance(value, list) else [value]
    texts = [_scalar_text(v) for v in items if not isinstance(v, dict | list)]
    return _len_field(number, b"".join(_len_field(1, t.encode()) for t in texts))


def _items_item(number: int, value: Any) -> bytes:
    schemas = value if isinstance(value, list) else [value]
    return _len_field(number, b"".join(_message("Schema")(1, s) for s in schemas))


def _additional_properties(number: int, value: Any) -> bytes:
    if isinstance(value, bool):
        return _len_field(number, _tag(2, 0) + (b"\x01" if value else b"\x00"))
    return _len_field(number, _message("Schema")(1, value)) if isinstance(value, dict) else b""


def _string_array(number: int, value: Any) -> bytes:
    items = value if isinstance(value, list) else []
    texts = [_string(item) or "" for item in items]  # gnostic keeps an unreadable entry as ""
    return _len_field(number, b"".join(_len_field(1, t.encode()) for t in texts))


def _keyed(*names: tuple[str, Encoder]) -> Fields:
    """Fields numbered 1, 2, ... in the order given."""
    return [(key, number, encoder) for number, (key, encoder) in enumerate(names, start=1)]


S, B, D, N, SS, A, AS = _str, _bool, _double, _int64, _str_list, _any, _any_list
M, MS = _message, _message_list

_VALIDATIONS: list[tuple[str, Encoder]] = [
    ("maximum", D),
    ("exclusiveMaximum", B),
    ("minimum", D),
    ("exclusiveMinimum", B),
    ("maxLength", N),
    ("minLength", N),
    ("pattern", S),
    ("maxItems", N),
    ("minItems", N),
    ("uniqueItems", B),
    ("enum", AS),
    ("multipleOf", D),
]
_PRIMITIVE = [
    ("type", S),
    ("format", S),
    ("items", M("PrimitivesItems")),
    ("collectionFormat", S),
    ("default", A),
    *_VALIDATIONS,
]
_HEADER_PARAMETER = [
    ("required", B),
    ("in", S),
    ("description", S),
    ("name", S),
    *_PRIMITIVE,
]
_QUERY_PARAMETER = [*_HEADER_PARAMETER[:4], ("allowEmptyValue", B), *_PRIMITIVE]


def _with_vendor(fields: Fields, number: int) -> Fields:
    return [*fields, (WHOLE, number, _vendor)]


_OAUTH2_FLOW = [("type", S), ("flow", S), ("scopes", M("Oauth2Scopes"))]

_MESSAGES: dict[str, Callable[[Any], bytes | None]] = {
    "Document": _fields(
        _with_vendor(
            _keyed(
                ("swagger", S),
                ("info", M("Info")),
                ("host", S),
                ("basePath", S),
                ("schemes", SS),
                ("consumes", SS),
                ("produces", SS),
                ("paths", M("Paths")),
                ("definitions", M("Definitions")),
                ("parameters", M("ParameterDefinitions")),
                ("responses", M("ResponseDefinitions")),
                ("security", MS("SecurityRequirement")),
                ("securityDefinitions", M("SecurityDefinitions")),
                ("tags", MS("Tag")),
                ("externalDocs", M("ExternalDocs")),
            ),
            16,
        )
    ),
    "Info": _fields(
        _with_vendor(
            _keyed(
                ("title", S),
                ("version", S),
                ("description", S),
                ("termsOfService", S),
                ("contact", M("Contact")),
                ("license", M("License")),
            ),
            7,
        )
    ),
    "Contact": _fields(_with_vendor(_keyed(("name", S), ("url", S), ("email", S)), 4)),
    "License": _fields(_with_vendor(_keyed(("name", S), ("url", S)), 3)),
    "ExternalDocs": _fields(_with_vendor(_keyed(("description", S), ("url", S)), 3)),
    "Tag": _fields(
        _with_vendor(_keyed(("name", S), ("description", S), ("externalDocs", M("ExternalDocs"))), 4)
    ),
    "Xml": _fields(
        _with_vendor(
            _keyed(("name", S), ("namespace", S), ("prefix", S), ("attribute", B), ("wrapped", B)), 6
        )
    ),
    "Paths": _fields(
        [(WHOLE, 1, _vendor), (WHOLE, 2, _named(M("PathItem"), lambda key: key.startswith("/")))]
    ),
    "PathItem": _fields(
        _with_vendor(
            _keyed(
                ("$ref", S),
                ("get", M("Operation")),
                ("put", M("Operation")),
                ("post", M("Operation")),
                ("delete", M("Operation")),
                ("options", M("Operation")),
                ("head", M("Operation")),
                ("patch", M("Operation")),
                ("parameters", MS("ParametersItem")),
            ),
            10,
        )
    ),
    "Operation": _fields(
        _with_vendor(
            _keyed(
                ("tags", SS),
                ("summary", S),
                ("description", S),
                ("externalDocs", M("ExternalDocs")),
                ("operationId", S),
                ("produces", SS),
                ("consumes", SS),
                ("parameters", MS("ParametersItem")),
                ("responses", M("Responses")),
                ("schemes", SS),
                ("deprecated", B),
                ("security", MS("SecurityRequirement")),
            ),
            13,
        )
    ),
    "ParametersItem": _oneof(lambda v: (2, "JsonReference") if "$ref" in v else (1, "Parameter")),
    "Parameter": _oneof(_parameter),
    "NonBodyParameter": _oneof(_non_body),
    "BodyParameter": _fields(
        _with_vendor(
            _keyed(("description", S), ("name", S), ("in", S), ("required", B), ("schema", M("Schema"))), 6
        )
    ),
    "HeaderParameterSubSchema": _fields(_with_vendor(_keyed(*_HEADER_PARAMETER), 22)),
    "PathParameterSubSchema": _fields(_with_vendor(_keyed(*_HEADER_PARAMETER), 22)),
    "QueryParameterSubSchema": _fields(_with_vendor(_keyed(*_QUERY_PARAMETER), 23)),
    "FormDataParameterSubSchema": _fields(_with_vendor(_keyed(*_QUERY_PARAMETER), 23)),
    "PrimitivesItems": _fields(_with_vendor(_keyed(*_PRIMITIVE), 18)),
    "Header": _fields(_with_vendor(_keyed(*_PRIMITIVE, ("description", S)), 19)),
    "JsonReference": _fields(_keyed(("$ref", S), ("description", S))),
    "Responses": _fields(
        [
            (WHOLE, 1, _named(M("ResponseValue"), lambda key: _RESPONSE_CODE.match(key) is not None)),
            (WHOLE, 2, _vendor),
        ]
    ),
    "ResponseValue": _oneof(lambda v: (2, "JsonReference") if "$ref" in v else (1, "Response")),
    "Response": _fields(
        _with_vendor(
            _keyed(
                ("description", S),
                ("schema", M("SchemaItem")),
                ("headers", M("Headers")),
                ("examples", M("Examples")),
            ),
            5,
        )
    ),
    "SchemaItem": _oneof(lambda v: (2, "FileSchema") if v.get("type") == "file" else (1, "Schema")),
    "FileSchema": _fields(
        _with_vendor(
            _keyed(
                ("format", S),
                ("title", S),
                ("description", S),
                ("default", A),
                ("required", SS),
                ("type", S),
                ("readOnly", B),
                ("externalDocs", M("ExternalDocs")),
                ("example", A),
            ),
            10,
        )
    ),
    "Schema": _fields(
        _with_vendor(
            _keyed(
                ("$ref", S),
                ("format", S),
                ("title", S),
                ("description", S),
                ("default", A),
                ("multipleOf", D),
                ("maximum", D),
                ("exclusiveMaximum", B),
                ("minimum", D),
                ("exclusiveMinimum", B),
                ("maxLength", N),
                ("minLength", N),
                ("pattern", S),
                ("maxItems", N),
                ("minItems", N),
                ("uniqueItems", B),
                ("maxProperties", N),
                ("minProperties", N),
                ("required", SS),
                ("enum", AS),
                ("additionalProperties", _additional_properties),
                ("type", _type_item),
                ("items", _items_item),
                ("allOf", MS("Schema")),
                ("properties", M("Properties")),
                ("discriminator", S),
                ("readOnly", B),
                ("xml", M("Xml")),
                ("externalDocs", M("ExternalDocs")),
                ("example", A),
            ),
            31,
        )
    ),
    "Definitions": _fields([(WHOLE, 1, _named(M("Schema")))]),
    "Properties": _fields([(WHOLE, 1, _named(M("Schema")))]),
    "ParameterDefinitions": _fields([(WHOLE, 1, _named(M("Parameter")))]),
    "ResponseDefinitions": _fields([(WHOLE, 1, _named(M("Response")))]),
    "Headers": _fields([(WHOLE, 1, _named(M("Header")))]),
    "Examples": _fields([(WHOLE, 1, _named(A))]),
    "SecurityRequirement": _fields([(WHOLE, 1, _named(_string_array))]),
    "SecurityDefinitions": _fields([(WHOLE, 1, _named(M("SecurityDefinitionsItem")))]),
    "SecurityDefinitionsItem": _oneof(_security_definition),
    "Oauth2Scopes": _fields([(WHOLE, 1, _named(S))]),
    "BasicAuthenticationSecurity": _fields(_with_vendor(_keyed(("type", S), ("description", S)), 3)),
    "ApiKeySecurity": _fields(
        _with_vendor(_keyed(("type", S), ("name", S), ("in", S), ("description", S)), 5)
    ),
    "Oauth2ImplicitSecurity": _fields(
        _with_vendor(_keyed(*_OAUTH2_FLOW, ("authorizationUrl", S), ("description", S)), 6)
    ),
    "Oauth2PasswordSecurity": _fields(
        _with_vendor(_keyed(*_OAUTH2_FLOW, ("tokenUrl", S), ("description", S)), 6)
    ),
    "Oauth2ApplicationSecurity": _fields(
        _with_vendor(_keyed(*_OAUTH2_FLOW, ("tokenUrl", S), ("description", S)), 6)
    ),
    "Oauth2AccessCodeSecurity": _fields(
        _with_vendor(_keyed(*_OAUTH2_FLOW, ("authorizationUrl", S), ("tokenUrl", S), ("description", S)), 7)
    ),
}


def encode(document: dict[str, Any]) -> bytes:
    """The ``openapi.v2.Document`` bytes kube-apiserver serves for this Swagger 2.0 document."""
    payload = _MESSAGES["Document"](document)
    if payload is None:
        raise ValueError("an OpenAPI v2 document is a JSON object")
    return payload


# --- YAML as go-yaml v3 writes a node tree parsed from JSON (gnostic's compiler.Marshal) -----------

_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_INT = re.compile(r"^[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$")
_TIMESTAMP = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:$|[Tt ]\d{1,2}:\d{1,2}:\d{1,2})")
_NOT_STRINGS = {
    "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "<<",
    ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
}  # fmt: skip


def _resolves_to_string(text: str) -> bool:
    """Whether go-yaml v3 reads ``text`` unquoted back as a string (its ``resolve``)."""
    if text == "" or text in _NOT_STRINGS:
        return False
    first = text[0]
    if first == ".":
        return _FLOAT.match(text) is None
    if not (first.isdigit() and first.isascii()) and first not in "+-":
        return True
    match = _TIMESTAMP.match(text)
    if match and first.isdigit():
        try:
            datetime.date(*(int(g) for g in match.groups()))
            return False
        except ValueError:
            pass
    plain = text.replace("_", "")
    return not (_INT.match(plain) or _FLOAT.match(plain))


def _printable(ch: str) -> bool:
    code = ord(ch)
    return (
        code == 0x0A
        or 0x20 <= code <= 0x7E
        or 0xA0 <= code <= 0xD7FF
        or (0xE000 <= code <= 0xFFFD and code != 0xFEFF)
    )


_BREAKS = "\r\n\x85\u2028\u2029"


def _analyze(value: str) -> dict[str, bool]:
    """libyaml's yaml_emitter_analyze_scalar, as go-yaml v3 has it."""
    if not value:
        return {"multiline": False, "flow_plain": False, "block_plain": True, "single": True, "block": False}
    block_ind = flow_ind = value[:3] in ("---", "...")
    line_breaks = special = tabs = False
    leading_space = leading_break = trailing_space = trailing_break = False
    break_space = space_break = previous_space = previous_break = False
    preceded_by_ws = True
    last = len(value) - 1
    for i, ch in enumerate(value):
        followed_by_ws = i == last or value[i + 1] in " \t"
        if i == 0:
            if ch in "#,[]{}&*!|>'\"%@`":
                flow_ind = block_ind = True
            elif ch in "?:":
                flow_ind = True
                block_ind = block_ind or followed_by_ws
            elif ch == "-" and followed_by_ws:
                flow_ind = block_ind = True
        elif ch in ",?[]{}":
            flow_ind = True
        elif ch == ":":
            flow_ind = True
            block_ind = block_ind or followed_by_ws
        elif ch == "#" and preceded_by_ws:
            flow_ind = block_ind = True
        if ch == "\t":
            tabs = True
        elif not _printable(ch):
            special = True
        if ch == " ":
            leading_space = leading_space or i == 0
            trailing_space = trailing_space or i == last
            break_space = break_space or previous_break
            previous_space, previous_break = True, False
        elif ch in _BREAKS:
            line_breaks = True
            leading_break = leading_break or i == 0
            trailing_break = trailing_break or i == last
            space_break = space_break or previous_space
            previous_space, previous_break = False, True
        else:
            previous_space = previous_break = False
        preceded_by_ws = ch in " \t\0" or ch in _BREAKS
    flow_plain = block_plain = single = block = True
    if leading_space or leading_break or trailing_space or trailing_break:
        flow_plain = block_plain = False
    if trailing_space:
        block = False
    if break_space:
        flow_plain = block_plain = single = False
    if space_break or tabs or special:
        flow_plain = block_plain = single = False
    if space_break or special:
        block = False
    if line_breaks:
        flow_plain = block_plain = False
    if flow_ind:
        flow_plain = False
    if block_ind:
        block_plain = False
    return {
        "multiline": line_breaks,
        "flow_plain": flow_plain,
        "block_plain": block_plain,
        "single": single,
        "block": block,
    }


_ESCAPES = {
    "\0": "0", "\a": "a", "\b": "b", "\t": "t", "\n": "n", "\v": "v", "\f": "f", "\r": "r", "\x1b": "e",
    '"': '"', "\\": "\\", "\x85": "N", "\xa0": "_", "\u2028": "L", "\u2029": "P",
}  # fmt: skip


def _double_quoted(value: str) -> str:
    out = ['"']
    for ch in value:
        if _printable(ch) and ch not in _BREAKS and ch not in '"\\' and ch != "\ufeff":
            out.append(ch)
        elif ch in _ESCAPES:
            out.append("\\" + _ESCAPES[ch])
        elif ord(ch) <= 0xFF:
            out.append(f"\\x{ord(ch):02X}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(f"\\U{ord(ch):08X}")
    out.append('"')
    return "".join(out)


class _Yaml:
    """A small port of the parts of libyaml's emitter that a JSON value reaches (block context)."""

    BEST_INDENT = 4

    def __init__(self) -> None:
        self.out: list[str] = []
        self.column = 0
        self.whitespace = True
        self.indention = True

    def write(self, text: str) -> None:
        self.out.append(text)
        self.column += len(text)

    def newline(self) -> None:
        self.out.append("\n")
        self.column = 0
        self.whitespace = self.indention = True

    def indent(self, indent: int) -> None:
        if not self.indention or self.column > indent or (self.column == indent and not self.whitespace):
            self.newline()
        if self.column < indent:
            self.write(" " * (indent - self.column))
        self.whitespace = self.indention = True

    def indicator(self, text: str, need_whitespace: bool, is_whitespace: bool, is_indention: bool) -> None:
        if need_whitespace and not self.whitespace:
            self.write(" ")
        self.write(text)
        self.whitespace = is_whitespace
        self.indention = self.indention and is_indention

    def node(self, value: Any, parent_indent: int, in_sequence: bool, simple_key: bool = False) -> None:
        if isinstance(value, dict | list) and value:
            if in_sequence:
                indent = parent_indent + 2
            elif parent_indent < 0:
                indent = 0
            else:
                indent = self.BEST_INDENT * ((parent_indent + self.BEST_INDENT) // self.BEST_INDENT)
            if isinstance(value, dict):
                for key, item in value.items():
                    self.indent(indent)
                    self.node(key, indent, False, simple_key=True)
                    self.indicator(":", False, False, False)
                    self.node(item, indent, False)
            else:
                for item in value:
                    self.indent(indent)
                    self.indicator("-", True, False, True)
                    self.node(item, indent, True)
            return
        if isinstance(value, dict | list):
            self.indicator("{" if isinstance(value, dict) else "[", True, True, False)
            self.indicator("}" if isinstance(value, dict) else "]", False, False, False)
            return
        self.scalar(value, parent_indent, in_sequence, simple_key)

    def scalar(self, value: Any, parent_indent: int, in_sequence: bool, simple_key: bool) -> None:
        text = _scalar_text(value)
        style = "plain"
        if isinstance(value, str):
            if "\n" in text:
                style = "literal"
            elif not _resolves_to_string(text):
                style = "double"
        facts = _analyze(text)
        if simple_key and facts["multiline"]:
            style = "double"
        if style == "plain" and (not facts["block_plain"] or (not text and simple_key)):
            style = "single"
        if style == "single" and (not facts["single"] or facts["multiline"]):
            style = "double"
        if style == "literal" and (not facts["block"] or simple_key):
            style = "double"
        if style == "literal":
            self.literal(text, parent_indent, in_sequence)
            return
        if not self.whitespace:
            self.write(" ")
        if style == "plain":
            self.write(text)
        elif style == "single":
            self.write("'" + text.replace("'", "''") + "'")
        else:
            self.write(_double_quoted(text))
        self.whitespace = self.indention = False

    def literal(self, text: str, parent_indent: int, in_sequence: bool) -> None:
        if parent_indent < 0:
            indent = self.BEST_INDENT
        elif in_sequence:
            indent = parent_indent + 2
        else:
            indent = self.BEST_INDENT * ((parent_indent + self.BEST_INDENT) // self.BEST_INDENT)
        hints = str(self.BEST_INDENT) if text[0] in " " + _BREAKS else ""
        if text[-1] not in _BREAKS:
            hints += "-"
        elif len(text) == 1 or text[-2] in _BREAKS:
            hints += "+"
        self.indicator("|", True, False, False)
        self.write(hints)
        breaks = True
        for ch in text:
            if ch == "\n":
                self.newline()
                breaks = True
                continue
            if breaks:
                if self.column:
                    self.newline()
                self.write(" " * indent)
                breaks = False
            self.write(ch)
        self.whitespace = self.indention = breaks


def to_yaml(value: Any) -> str:
    """``value`` as gnostic stores it in ``Any.yaml``: go-yaml v3 output of the JSON node."""
    writer = _Yaml()
    writer.node(value, -1, False)
    if writer.out and writer.out[-1] != "\n":
        writer.out.append("\n")
    return "".join(writer.out)


# --- serving /openapi/v2 (kube-openapi's handler) ---------------------------------------------------

PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_OFFERS = (
    ("application", "json"),
    ("application", "com.github.proto-openapi.spec.v2@v1.0+protobuf"),  # what kubectl sends
    ("application", "com.github.proto-openapi.spec.v2.v1.0+protobuf"),
)


def _accept_clauses(accept: str) -> list[tuple[str, str]]:
    """goautoneg's ParseAccept order: by q, then concrete before wildcard types."""
    clauses = []
    for position, part in enumerate((accept or "*/*").split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        kind, _, subtype = media.partition("/")
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        clauses.append((-q, kind == "*", subtype == "*", position, kind, subtype or "*"))
    return [(kind, subtype) for *_, kind, subtype in sorted(clauses)]


def negotiate(accept: str) -> str | None:
    """``json``, ``protobuf`` or None (406) for an Accept header, as kube-openapi serves the first match."""
    for kind, subtype in _accept_clauses(accept):
        for offer_type, offer_subtype in _OFFERS:
            if kind in (offer_type, "*") and subtype in (offer_subtype, "*"):
                return "json" if offer_subtype == "json" else "protobuf"
    return None


@functools.cache
def served() -> dict[str, tuple[bytes, str]]:
    """The JSON and protobuf bodies with their ETag, built once per process (encoding takes ~0.1 s)."""
    return _serve(_document())


def _serve(document: dict[str, Any]) -> dict[str, tuple[bytes, str]]:
    body = json.dumps(document, separators=(",", ":")).encode()
    etag = '"' + hashlib.sha512(body).hexdigest().upper() + '"'
    return {"json": (body, etag), "protobuf": (encode(document), etag)}


_with_custom: dict[str, dict[str, tuple[bytes, str]]] = {}
_WITH_CUSTOM_SIZE = 16


def served_for(registry: Registry) -> dict[str, tuple[bytes, str]]:
    """``served()`` for a runtime with CRDs, cached by their content (a few runtimes' worth)."""
    if not registry.custom:
        return served()
    cached = _with_custom.get(registry.fingerprint)
    if cached is None:
        cached = _serve(discovery.openapi_v2_with_custom(registry))
        if len(_with_custom) >= _WITH_CUSTOM_SIZE:
            _with_custom.pop(next(iter(_with_custom)))
        _with_custom[registry.fingerprint] = cached
    return cached


def _document() -> dict[str, Any]:
    return discovery.openapi_v2_document()
