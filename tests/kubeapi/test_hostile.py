"""Races and hostile input against the embedded Kubernetes API, on SQLite and on PostgreSQL.

PostgreSQL is where these used to fail: concurrent writers of one object passed their checks on the
same snapshot (a 500 from the unique constraint, or a lost update), and a NUL in a name, namespace or
cluster id reached a text parameter, which PostgreSQL refuses. Every answer must be a 4xx Status.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from kymaprov.backends.base import ClusterAccess
from tests.conftest import POSTGRES_URL
from tests.kubeapi.conftest import Kube, KubeServer

CM = "/api/v1/namespaces/default/configmaps"
RBAC = "/apis/rbac.authorization.k8s.io/v1"
THREADS = 20


@pytest.fixture(params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, kube_server: KubeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[KubeServer]:
    if request.param == "sqlite":
        yield kube_server
        return
    if not POSTGRES_URL:
        pytest.skip("set KYMAPROV_TEST_POSTGRES to run against PostgreSQL")
    monkeypatch.setenv("KYMAPROV_SECRET_KEY", "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=")
    database = request.getfixturevalue("postgres_database")
    on_postgres = KubeServer(tmp_path / "pg", database)
    yield on_postgres
    on_postgres.stop()


@pytest.fixture
def cluster(server: KubeServer) -> ClusterAccess:
    return server.cluster()


@pytest.fixture
def kube(cluster: ClusterAccess) -> Iterator[Kube]:
    client = Kube(cluster)
    yield client
    client.close()


def at_once(access: ClusterAccess, calls: list[Callable[[Kube], httpx.Response]]) -> list[httpx.Response]:
    """Run each call on its own connected client, all released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[Kube], httpx.Response]) -> httpx.Response:
        client = Kube(access)
        try:
            assert client.get("/api").status_code == 200  # TLS handshake done before the race
            barrier.wait(timeout=30)
            return call(client)
        finally:
            client.close()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def outcomes(responses: list[httpx.Response]) -> Counter[tuple[int, str]]:
    return Counter((r.status_code, r.json().get("reason", "")) for r in responses)


# --- races ----------------------------------------------------------------------------------------


def test_concurrent_creates_of_one_name_give_one_201_and_409s(cluster: ClusterAccess) -> None:
    for round_ in range(3):
        name = f"race-{round_}"
        got = outcomes(at_once(cluster, [lambda k: k.post(CM, {"metadata": {"name": name}})] * THREADS))  # noqa: B023
        assert got == {(201, ""): 1, (409, "AlreadyExists"): THREADS - 1}, got


def test_concurrent_updates_of_one_version_give_one_200_and_conflicts(
    cluster: ClusterAccess, kube: Kube
) -> None:
    version = kube.create(CM, {"metadata": {"name": "cm"}})["metadata"]["resourceVersion"]

    def put(i: int) -> Callable[[Kube], httpx.Response]:
        body = {"metadata": {"name": "cm", "resourceVersion": version}, "data": {"writer": str(i)}}
        return lambda k: k.request("PUT", f"{CM}/cm", json=body)

    responses = at_once(cluster, [put(i) for i in range(THREADS)])
    assert outcomes(responses) == {(200, ""): 1, (409, "Conflict"): THREADS - 1}
    winner = next(r.json() for r in responses if r.status_code == 200)
    assert kube.get(f"{CM}/cm").json()["data"] == winner["data"]  # the one 200 is what was stored


