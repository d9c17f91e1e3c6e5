"""Paged lists (``limit``/``continue``) over one consistent snapshot, ``resourceVersionMatch``, and 410
for what the change log no longer holds; with the ``kubernetes`` client, kubectl and raw requests."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from kymaprov.backends.base import ClusterAccess
from tests.kubeapi.conftest import Kube, Kubectl, KubeServer, write_kubeconfig

CM = "/api/v1/namespaces/default/configmaps"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
CONTINUE_TOO_OLD = (
    "The provided continue parameter is too old to display a consistent list result. You can start a "
    "new list without the continue parameter, or use the continue token in this response to retrieve "
    "the remainder of the results. Continuing with the provided token results in an inconsistent list - "
    "objects that were created, modified, or deleted between the time the first chunk was returned and "
    "now may show up in the list."
)


ROOT_CA = "kube-root-ca.crt"  # in every namespace, as on real clusters


def _fill(admin: Kube, count: int) -> None:
    for i in range(count):
        admin.create(CM, {"metadata": {"name": f"cm-{i:02d}"}, "data": {"i": str(i)}})


def _token(value: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))))


def test_python_client_pages_35_objects_by_10(tmp_path: Path, access: ClusterAccess, admin: Kube) -> None:
    _fill(admin, 35)
    api = config.new_client_from_config(str(write_kubeconfig(tmp_path / "kc", access)))
    core = client.CoreV1Api(api)
    pages, token = [], None
    while True:
        page = core.list_namespaced_config_map("default", limit=10, _continue=token)
        pages.append(page)
        assert page.metadata is not None
        token = page.metadata._continue
        if not token:
            break
        if len(pages) == 1:  # writes after the first page do not show in the later ones
            admin.create(CM, {"metadata": {"name": "cm-99"}})
            assert admin.delete(f"{CM}/cm-34").status_code == 200
    # 36: default also holds kube-root-ca.crt (the root CA publisher's), which sorts last
    assert [len(p.items) for p in pages] == [10, 10, 10, 6]
    metas = [p.metadata for p in pages if p.metadata is not None]
    assert {m.resource_version for m in metas} == {metas[0].resource_version}
    assert [m.remaining_item_count for m in metas] == [26, 16, 6, None]
    names = [i.metadata.name for p in pages for i in p.items if i.metadata is not None]
    assert names == [f"cm-{i:02d}" for i in range(35)] + [ROOT_CA]
    assert metas[0]._continue is not None and metas[0].resource_version is not None
    first = _token(metas[0]._continue)
    assert first == {
        "v": "meta.k8s.io/v1",
        "rv": int(metas[0].resource_version),
        "start": "cm-09\x00",
    }


def test_pages_across_namespaces_and_tables(admin: Kube) -> None:
    _fill(admin, 12)
    listed = admin.get("/api/v1/configmaps", params={"limit": "5"}).json()
    assert len(listed["items"]) == 5 and listed["metadata"]["continue"]
    assert _token(listed["metadata"]["continue"])["start"].endswith("\x00")
    assert "/" in str(_token(listed["metadata"]["continue"])["start"])  # namespace/name keys
    table = admin.get(CM, params={"limit": "5"}, headers={"accept": TABLE}).json()
    assert table["kind"] == "Table" and len(table["rows"]) == 5
    assert (
        table["metadata"]["continue"] and table["metadata"]["remainingItemCount"] == 8
    )  # + kube-root-ca.crt
    rest = admin.get(
        CM, params={"limit": "50", "continue": table["metadata"]["continue"]}, headers={"accept": TABLE}
    )
    assert len(rest.json()["rows"]) == 8 and "continue" not in rest.json()["metadata"]
    selected = admin.get(CM, params={"limit": "2", "fieldSelector": "metadata.name!=cm-00"}).json()
    assert [i["metadata"]["name"] for i in selected["items"]] == ["cm-01", "cm-02"]
    assert "remainingItemCount" not in selected["metadata"] and selected["metadata"]["continue"]


def test_an_expired_continue_token_is_410_with_a_token_to_go_on(kube_server: KubeServer, admin: Kube) -> None:
    _fill(admin, 4)
    first = admin.get(CM, params={"limit": "2"}).json()
    admin.create(CM, {"metadata": {"name": "cm-late"}})
    kube_server.ctx.clock.advance(301)  # the next write compacts the log past the first page's version
    admin.create(CM, {"metadata": {"name": "cm-later"}})
    expired = admin.get(CM, params={"limit": "2", "continue": first["metadata"]["continue"]})
    assert expired.status_code == 410
    body = expired.json()
    assert (body["reason"], body["code"], body["message"]) == ("Expired", 410, CONTINUE_TOO_OLD)
    assert _token(body["metadata"]["continue"]) == {"v": "meta.k8s.io/v1", "rv": -1, "start": "cm-01\x00"}
    rest = admin.get(CM, params={"continue": body["metadata"]["continue"]}).json()  # inconsistent: the latest
    assert [i["metadata"]["name"] for i in rest["items"]] == [
        "cm-02",
        "cm-03",
        "cm-late",
        "cm-later",
        ROOT_CA,
    ]


def test_resource_version_match(kube_server: KubeServer, admin: Kube) -> None:
    before = admin.create(CM, {"metadata": {"name": "v"}, "data": {"n": "1"}})["metadata"]["resourceVersion"]
    r = admin.request(
        "PATCH",
        f"{CM}/v",
        content='{"data":{"n":"2"}}',
        headers={"content-type": "application/merge-patch+json"},
    )
    assert r.status_code == 200
    exact = admin.get(CM, params={"resourceVersion": before, "resourceVersionMatch": "Exact"}).json()
    assert exact["metadata"]["resourceVersion"] == before and exact["items"][-1]["data"] == {
        "n": "1"
    }  # after kube-root-ca.crt
    newer = admin.get(CM, params={"resourceVersion": before, "resourceVersionMatch": "NotOlderThan"}).json()
    assert newer["items"][-1]["data"] == {"n": "2"}
    future = admin.get(CM, params={"resourceVersion": "999999", "resourceVersionMatch": "NotOlderThan"})
    assert (future.status_code, future.json()["reason"]) == (504, "Timeout")
    for params, message in [
        (
            {"resourceVersionMatch": "Exact"},
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
        ),
        (
            {"resourceVersion": "0", "resourceVersionMatch": "Exact"},
            'resourceVersionMatch "exact" is forbidden',
        ),
        ({"resourceVersion": "1", "resourceVersionMatch": "Newest"}, 'Unsupported value: "Newest"'),
        (
            {"resourceVersion": "1", "resourceVersionMatch": "Exact", "continue": "x"},
            "forbidden when continue",
        ),
    ]:
        bad = admin.get(CM, params=params)
        assert bad.status_code == 422, (params, bad.text)
        assert bad.json()["reason"] == "Invalid" and message in bad.json()["message"], bad.text
        assert bad.json()["details"]["kind"] == "ListOptions"
    for params in (
        {"continue": "!!"},
        {"continue": base64.b64encode(b'{"v":"x","rv":1,"start":"a"}').decode()},
    ):
        bad = admin.get(CM, params=params)
        assert (bad.status_code, bad.json()["reason"]) == (400, "BadRequest"), bad.text
        assert bad.json()["message"].startswith("invalid continue token: continue key is not valid")
    kube_server.ctx.clock.advance(301)
    admin.create(CM, {"metadata": {"name": "w"}})
    compacted = admin.get(CM, params={"resourceVersion": before, "resourceVersionMatch": "Exact"})
    assert (compacted.status_code, compacted.json()["reason"]) == (410, "Expired")
    assert compacted.json()["message"] == "The resourceVersion for the provided list is too old."


@pytest.mark.parametrize("version", ["1.27", "1.30", "1.33"])
def test_kubectl_chunk_size_pages(tmp_path: Path, access: ClusterAccess, admin: Kube, version: str) -> None:
    _fill(admin, 25)
    result = Kubectl(tmp_path, access, version=version)("get", "cm", "--chunk-size=10", "-v=6")
    assert result.returncode == 0, result.stderr
    requests = re.findall(r"https://[^\s\"]+/configmaps\?[^\s\"]*limit=10[^\s\"]*", result.stderr)
    assert len(requests) == 3, result.stderr  # 10 + 10 + 6 (with kube-root-ca.crt)
    assert sum("continue=" in r for r in requests) == 2
    assert [line.split()[0] for line in result.stdout.splitlines()[1:]] == [
        f"cm-{i:02d}" for i in range(25)
    ] + [ROOT_CA]
