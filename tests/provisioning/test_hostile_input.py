"""Hostile JSON against a real server, on SQLite and PostgreSQL: refused with a 400, never stored, never a 500.

Lone surrogates, numbers beyond float range, nesting past the recursion limit and NUL characters were
each once accepted (and then broke every later read, or answered 500); ``kymaprov.strictjson`` now
refuses them at the door, and these tests hold the service to it through the whole HTTP stack.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    POSTGRES_URL,
    Api,
    RunningServer,
    drop_database,
    free_port,
    new_api,
    requires_postgres,
)

NAME_REGION = '"name": "rt-1", "region": "eu-central-1"'


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=requires_postgres)])
def hostile_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """One server per backend for the whole module; PostgreSQL gets a database of its own."""
    base: Path = tmp_path_factory.mktemp(f"hostile-{request.param}")
    if request.param == "sqlite":
        srv = RunningServer(base / "data", free_port(), free_port(), provisioning_seconds=0).start()
        yield srv
        srv.stop()
        return
    import psycopg

    assert POSTGRES_URL
    name = f"kymaprov_{uuid.uuid4().hex[:12]}"
    admin = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    srv = RunningServer(
        base / "data", free_port(), free_port(), provisioning_seconds=0, database_url=f"{POSTGRES_URL}/{name}"
    ).start()
    yield srv
    srv.stop()
    drop_database(name)


def send(api: Api, method: str, path: str, text: str) -> httpx.Response:
    """``text`` as the raw JSON body: the hostile parts must reach the server exactly as written."""
    return api.request(method, path, content=text.encode(), headers={"content-type": "application/json"})


def assert_envelope_400(r: httpx.Response, *fragments: str) -> None:
    """A 400 in the Provisioning API's ``{"error": {...}}`` envelope whose message names the problem."""
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert {"code", "message", "target", "correlationID"} <= set(error)
    assert error["code"] == 11000 and error["target"] == r.request.url.path
    for fragment in fragments:
        assert fragment in error["message"], error["message"]


def create_body(parameters: str = NAME_REGION, user: str = '"dev@example.com"', name: str = "") -> str:
    extra = f', "name": {name}' if name else ""
    return (
        '{"environmentType": "kyma", "planName": "aws", "serviceName": "kymaruntime", '
        f'"user": {user}, "parameters": {{{parameters}}}{extra}}}'
    )


def nested(depth: int) -> str:
    return '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)


def test_a_lone_surrogate_label_is_refused_and_the_environment_stays_readable(
    hostile_server: RunningServer,
) -> None:
    api = new_api(hostile_server, f"surrogate-{uuid.uuid4().hex[:6]}")
    env_id = api.create_kyma()
    api.wait_state(env_id)
    for labels in ('{"team": ["\\ud800"]}', '{"\\udc00": ["x"]}', '{"team": ["ok\\udfff"]}'):
        r = send(api, "PUT", f"/environments/{env_id}/labels", f'{{"labels": {labels}}}')
        assert_envelope_400(r, "surrogate")
    # before: the label was stored and both reads answered 500 until the labels were deleted
    listed = api.request("GET", "/environments")
    assert listed.status_code == 200, listed.text
    assert [e["id"] for e in listed.json()["environmentInstances"]] == [env_id]
    got = api.request("GET", f"/environments/{env_id}")
    assert got.status_code == 200, got.text
    assert got.json()["customLabels"] == {}
    assert api.request("GET", f"/environments/{env_id}/labels").json() == {"labels": {}}


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1" + "0" * 400])
def test_a_number_beyond_float_range_is_refused_and_nothing_is_stored(
    hostile_server: RunningServer, number: str
) -> None:
    api = new_api(hostile_server, f"inf-{uuid.uuid4().hex[:6]}")
    r = send(api, "POST", "/environments", create_body(f'{NAME_REGION}, "autoScalerMax": {number}'))
    assert_envelope_400(r, "out of range")
    assert api.request("GET", "/environments").json() == {"environmentInstances": []}

    env_id = api.create_kyma()
    api.wait_state(env_id)
    before = api.request("GET", f"/environments/{env_id}").json()
    r = send(
        api,
        "PATCH",
        f"/environments/{env_id}",
        f'{{"planName": "aws", "parameters": {{"autoScalerMax": {number}}}}}',
    )
    assert_envelope_400(r, "out of range")
    after = api.request("GET", f"/environments/{env_id}").json()
    assert after["state"] == "OK" and after["parameters"] == before["parameters"]
    assert "Infinity" not in api.request("GET", "/environments").text


