"""Hostile request bodies through the real embedded API: refused with a 400 Status, never stored, never a 500."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from kymaprov.backends.base import ClusterAccess
from tests.kubeapi.conftest import Kube, Kubectl

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


BAD_JSON = {
    "beyond float range": b'{"spec":{"a":1e400}}',
    "nested 600 levels": b'{"spec":{"a":' + b"[" * 600 + b"]" * 600 + b"}}",
    "nested 980 levels": b'{"spec":' + b'{"a":' * 980 + b"1" + b"}" * 980 + b"}",
    "lone surrogate": b'{"data":{"a":"\\ud800"}}',
}
BAD_YAML = {
    "beyond float range": b"spec: {a: 1.0e+400}\n",
    "nested 600 levels": b"spec: {a: " + b"[" * 600 + b"]" * 600 + b"}\n",
    "lone surrogate": b'data: {a: "\\ud800"}\n',
}
PATCHES = ("merge-patch+json", "strategic-merge-patch+json")


def _kubectl_lists(tmp_path: Path, access: ClusterAccess) -> None:
    out = Kubectl(tmp_path, access)("get", "cm", "-o", "json")
    assert out.returncode == 0, out.stderr
    json.loads(out.stdout)


def test_values_no_client_can_read_are_refused_on_every_write(
    tmp_path: Path, access: ClusterAccess, admin: Kube
) -> None:
    admin.create(CM, {"metadata": {"name": "target"}, "data": {"k": "v"}})
    before = admin.get(f"{CM}/target").json()
    for what, body in BAD_JSON.items():
        named = body.replace(b"{", b'{"metadata":{"name":"created"},', 1)
        created = admin.request("POST", CM, content=named, headers={"content-type": "application/json"})
        assert _refused(created)["reason"] == "BadRequest", what
        for kind in PATCHES:
            r = admin.request(
                "PATCH", f"{CM}/target", content=body, headers={"content-type": f"application/{kind}"}
            )
            assert r.status_code in (400, 422) and r.json()["kind"] == "Status", (what, kind, r.text[:200])
    for what, body in BAD_YAML.items():
        r = admin.request(
            "PATCH", f"{CM}/target", content=body, params={"fieldManager": "t"},
            headers={"content-type": "application/apply-patch+yaml"},
        )  # fmt: skip
        assert r.status_code == 400 and r.json()["kind"] == "Status", (what, r.text[:200])
        r = admin.request("POST", CM, content=b"metadata: {name: created}\n" + body, headers=YAML)
        assert r.status_code == 400, (what, r.text[:200])
    assert admin.get(f"{CM}/target").json() == before
    assert admin.get(f"{CM}/created").status_code == 404
    _kubectl_lists(tmp_path, access)


def test_json_patch_cannot_build_what_a_body_may_not_be(
    tmp_path: Path, access: ClusterAccess, admin: Kube
) -> None:
    admin.create(CM, {"metadata": {"name": "target"}, "data": {"k": "v"}})
    before = admin.get(f"{CM}/target").json()
    deep: Any = 1
    for _ in range(97):  # within a body's limit of 100 levels, beyond it once added under /spec/a/b/c/d/e
        deep = [deep]
    skeleton = {"op": "add", "path": "/spec", "value": {"a": {"b": {"c": {"d": {}}}}}}
    bad_ops = {
        "deep": [skeleton, {"op": "add", "path": "/spec/a/b/c/d/e", "value": deep}],
        "surrogate": [{"op": "add", "path": "/spec", "value": "\ud800"}],
    }
    for what, ops in bad_ops.items():
        r = admin.request(
            "PATCH", f"{CM}/target", content=json.dumps(ops),
            headers={"content-type": "application/json-patch+json"},
        )  # fmt: skip
        assert r.status_code in (400, 422) and r.json()["kind"] == "Status", (what, r.text[:200])
    # copying a subtree into itself doubles it each time: bounded like kube's JSONPatchMaxCopyBytes
    doubling = [{"op": "add", "path": "/spec", "value": {"x": "y" * 1000}}] + [
        {"op": "copy", "from": "/spec", "path": f"/spec/c{i}"} for i in range(13)
    ]
    r = admin.request(
        "PATCH", f"{CM}/target", content=json.dumps(doubling),
        headers={"content-type": "application/json-patch+json"},
    )  # fmt: skip
    assert r.status_code in (413, 422) and r.json()["kind"] == "Status", r.text[:200]
    assert admin.get(f"{CM}/target").json() == before
    _kubectl_lists(tmp_path, access)