def test_concurrent_deletes_and_updates_of_one_object(cluster: ClusterAccess, kube: Kube) -> None:
    kube.create(CM, {"metadata": {"name": "cm"}})
    delete: Callable[[Kube], httpx.Response] = lambda k: k.delete(f"{CM}/cm")  # noqa: E731
    update: Callable[[Kube], httpx.Response] = lambda k: k.request(  # noqa: E731
        "PUT", f"{CM}/cm", json={"metadata": {"name": "cm"}, "data": {"a": "b"}}
    )
    responses = at_once(cluster, [delete, update] * (THREADS // 2))
    deletes, updates = outcomes(responses[::2]), outcomes(responses[1::2])
    assert deletes == {(200, ""): 1, (404, "NotFound"): THREADS // 2 - 1}, deletes
    assert set(updates) <= {(200, ""), (404, "NotFound")}, updates
    assert kube.get(f"{CM}/cm").status_code == 404  # no update wrote after the delete


def test_concurrent_deletecollection_and_delete(cluster: ClusterAccess, kube: Kube) -> None:
    for i in range(5):
        kube.create(CM, {"metadata": {"name": f"cm{i}", "labels": {"set": "x"}}})
    collection: Callable[[Kube], httpx.Response] = lambda k: k.delete(CM, params={"labelSelector": "set=x"})  # noqa: E731
    single: Callable[[Kube], httpx.Response] = lambda k: k.delete(f"{CM}/cm0")  # noqa: E731
    responses = at_once(cluster, [collection, single] * 5)
    collections, singles = outcomes(responses[::2]), outcomes(responses[1::2])
    assert collections == {(200, ""): 5}, collections  # an object deleted meanwhile is no 404
    assert singles[(200, "")] <= 1 and set(singles) <= {(200, ""), (404, "NotFound")}, singles
    assert kube.get(CM, params={"labelSelector": "set=x"}).json()["items"] == []


# --- NUL and other hostile input ------------------------------------------------------------------


def status(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert body["kind"] == "Status", body
    return response.status_code, body["reason"]


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", f"{CM}/a%00b", (404, "NotFound")),
        ("DELETE", f"{CM}/a%00b", (404, "NotFound")),
        ("GET", "/api/v1/namespaces/a%00b/configmaps/x", (404, "NotFound")),
        ("GET", "/api/v1/namespaces/a%00b", (404, "NotFound")),
        ("GET", f"{RBAC}/clusterroles/a%00b", (404, "NotFound")),
        ("GET", "/apis/apps/v1/namespaces/default/deployments/a%00b/scale", (404, "NotFound")),
        ("POST", "/api/v1/namespaces/a%00b/configmaps", (404, "NotFound")),
        ("POST", "/api/v1/namespaces/default/serviceaccounts/a%00b/token", (404, "NotFound")),
    ],
)
def test_nul_in_the_path_is_not_found(kube: Kube, method: str, path: str, expected: tuple[int, str]) -> None:
    body = {"metadata": {"name": "x"}} if method == "POST" else None
    assert status(kube.request(method, path, json=body)) == expected


def test_nul_in_the_path_of_updates_and_patches(kube: Kube) -> None:
    put = kube.request("PUT", f"{CM}/a%00b", json={"metadata": {"name": "a\x00b"}})
    assert status(put) == (404, "NotFound")
    merge = {"content-type": "application/merge-patch+json"}
    assert status(kube.request("PATCH", f"{CM}/a%00b", content=b"{}", headers=merge)) == (404, "NotFound")
    apply = {"content-type": "application/apply-patch+yaml"}
    created = kube.request("PATCH", f"{CM}/a%00b?fieldManager=m", content=b"{}", headers=apply)
    assert status(created) == (422, "Invalid")  # server-side apply creates: an invalid name


def test_a_list_in_a_namespace_with_nul_is_empty(kube: Kube) -> None:
    listed = kube.get("/api/v1/namespaces/a%00b/configmaps")
    assert listed.status_code == 200 and listed.json()["items"] == []
    rules = kube.post(
        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", {"spec": {"namespace": "a\x00b"}}
    )
    assert rules.status_code == 201, rules.text


def test_a_cluster_id_with_nul_is_unauthorized(cluster: ClusterAccess, kube: Kube) -> None:
    other = cluster.server.replace("/clusters/", "/clusters/a%00")
    assert status(kube.get(f"{other}/api/v1/namespaces")) == (401, "Unauthorized")


@pytest.mark.parametrize("name", ["a\x00b", "x" * 254])
def test_names_no_row_can_hold_are_invalid(kube: Kube, name: str) -> None:
    for path, body in (
        (CM, {"metadata": {"name": name}}),
        (f"{RBAC}/clusterroles", {"metadata": {"name": name}, "rules": []}),
        (f"{RBAC}/namespaces/default/roles", {"metadata": {"name": name}, "rules": []}),
    ):
        created = kube.post(path, body)
        assert status(created) == (422, "Invalid"), path
        assert created.json()["details"]["causes"][0]["field"] == "metadata.name"


def test_a_name_with_a_trailing_newline_is_invalid(kube: Kube) -> None:
    assert status(kube.post(CM, {"metadata": {"name": "a\n"}})) == (422, "Invalid")
    assert status(kube.post("/api/v1/namespaces", {"metadata": {"name": "a\n"}})) == (422, "Invalid")


def test_nul_in_object_values_round_trips(kube: Kube) -> None:
    created = kube.create(CM, {"metadata": {"name": "nul"}, "data": {"k": "a\x00b"}})
    assert created["data"]["k"] == "a\x00b"
    assert kube.get(f"{CM}/nul").json()["data"]["k"] == "a\x00b"


@pytest.mark.parametrize(
    "query",
    [
        "labelSelector=a%3Db%00",
        "labelSelector=a%3D%ED%A0%80",  # not UTF-8: a lone surrogate's bytes
        "fieldSelector=metadata.name%00%3Da",
        "fieldSelector=%3D%2C%2C%3D%3D%21%3D",
        "watch=1&resourceVersion=abc",
        "watch=1&resourceVersion=a%00",
        "watch=1&resourceVersion=-99999999999999999999",
        "watch=1&resourceVersion=%2B1",
        "watch=1&timeoutSeconds=a%00",
    ],
)
def test_hostile_queries_are_bad_requests(kube: Kube, query: str) -> None:
    assert status(kube.get(f"{CM}?{query}")) == (400, "BadRequest")


@pytest.mark.parametrize("query", ["limit=-1", "limit=abc", "fieldSelector=metadata.name%3Da%00"])
def test_hostile_list_options_are_not_errors(kube: Kube, query: str) -> None:
    listed = kube.get(f"{CM}?{query}")
    assert listed.status_code == 200 and listed.json()["kind"] == "ConfigMapList"


# --- wrong types in fields the server reads -------------------------------------------------------

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
CONTAINERS = [{"name": "c", "image": "busybox"}]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/namespaces/default/services", {"spec": {"ports": [5]}}),
        ("/api/v1/namespaces/default/services", {"spec": {"ports": 5}}),
        ("/api/v1/namespaces/default/services", {"spec": 5}),
        ("/api/v1/namespaces/default/pods", {"spec": {"containers": [5]}}),
        ("/api/v1/namespaces/default/pods", {"spec": {"containers": CONTAINERS}, "status": 5}),
        ("/api/v1/namespaces", {"spec": 5}),
        (
            "/apis/apps/v1/namespaces/default/deployments",
            {
                "spec": {
                    "selector": {"matchLabels": {"a": "b"}},
                    "template": {"metadata": 5, "spec": {"containers": CONTAINERS}},
                }
            },
        ),
    ],
)
def test_wrong_types_in_read_fields_are_bad_requests(kube: Kube, path: str, body: dict[str, Any]) -> None:
    created = kube.post(path, {"metadata": {"name": "typed"}, **body})
    assert status(created) == (400, "BadRequest")
    assert "json: cannot unmarshal" in created.json()["message"]
    listed = kube.get(path, headers={"accept": TABLE})
    assert listed.status_code == 200 and "typed" not in listed.text


