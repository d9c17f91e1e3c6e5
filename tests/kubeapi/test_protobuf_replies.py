"""Protobuf replies (``Accept: application/vnd.kubernetes.protobuf``) from a real server, decoded back."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from kymaprov.backends.base import ClusterAccess
from kymaprov.kubeapi import protobuf
from kymaprov.kubeapi.protobuf import KINDS, LIST_META, MAGIC, STATUS, F, decode_message
from tests.kubeapi.conftest import Kube, Kubectl

PB = "application/vnd.kubernetes.protobuf"
TYPED_CLIENT = f"{PB},application/json"  # what kubectl 1.32+ typed clients send


def unwrap(body: bytes) -> tuple[str, str, bytes]:
    """apiVersion, kind and raw of a ``k8s\\0`` + runtime.Unknown body."""
    assert body.startswith(MAGIC)
    envelope = {n: v for n, _, v in protobuf._fields(body[len(MAGIC) :])}
    assert set(envelope) == {1, 2, 3, 4} and envelope[3] == b"" and envelope[4] == b""
    type_meta = {n: bytes(v).decode() for n, _, v in protobuf._fields(envelope[1])}
    return type_meta.get(1, ""), type_meta[2], bytes(envelope[2])


def go_view(value: Any) -> Any:
    """What a Go client sees: an empty object, list or zero scalar is the same as none."""
    if isinstance(value, dict):
        pairs = ((k, go_view(v)) for k, v in value.items())
        return {k: v for k, v in pairs if v not in (None, "", 0, False, {}, [])}
    if isinstance(value, list):
        return [go_view(v) for v in value]
    return value


def untyped(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}


def test_configmap_deployment_and_namespace_list_as_protobuf(admin: Kube) -> None:
    admin.create(
        "/api/v1/namespaces/default/configmaps",
        {"metadata": {"name": "pb", "labels": {"a": "b"}}, "data": {"k": "v", "e": ""}},
    )
    admin.create(
        "/apis/apps/v1/namespaces/default/deployments",
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]
                    },
                },
            },
        },
    )
    deadline = time.monotonic() + 10  # the Deployment controller writes its revision and status first
    while "observedGeneration" not in admin.get(
        "/apis/apps/v1/namespaces/default/deployments/web"
    ).json().get("status", {}):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cases = [
        ("/api/v1/namespaces/default/configmaps/pb", "v1", "ConfigMap", KINDS["ConfigMap"]),
        ("/apis/apps/v1/namespaces/default/deployments/web", "apps/v1", "Deployment", KINDS["Deployment"]),
        (
            "/api/v1/namespaces",
            "v1",
            "NamespaceList",
            {1: F("metadata", LIST_META), 2: F("items", KINDS["Namespace"], repeated=True)},
        ),
    ]
    for path, api_version, kind, schema in cases:
        as_json = admin.get(path).json()
        reply = admin.get(path, headers={"accept": PB})
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"] == PB
        got_version, got_kind, raw = unwrap(reply.content)
        assert (got_version, got_kind) == (api_version, kind)
        decoded = decode_message(raw, schema)
        expected = untyped(as_json)
        if kind.endswith("List"):
            expected["items"] = [untyped(item) for item in expected["items"]]
            # the list's version is the cluster's newest: the runtime's controllers (node leases, events)
            # may write between the two reads, so the protobuf list's is the same or newer
            got_rv = decoded["metadata"].pop("resourceVersion")
            assert int(got_rv) >= int(expected["metadata"].pop("resourceVersion")), kind
        assert go_view(decoded) == go_view(expected), (
            kind
        )  # every field: metadata, managedFields, spec, status
        # kubectl's typed clients list protobuf first: they get it too
        typed = admin.get(path, headers={"accept": TYPED_CLIENT})
        assert typed.headers["content-type"] == PB
        typed_version, typed_kind, typed_raw = unwrap(typed.content)
        assert (typed_version, typed_kind) == (api_version, kind)
        again = decode_message(typed_raw, schema)
        if kind.endswith("List"):  # a newer list version, as above
            assert int(again["metadata"].pop("resourceVersion")) >= int(got_rv), kind
        assert go_view(again) == go_view(decoded), kind
    deployment = decode_message(
        unwrap(admin.get(cases[1][0], headers={"accept": PB}).content)[2], KINDS["Deployment"]
    )
    assert deployment["spec"]["replicas"] == 0 and deployment["metadata"]["creationTimestamp"]
    # JSON still wins where the client prefers it
    for accept in ("application/json", f"application/json,{PB}", "*/*", "", f"{PB};q=0.5,application/json"):
        r = admin.get(cases[0][0], headers={"accept": accept})
        assert r.headers["content-type"].startswith("application/json"), accept
        assert r.json()["data"] == {"k": "v", "e": ""}


def test_errors_are_protobuf_status(admin: Kube) -> None:
    missing = admin.get("/api/v1/namespaces/default/configmaps/nope", headers={"accept": TYPED_CLIENT})
    assert missing.status_code == 404 and missing.headers["content-type"] == PB
    api_version, kind, raw = unwrap(missing.content)
    assert (api_version, kind) == ("v1", "Status")
    status = decode_message(raw, STATUS)
    assert status == {
        "status": "Failure",
        "message": 'configmaps "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "kind": "configmaps"},
        "code": 404,
    }


def test_kinds_without_a_protobuf_form(admin: Kube) -> None:
    admin.create(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        {
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "names": {
                    "plural": "widgets",
                    "singular": "widget",
                    "kind": "Widget",
                    "listKind": "WidgetList",
                },
                "scope": "Namespaced",
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        },
    )
    widgets = "/apis/example.com/v1/namespaces/default/widgets"
    admin.create(widgets, {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
    for path in (f"{widgets}/w", widgets):
        only_pb = admin.get(path, headers={"accept": PB})
        assert only_pb.status_code == 406, only_pb.text
        assert only_pb.json()["reason"] == "NotAcceptable"
        typed = admin.get(path, headers={"accept": TYPED_CLIENT})  # falls back to JSON, as kube does
        assert typed.status_code == 200 and typed.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("version", ["1.33"])
def test_kubectl_with_protobuf_replies(tmp_path: Path, access: ClusterAccess, version: str) -> None:
    kubectl = Kubectl(tmp_path, access, version=version)
    created = kubectl("create", "configmap", "pbk", "--from-literal=a=b", "-v=8")
    assert created.returncode == 0, created.stderr
    assert "configmap/pbk created" in created.stdout
    reply = created.stderr.split('"Response" status="201 Created"', 1)[1].split(" >", 1)[0]
    assert f"Content-Type: {PB}" in reply  # the reply to create came back as protobuf
    printed = kubectl("create", "configmap", "pbk3", "--from-literal=c=d", "-o", "yaml")
    assert printed.returncode == 0, printed.stderr  # decoded from protobuf by the typed client
    assert (
        "c: d" in printed.stdout
        and "name: pbk3" in printed.stdout
        and 'creationTimestamp: "20' in printed.stdout
    )
    got = kubectl("get", "cm", "pbk", "-o", "yaml")
    assert got.returncode == 0 and "a: b" in got.stdout, got.stderr
    applied = kubectl(
        "apply", "-f", "-", stdin="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pbk2\ndata:\n  x: z\n"
    )
    assert applied.returncode == 0 and "configmap/pbk2 created" in applied.stdout, applied.stderr
    namespace = kubectl("create", "namespace", "pbns")
    assert namespace.returncode == 0 and "namespace/pbns created" in namespace.stdout, namespace.stderr
    can = kubectl("auth", "can-i", "create", "configmaps", "-v=8")
    assert can.returncode == 0 and can.stdout.strip() == "yes", can.stderr
    assert f"Content-Type: {PB}" in can.stderr.split('"Response" status="201 Created"', 1)[1]
    token = kubectl("create", "token", "default", "-v=8")
    assert token.returncode == 0 and token.stdout.count(".") == 2, token.stderr
    assert f"Content-Type: {PB}" in token.stderr.split('"Response" status="201 Created"', 1)[1]
    missing = kubectl("create", "configmap", "pbk", "--from-literal=a=b")
    assert missing.returncode != 0 and 'configmaps "pbk" already exists' in missing.stderr