@pytest.mark.parametrize("depth", [101, 600, 980])
def test_deeply_nested_json_on_patch_and_post_is_a_400(hostile_server: RunningServer, depth: int) -> None:
    api = new_api(hostile_server, f"deep-{uuid.uuid4().hex[:6]}")
    env_id = api.create_kyma()
    api.wait_state(env_id)
    r = send(api, "PATCH", f"/environments/{env_id}", f'{{"planName": "aws", "parameters": {nested(depth)}}}')
    assert_envelope_400(r, "nested deeper than")  # before: 500 RecursionError from 600 levels on
    r = send(api, "POST", "/environments", create_body(f'{NAME_REGION}, "x": {nested(depth)}'))
    assert_envelope_400(r, "nested deeper than")
    assert [e["id"] for e in api.request("GET", "/environments").json()["environmentInstances"]] == [env_id]
    assert api.request("GET", f"/environments/{env_id}").json()["state"] == "OK"


def test_nul_in_any_field_is_a_400(hostile_server: RunningServer) -> None:
    """PostgreSQL text cannot hold NUL: it answered 500; SQLite stored it. Both refuse it now."""
    api = new_api(hostile_server, f"nul-{uuid.uuid4().hex[:6]}")
    bodies = {
        "parameters.name": create_body('"name": "rt\\u0000", "region": "eu-central-1"'),
        "user": create_body(user='"dev\\u0000@example.com"'),
        "name": create_body(name='"display\\u0000name"'),
        "key": create_body(f'{NAME_REGION}, "x\\u0000": 1'),
    }
    for field, body in bodies.items():
        r = send(api, "POST", "/environments", body)
        assert r.status_code == 400, (field, r.text)
        assert_envelope_400(r, "NUL")
    assert api.request("GET", "/environments").json() == {"environmentInstances": []}

    env_id = api.create_kyma()
    api.wait_state(env_id)
    r = send(api, "PUT", f"/environments/{env_id}/labels", '{"labels": {"team": ["a\\u0000b"]}}')
    assert_envelope_400(r, "NUL")
    r = send(
        api, "PATCH", f"/environments/{env_id}", '{"planName": "aws", "parameters": {"name": "a\\u0000"}}'
    )
    assert_envelope_400(r, "NUL")
    env = api.request("GET", f"/environments/{env_id}")
    assert env.status_code == 200 and env.json()["customLabels"] == {}


def cis_post(server: RunningServer, body: dict[str, Any] | str) -> httpx.Response:
    sub = server.login["subaccount"]
    text = body if isinstance(body, str) else json.dumps(body)
    return httpx.post(
        f"{server.url}/cis/v1/subaccounts/{sub}/service_instances",
        content=text.encode(),
        headers={"authorization": f"Bearer {server.platform_token()}", "content-type": "application/json"},
    )


def test_nul_in_cis_parameters_and_names_is_a_400(hostile_server: RunningServer) -> None:
    """``btp create services/instance --parameters`` sends a JSON string; NUL inside it is refused too."""
    name = f"cis-{uuid.uuid4().hex[:6]}"
    attempts: list[dict[str, Any] | str] = [
        {"name": name, "offering_name": "cis", "plan_name": "local",
         "parameters": '{"grantType": "clientCredentials", "x": "a\\u0000b"}'},
        {"name": name + "\x00", "offering_name": "cis", "plan_name": "local",
         "parameters": {"grantType": "clientCredentials"}},
        {"name": name, "offering_name": "cis", "plan_name": "local",
         "parameters": {"grantType": "clientCredentials", "x": "a\x00b"}},
    ]  # fmt: skip
    for body in attempts:
        r = cis_post(hostile_server, body)
        assert r.status_code == 400, r.text
        assert isinstance(r.json()["error"], str) and "NUL" in r.json()["error"]
    ok = cis_post(
        hostile_server,
        {
            "name": name,
            "offering_name": "cis",
            "plan_name": "local",
            "parameters": {"grantType": "clientCredentials"},
        },
    )
    assert ok.status_code == 201, ok.text