def test_a_service_with_a_wrong_port_type_cannot_break_its_table(kube: Kube) -> None:
    kube.create(
        "/api/v1/namespaces/default/services", {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}
    )
    patched = kube.request(
        "PATCH",
        "/api/v1/namespaces/default/services/s",
        content=b'{"spec":{"ports":[5]}}',
        headers={"content-type": "application/merge-patch+json"},
    )
    assert status(patched) == (400, "BadRequest")
    assert kube.get("/api/v1/namespaces/default/services", headers={"accept": TABLE}).status_code == 200


@pytest.mark.parametrize("preconditions", ["x", [1], 5, {"uid": 5}, {"resourceVersion": ["1"]}])
def test_malformed_delete_preconditions_are_bad_requests(kube: Kube, preconditions: Any) -> None:
    kube.create(CM, {"metadata": {"name": "cm"}})
    assert status(kube.request("DELETE", f"{CM}/cm", json={"preconditions": preconditions})) == (
        400,
        "BadRequest",
    )
    assert kube.get(f"{CM}/cm").status_code == 200


def test_server_side_apply_creating_with_wrong_metadata_is_a_bad_request(kube: Kube) -> None:
    apply = {"content-type": "application/apply-patch+yaml"}
    created = kube.request("PATCH", f"{CM}/new?fieldManager=m", content=b"metadata: 5\n", headers=apply)
    assert status(created) == (400, "BadRequest")
