"""The HTTP-free building blocks: patches, selectors, protobuf decoding, human durations."""

from __future__ import annotations

import pytest

from kymaprov.kubeapi import patch, protobuf
from kymaprov.kubeapi.errors import BadRequest, Unprocessable
from kymaprov.kubeapi.selectors import matcher
from kymaprov.kubeapi.times import human_duration


def test_strategic_merge_patch_as_kubectl_apply_sends_it() -> None:
    live = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "c1",
                            "image": "nginx:1.25",
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "x"}],
                        },
                        {
                            "name": "c2",
                            "image": "redis",
                            "ports": [{"containerPort": 80}, {"containerPort": 81}],
                        },
                    ],
                    "finalizers": ["a"],
                }
            }
        }
    }
    body = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "c2"}, {"name": "c1"}],
                    "containers": [
                        {
                            "name": "c1",
                            "image": "nginx:1.26",
                            "env": [{"name": "A", "value": "2"}, {"name": "B", "$patch": "delete"}],
                        },
                        {"name": "c2", "ports": [{"containerPort": 81, "protocol": "UDP"}]},
                    ],
                    "finalizers": ["b"],
                }
            }
        }
    }
    spec = patch.strategic_merge(live, body)["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["containers"]] == ["c2", "c1"]
    assert spec["containers"][1] == {
        "name": "c1",
        "image": "nginx:1.26",
        "env": [{"name": "A", "value": "2"}],
    }
    assert spec["containers"][0]["ports"] == [{"containerPort": 80}, {"containerPort": 81, "protocol": "UDP"}]
    assert spec["finalizers"] == ["a", "b"]
    assert patch.strategic_merge({"a": {"b": 1, "c": 2}}, {"a": {"$patch": "replace", "d": 3}}) == {
        "a": {"d": 3}
    }
    assert patch.strategic_merge({"a": {"b": 1}, "c": 1}, {"a": None}) == {"c": 1}
    assert patch.strategic_merge({"f": ["x", "y"]}, {"$deleteFromPrimitiveList/f": ["x"]}) == {"f": ["y"]}
    assert patch.strategic_merge({"s": {"a": 1, "b": 2}}, {"s": {"$retainKeys": ["a"], "a": 3}}) == {
        "s": {"a": 3}
    }
    assert patch.strategic_merge({"args": ["a", "b"]}, {"args": ["c"]}) == {"args": ["c"]}


def test_json_and_merge_patch() -> None:
    doc = {"a": [1, 2], "b": {"c": 1}}
    ops = [
        {"op": "add", "path": "/a/-", "value": 3},
        {"op": "replace", "path": "/b/c", "value": 2},
        {"op": "move", "from": "/b", "path": "/d"},
        {"op": "copy", "from": "/a/0", "path": "/e"},
        {"op": "remove", "path": "/a/1"},
        {"op": "test", "path": "/e", "value": 1},
    ]
    assert patch.json_patch(doc, ops) == {"a": [1, 3], "d": {"c": 2}, "e": 1}
    assert doc == {"a": [1, 2], "b": {"c": 1}}
    with pytest.raises(Unprocessable):
        patch.json_patch(doc, [{"op": "remove", "path": "/nope"}])
    with pytest.raises(BadRequest):
        patch.json_patch(doc, {"op": "add"})
    assert patch.merge_patch({"a": 1, "b": {"c": 1, "d": 2}}, {"a": None, "b": {"c": None, "e": 3}}) == {
        "b": {"d": 2, "e": 3}
    }


def test_selectors() -> None:
    obj = {
        "metadata": {"name": "n", "namespace": "ns", "labels": {"app": "web", "tier": "fe"}},
        "status": {"phase": "Running"},
    }
    for selector, expected in [
        ("app=web", True),
        ("app==web,tier=fe", True),
        ("app!=web", False),
        ("missing!=x", True),
        ("app in (api, web)", True),
        ("app notin (web)", False),
        ("tier", True),
        ("!tier", False),
        ("!missing", True),
        ("", True),
    ]:
        match = matcher(selector, None, "pods")
        assert (match is None or match(obj)) is expected, selector  # None: selects everything
    assert matcher("", "", "pods") is None
    both = matcher(None, "metadata.name=n,status.phase=Running", "pods")
    assert both is not None and both(obj)
    other = matcher(None, "metadata.namespace!=ns", "pods")
    assert other is not None and not other(obj)
    with pytest.raises(BadRequest, match=r"field label not supported: status\.phase"):
        matcher(None, "status.phase=Running", "configmaps")
    with pytest.raises(BadRequest):
        matcher("app in (web", None, "pods")


def test_human_duration() -> None:
    cases = {0: "0s", 119: "119s", 150: "2m30s", 600: "10m", 3 * 3600: "3h", 5 * 3600 + 60: "5h1m",
             30 * 3600: "30h", 3 * 86400 + 3600: "3d1h", 100 * 86400: "100d", 800 * 86400: "2y70d", -5: "<invalid>"}  # fmt: skip
    for seconds, text in cases.items():
        assert human_duration(seconds) == text


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, value: bytes | int) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def test_protobuf_token_request_and_access_review() -> None:
    spec = _field(1, b"api") + _field(4, 1200)
    raw = _field(1, b"") + _field(2, spec) + _field(3, b"")
    type_meta = _field(1, b"authentication.k8s.io/v1") + _field(2, b"TokenRequest")
    body = protobuf.MAGIC + _field(1, type_meta) + _field(2, raw) + _field(3, b"") + _field(4, b"")
    assert protobuf.decode_request(body, "TokenRequest") == {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"audiences": ["api"], "expirationSeconds": 1200},
    }
    attributes = b"".join(
        _field(n, v)
        for n, v in [
            (1, b"ns1"),
            (2, b"create"),
            (3, b"apps"),
            (4, b""),
            (5, b"deployments"),
            (6, b"scale"),
            (7, b""),
        ]
    )
    raw = _field(1, b"") + _field(2, _field(1, attributes)) + _field(3, _field(1, 0))
    body = protobuf.MAGIC + _field(1, _field(2, b"SelfSubjectAccessReview")) + _field(2, raw)
    decoded = protobuf.decode_request(body, "SelfSubjectAccessReview")
    assert decoded["spec"] == {
        "resourceAttributes": {
            "namespace": "ns1",
            "verb": "create",
            "group": "apps",
            "resource": "deployments",
            "subresource": "scale",
        }
    }
    labels = _field(11, _field(1, b"app") + _field(2, b"web"))
    deployment = _field(1, _field(1, b"web") + labels) + _field(2, _field(1, 0))
    decoded = protobuf.decode_request(
        protobuf.MAGIC + _field(1, _field(2, b"Deployment")) + _field(2, deployment), ""
    )
    assert decoded["metadata"] == {"name": "web", "labels": {"app": "web"}}
    assert decoded["spec"] == {"replicas": 0}
    with pytest.raises(BadRequest):
        protobuf.decode_request(b"nope", "Namespace")