def test_nul_in_a_url_is_a_400_in_each_apis_format(hostile_server: RunningServer) -> None:
    """A NUL in a path or query went to PostgreSQL as a parameter and came back as a 500."""
    api = new_api(hostile_server, f"url-{uuid.uuid4().hex[:6]}")
    for method, path in [
        ("GET", "/environments/a%00b"),
        ("PATCH", "/environments/a%00b"),
        ("DELETE", "/environments/a%00b"),
        ("GET", "/environments/a%00b/labels"),
        ("GET", "/environments/a%00b/bindings"),
        ("PUT", "/environments/a%00b/bindings"),
        ("GET", "/environments/a%00b/bindings/c%00d"),
    ]:
        r = api.request(
            method, path, json={"planName": "aws", "parameters": {}} if method == "PATCH" else None
        )
        assert_envelope_400(r, "NUL")
    r = api.client.get("/jobs-management/v1/jobs/a%00b/status")
    assert_envelope_400(r, "NUL")
    r = httpx.get(f"{hostile_server.url}/kubeconfig/a%00b")
    assert_envelope_400(r, "NUL")

    sub = hostile_server.login["subaccount"]
    platform = {"authorization": f"Bearer {hostile_server.platform_token()}"}
    for path in [
        "/cis/v1/subaccounts/a%00b/service_instances",
        f"/cis/v1/subaccounts/{sub}/service_instances/a%00b",
        f"/cis/v1/subaccounts/{sub}/service_bindings/a%00b",
        f"/cis/v1/subaccounts/{sub}/service_instances?name=a%00b",
    ]:
        r = httpx.get(f"{hostile_server.url}{path}", headers=platform)
        assert r.status_code == 400 and "NUL" in r.json()["error"], (path, r.text)
    r = httpx.post(
        f"{hostile_server.url}/admin/environments/a%00b/fail-next",
        json={"message": "x"},
        headers=hostile_server.admin_headers,
    )
    assert r.status_code == 400 and "NUL" in r.json()["error"], r.text


def test_nul_in_token_requests_is_bad_credentials(hostile_server: RunningServer) -> None:
    url = f"{hostile_server.url}/oauth/token"
    forwarded = {"x-forwarded-for": "192.0.2.77"}  # an address of its own: these failures count
    attempts = [
        httpx.post(url, data={"grant_type": "client_credentials", "client_id": "a\x00b", "client_secret": "x"}, headers=forwarded),
        httpx.post(url, data={"grant_type": "password", "client_id": "btp-cli", "username": "a\x00b", "password": "x"}, headers=forwarded),
        httpx.post(url, data={"grant_type": "client_credentials"}, auth=("a%00b", "x"), headers=forwarded),
    ]  # fmt: skip
    for r in attempts:
        assert r.status_code == 401, r.text
        assert r.json() == {"error": "unauthorized", "error_description": "Bad credentials"}


@pytest.mark.parametrize(
    "body",
    [
        {"displayName": "d" * 256, "subdomain": "long-name"},
        {"displayName": "long-subdomain", "subdomain": "s" * 256},
        {"displayName": "long-region", "subdomain": "long-region", "region": "r" * 65},
    ],
    ids=["displayName", "subdomain", "region"],
)
def test_subaccount_fields_longer_than_their_columns_are_a_400(
    hostile_server: RunningServer, body: dict[str, str]
) -> None:
    """PostgreSQL refuses a value longer than its column: that was a 500 from cis and the admin API."""
    sub_url = f"{hostile_server.url}/cis/v1/subaccounts"
    platform = {"authorization": f"Bearer {hostile_server.platform_token()}"}
    for url, headers in (
        (sub_url, platform),
        (f"{hostile_server.url}/admin/subaccounts", hostile_server.admin_headers),
    ):
        r = httpx.post(url, json=body, headers=headers)
        assert r.status_code == 400, r.text
        assert isinstance(r.json()["error"], str) and "at most" in r.json()["error"]
