"""Hostile request bodies through the real embedded API: refused with a 400 Status, never stored, never a 500."""

from __future__ import annotations

from typing import Any

import httpx

from tests.runtime.conftest import Kube

CM = "/api/v1/namespaces/default/configmaps"
YAML = {"content-type": "application/yaml"}


def _laughs(levels: int) -> bytes:
    """A "billion laughs" ConfigMap: each level is a list of nine aliases of the level before.

    Under ``spec``, a field the server keeps as sent, as in the finding (a 91 MB ConfigMap was stored).
    """
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: bomb}", "spec:"]
    lines.append('  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]')
    previous = "a"
    for level in "bcdefghi"[: levels - 1]:
        lines.append(f"  {level}: &{level} [{','.join([f'*{previous}'] * 9)}]")
        previous = level
    return "\n".join(lines).encode()


def _names(admin: Kube) -> list[str]:
    r = admin.get(CM)
    assert r.status_code == 200, r.text
    return [item["metadata"]["name"] for item in r.json()["items"]]


def _refused(r: httpx.Response, code: int = 400) -> dict[str, Any]:
    assert r.status_code == code, r.text[:300]
    status: dict[str, Any] = r.json()
    assert status["kind"] == "Status" and status["status"] == "Failure" and status["code"] == code
    return status


def test_yaml_alias_bomb_is_refused_and_not_stored(admin: Kube) -> None:
    body = _laughs(6)  # ~9^6 strings once expanded; the full 9 levels of the finding is the same shape
    assert len(body) < 500
    status = _refused(admin.request("POST", CM, content=body, headers=YAML))
    assert status["reason"] == "BadRequest"
    assert "yaml: document contains excessive aliasing" in status["message"]
    assert "bomb" not in _names(admin)
    # apply-patch YAML goes through the same decoder
    applied = admin.request(
        "PATCH", f"{CM}/bomb", content=body, headers={"content-type": "application/apply-patch+yaml"},
        params={"fieldManager": "test"},
    )  # fmt: skip
    assert "excessive aliasing" in _refused(applied)["message"]
    assert "bomb" not in _names(admin)
    # few aliases (go-yaml's ratio allows them) of a long string: bounded by the decoded size instead
    wide = b"metadata: {name: wide}\nspec:\n  a: &a " + b"x" * 40_000 + b"\n  b: [" + b"*a," * 100 + b"]\n"
    assert "excessive aliasing" in _refused(admin.request("POST", CM, content=wide, headers=YAML))["message"]
    assert "wide" not in _names(admin)
    # the server is still serving, and modest aliasing is still fine
    ok = admin.request(
        "POST", CM, content=b"metadata: {name: fine}\ndata:\n  a: &v text\n  b: *v\n", headers=YAML
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["data"] == {"a": "text", "b": "text"}


def test_yaml_that_is_not_json_is_a_400(admin: Kube) -> None:
    cases = {
        b"metadata: {name: inf}\nspec: {a: .inf}\n": "out of range",
        b"metadata: {name: rec}\nspec: &d {a: *d}\n": "contains itself",
        b"metadata: {name: nullkey}\nspec: {? null : x}\n": "unsupported map key",
        b"metadata: {name: bin}\nspec: {a: !!binary aGVsbG8=}\n": "bytes is not a JSON value",
        b"metadata: {name: deep}\nspec: {a: " + b"[" * 150 + b"]" * 150 + b"}\n": "nested deeper",
        b"metadata: {name: huge}\nspec: " + b"1" * 5000 + b"\n": "integer",
        b"metadata: {name: recursion}\nspec: " + b"[" * 3000 + b"\n": "YAML",
    }
    for body, message in cases.items():
        status = _refused(admin.request("POST", CM, content=body, headers=YAML))
        assert message in status["message"], (body[:40], status["message"])
    # YAML's non-string scalars as keys and timestamps become strings, as sigs.k8s.io/yaml makes them
    r = admin.request(
        "POST", CM, content=b"metadata: {name: keys}\ndata: {1: a, 2001-01-01: b, c: 2001-01-02}\n",
        headers=YAML,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["data"] == {"1": "a", "2001-01-01": "b", "c": "2001-01-02"}
    refused = {"inf", "rec", "nullkey", "bin", "deep", "huge", "recursion"}
    assert "keys" in _names(admin) and not refused & set(_names(admin))
