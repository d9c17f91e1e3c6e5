"""Strict JSON: what no client could read back is refused with a reason, never stored."""

from __future__ import annotations

import pytest

from kymaprov import strictjson
from kymaprov.strictjson import InvalidJSON


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("NaN", "not a JSON value"),
        ('{"a": Infinity}', "not a JSON value"),
        ('{"a": 1e400}', "out of range"),
        ('{"a": -1e400}', "out of range"),
        ("1" + "0" * 400, "out of range"),
        ('{"a": "\\ud800"}', "surrogate"),
        ('{"\\udfff": 1}', "surrogate"),
        ('["ok", ["\\ud800x"]]', "surrogate"),
        ("[" * 101 + "]" * 101, "nested deeper"),
        ("[" * 5000 + "]" * 5000, "nested deeper"),
        ('{"a": ', "Expecting value"),
    ],
)
def test_refused(text: str, reason: str) -> None:
    with pytest.raises(InvalidJSON, match=reason):
        strictjson.loads(text)


def test_nul_is_refused_only_where_asked() -> None:
    assert strictjson.loads('{"a": "x\\u0000y"}') == {"a": "x\x00y"}
    with pytest.raises(InvalidJSON, match="NUL"):
        strictjson.loads('{"a": "x\\u0000y"}', allow_nul=False)
    with pytest.raises(InvalidJSON, match="NUL"):
        strictjson.loads('{"x\\u0000": 1}', allow_nul=False)


def test_valid_documents_round_trip() -> None:
    text = '{"a": [1, 2.5, -3e10, true, null, "\\ud83d\\ude00"], "b": {"c": "\\u00e9"}}'
    assert strictjson.loads(text) == {"a": [1, 2.5, -3e10, True, None, "😀"], "b": {"c": "é"}}
    deepest = "[" * strictjson.MAX_DEPTH + "]" * strictjson.MAX_DEPTH
    assert strictjson.loads(deepest) is not None


def test_check_applies_the_same_rules_to_decoded_values() -> None:
    strictjson.check({"a": [1, 2.0, "x"]})
    for bad in ({"a": float("inf")}, {1: "x"}, {"a": {1, 2}}, ["\ud800"]):
        with pytest.raises(InvalidJSON):
            strictjson.check(bad)
    deep: list[object] = []
    node = deep
    for _ in range(200_000):  # iterative: no RecursionError however deep
        child: list[object] = []
        node.append(child)
        node = child
    with pytest.raises(InvalidJSON, match="nested deeper"):
        strictjson.check(deep)


def test_duplicate_keys_name_each_path() -> None:
    text = '{"metadata":{"name":"a","name":"b"},"spec":{"c":[{"x":1,"x":2,"x":3}],"p":1}}'
    assert strictjson.duplicate_keys(text) == ["metadata.name", "spec.c[0].x"]
    assert strictjson.duplicate_keys('{"a":{"b":1}}') == []
    assert strictjson.loads(text)["metadata"]["name"] == "b"  # the last value wins
