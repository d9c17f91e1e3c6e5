"""The BTP CLI-server protocol against a real kymaprov: the cassettes' request sequences get the real
server's status codes, headers and response fields (tests/cliserver/vectors.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cliserver import vectors as v
from tests.conftest import RunningServer, free_port, requires_postgres, run_kubectl

VERSION = "v2.106.1"


class Cli:
    """A session of the protocol, sending what the provider sends."""

    def __init__(self, server: RunningServer, version: str = VERSION) -> None:
        self.server = server
        self.version = version
        self.session_id = ""
        self.subdomain = ""

    def login(self, user: str | None = None, password: str | None = None, **extra: str) -> httpx.Response:
        login = self.server.login
        body = {
            "customIdp": "",
            "subdomain": "kymaprov-ga",
            "userName": user or login["user"],
            "password": password or login["password"],
            **extra,
        }
        r = httpx.post(
            f"{self.server.url}/login/{self.version}", json=body, headers={"X-Cpcli-Format": "json"}
        )
        if r.status_code == 200:
            self.session_id = r.headers["x-cpcli-sessionid"]
            self.subdomain = body["subdomain"]
        return r

    def raw(self, command: str, action: str, **params: Any) -> httpx.Response:
        headers = {
            "X-Cpcli-Format": "json",
            "X-Cpcli-Sessionid": self.session_id,
            "X-Cpcli-Subdomain": self.subdomain,
            "X-Cpcli-Customidp": "",
            "X-Correlationid": "test",
        }
        url = f"{self.server.url}/command/{self.version}/{command}?{action}"
        return httpx.post(url, json={"paramValues": params}, headers=headers, timeout=30)

    def run(self, command: str, action: str, backend: int = 200, /, **params: Any) -> Any:
        r = self.raw(command, action, **params)
        assert r.status_code == 200, (r.status_code, r.headers, r.text)
        assert r.headers["x-cpcli-backend-status"] == str(backend), r.text
        mediatype = v.SM_MEDIATYPE if command.startswith("services/") else v.ACCOUNTS_MEDIATYPE
        if backend < 400:
            assert r.headers["x-cpcli-backend-mediatype"] == mediatype
        return r.json()


def assert_fields(body: dict[str, Any], expected: dict[str, str]) -> None:
    assert {k: v.form(body.get(k)) for k in expected} == expected


@pytest.fixture
def cli(server: RunningServer) -> Cli:
    c = Cli(server)
    assert c.login().status_code == 200
    return c


def test_login_answers_a_session(server: RunningServer) -> None:
    c = Cli(server)
    r = c.login()
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert_fields(body, v.LOGIN_FIELDS)
    assert body["mail"] == body["user"] == server.login["user"]
    assert body["refreshToken"] == r.headers["x-cpcli-sessionid"]
    assert c.run("accounts/global-account", "get", globalAccount="kymaprov-ga")["subdomain"] == "kymaprov-ga"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"password": "wrong"}, 401),
        ({"user": "nobody@example.com"}, 401),
        ({"subdomain": "no-such-ga"}, 404),
        ({"customIdp": "other.idp.example"}, 401),
    ],
)
def test_login_refusals(server: RunningServer, change: dict[str, str], status: int) -> None:
    c = Cli(server)
    r = c.login(change.pop("user", None), change.pop("password", None), **change)
    assert r.status_code == status
    assert "x-cpcli-sessionid" not in r.headers


def test_password_guesses_are_limited_with_the_token_endpoints(server: RunningServer) -> None:
    """Failed logins count per user name as at /oauth/token, and in the same counter."""
    c = Cli(server)
    guesser = "guesser@example.com"
    statuses = [c.login(user=guesser, password=f"guess-{n}").status_code for n in range(10)]
    assert statuses == [401] * 10
    blocked = c.login(user=guesser, password="another")
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    token = httpx.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "password", "client_id": "btp-cli", "username": guesser, "password": "x"},
    )
    assert token.status_code == 429
    assert c.login().status_code == 200  # another user is not blocked


def test_a_refusal_quoting_unicode_or_control_characters_keeps_its_empty_body_form(
    server: RunningServer,
) -> None:
    """The reason quotes the URL; its header escapes what a header cannot carry, rather than a 500."""
    r = httpx.post(f"{server.url}/login/v%E8%A5%A7%0A", json={})
    assert r.status_code == 404 and r.content == b""
    assert r.headers["x-cpcli-server-message"] == "'v\\u8967\\n' is not a protocol version"


@pytest.mark.parametrize(
    ("version", "status"), [("v2.64.0", 200), ("v2.107.0", 200), ("v2.10.0", 412), ("v1.0.0", 412)]
)
def test_protocol_versions(server: RunningServer, version: str, status: int) -> None:
    c = Cli(server, version)
    assert c.login().status_code == status
    if status == 200:
        assert "value" in c.run("accounts/subaccount", "list", globalAccount="kymaprov-ga")


def test_commands_need_a_live_session(server: RunningServer) -> None:
    c = Cli(server)
    r = c.raw("accounts/subaccount", "list", globalAccount="kymaprov-ga")
    assert (r.status_code, r.content) == (401, b"")
    assert r.headers["x-cpcli-server-message"]
    assert c.login().status_code == 200
    logout = httpx.post(f"{server.url}/logout/{VERSION}", headers={"X-Cpcli-Sessionid": c.session_id})
    assert logout.status_code == 200
    assert c.raw("accounts/subaccount", "list", globalAccount="kymaprov-ga").status_code == 401


def test_protocol_errors(cli: Cli) -> None:
    r = cli.raw("services/instance", "list", subaccount="")  # list_resource_..._bad_request
    assert (r.status_code, r.content) == (400, b"")
    assert cli.raw("accounts/no-such", "list").status_code == 404


def test_subaccounts(cli: Cli, server: RunningServer) -> None:
    listed = cli.run("accounts/subaccount", "list", globalAccount="kymaprov-ga")["value"]
    assert listed
    for sub in listed:
        assert_fields(sub, v.SUBACCOUNT_FIELDS)
    sub_id = server.login["subaccount"]
    got = cli.run("accounts/subaccount", "get", globalAccount="kymaprov-ga", subaccount=sub_id)
    assert got["guid"] == sub_id
    assert_fields(got, v.SUBACCOUNT_FIELDS)
    missing = cli.run(
        "accounts/subaccount",
        "get",
        404,
        globalAccount="kymaprov-ga",
        subaccount="aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    )
    assert v.SUBACCOUNT_NOT_FOUND.match(missing["error"])


def test_subaccount_lifecycle(cli: Cli, server: RunningServer) -> None:
    """resource_subaccount: create, get, update (dates as epoch ms there), delete, then 404."""
    ga = {"globalAccount": "kymaprov-ga"}
    created = cli.run(
        "accounts/subaccount", "create",
        **ga, betaEnabled="false", displayName="tf", labels="{}", region="eu10", skipAutoAssignPlans="false",
        subdomain="tf-sub",
    )  # fmt: skip
    assert_fields(created, v.SUBACCOUNT_FIELDS)
    sub = created["guid"]
    assert cli.run("accounts/subaccount", "get", **ga, subaccount=sub)["displayName"] == "tf"
    assert sub in {s["guid"] for s in cli.run("accounts/subaccount", "list", **ga)["value"]}
    updated = cli.run(
        "accounts/subaccount", "update",
        **ga, betaEnabled="false", directoryID=created["globalAccountGUID"], displayName="TF", labels="{}",
        subaccount=sub,
    )  # fmt: skip
    assert_fields(updated, {**v.SUBACCOUNT_FIELDS, **v.SUBACCOUNT_UPDATED})
    assert updated["displayName"] == "TF"
    refused = cli.run("accounts/subaccount", "update", 400, **ga, subaccount=sub, betaEnabled="true")
    assert refused["error"].endswith("[Error: 12003/400]")

    cli.run(
        "services/instance", "create", 201, subaccount=sub, name="keep", offeringName="cis", planName="local"
    )
    busy = cli.run(
        "accounts/subaccount", "delete", 409, **ga, subaccount=sub, confirm="true", forceDelete="false"
    )
    assert busy["error"].endswith("/409]")
    cli.run("services/instance", "delete", subaccount=sub, name="keep", confirm="true")
    deleted = cli.run(
        "accounts/subaccount", "delete", **ga, subaccount=sub, confirm="true", forceDelete="false"
    )
    assert_fields(deleted, v.SUBACCOUNT_FIELDS)
    assert deleted["state"] == "DELETING"
    gone = cli.run("accounts/subaccount", "get", 404, **ga, subaccount=sub)
    assert v.SUBACCOUNT_NOT_FOUND.match(gone["error"])
    default = server.login["subaccount"]
    cli.run("accounts/subaccount", "delete", 400, **ga, subaccount=default, confirm="true")


def test_global_account(cli: Cli) -> None:
    assert_fields(
        cli.run("accounts/global-account", "get", globalAccount="kymaprov-ga"), v.GLOBAL_ACCOUNT_FIELDS
    )
    other = cli.run("accounts/global-account", "get", 403, globalAccount="someone-else")
    assert other["error"].endswith("/403]")
    assert cli.run("accounts/subaccount", "list", 400, labelsFilter="team=a")["error"].endswith("12003/400]")


def wait_state(cli: Cli, sub: str, env_id: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        env: dict[str, Any] = cli.run(
            "accounts/environment-instance", "get", subaccount=sub, environmentID=env_id
        )
        if env["state"] == state:
            return env
        assert time.monotonic() < deadline, env
        time.sleep(0.2)


def test_kyma_environment_through_the_protocol(cli: Cli, server: RunningServer, tmp_path: Path) -> None:
    """Create, get, list and delete of Kyma; the environment is the one the Provisioning API shows,
    and a Kyma binding for it gives a working kubeconfig."""
    sub = server.new_subaccount("cli-kyma")
    created = cli.run(
        "accounts/environment-instance", "create",
        subaccount=sub, displayName="cli-kyma", environmentType="kyma", service="kymaruntime", plan="aws",
        parameters=json.dumps({"name": "cli-kyma", "region": "eu-central-1"}),
    )  # fmt: skip
    assert_fields(created, {**v.ENVIRONMENT_FIELDS, "jobId": "<uuid>"})
    assert {k: created[k] for k in v.ENVIRONMENT_CREATED} == v.ENVIRONMENT_CREATED
    env_id = created["id"]

    ready = wait_state(cli, sub, env_id, "OK")
    assert_fields(ready, v.ENVIRONMENT_FIELDS)
    labels = json.loads(ready["labels"])
    assert labels["KubeconfigURL"] and labels["APIServerURL"]
    listed = cli.run("accounts/environment-instance", "list", subaccount=sub)["environmentInstances"]
    assert [e["id"] for e in listed] == [env_id]

    # the same environment through the Provisioning API, with a cis binding of the same subaccount
    token = server.token_for(server.cis_credentials(sub))
    api = httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {token}"}, timeout=60)
    shown = api.get("/provisioning/v1/environments").json()["environmentInstances"]
    assert [(e["id"], e["labels"], e["parameters"]) for e in shown] == [
        (env_id, ready["labels"], ready["parameters"])
    ]
    binding = api.put(
        f"/provisioning/v1/environments/{env_id}/bindings", json={"parameters": {"expiration_seconds": 600}}
    )
    assert binding.status_code == 202, binding.text
    kubeconfig = binding.json()["credentials"]["kubeconfig"]
    (tmp_path / "kubeconfig").write_text(kubeconfig)
    result = run_kubectl(tmp_path / "kubeconfig", tmp_path / "cache", "get", "namespaces", "-o", "name")
    assert "namespace/kyma-system" in result.stdout

    # resource_subaccount_environment_instance.update: {"jobId"}, then UPDATING until OK
    updated = cli.run(
        "accounts/environment-instance", "update",
        subaccount=sub, environmentID=env_id, plan="aws", parameters=json.dumps({"autoScalerMax": 5}),
    )  # fmt: skip
    assert list(updated) == ["jobId"]
    assert json.loads(wait_state(cli, sub, env_id, "OK")["parameters"])["autoScalerMax"] == 5
    other_plan = cli.run(
        "accounts/environment-instance", "update", 400,
        subaccount=sub, environmentID=env_id, plan="azure", parameters="{}",
    )  # fmt: skip
    assert other_plan["error"].endswith("/400]")

    deleted = cli.run(
        "accounts/environment-instance", "delete", subaccount=sub, environmentID=env_id, confirm="true"
    )
    assert_fields(deleted, {**v.ENVIRONMENT_FIELDS, "jobId": "<uuid>"})
    deadline = time.monotonic() + 60
    while True:
        r = cli.raw("accounts/environment-instance", "get", subaccount=sub, environmentID=env_id)
        if r.headers["x-cpcli-backend-status"] == "404":
            assert r.json() == v.ENVIRONMENT_NOT_FOUND
            break
        assert time.monotonic() < deadline, r.text
        time.sleep(0.2)


def test_service_instances_and_bindings(cli: Cli, server: RunningServer) -> None:
    sub = server.login["subaccount"]
    plans = cli.run("services/plan", "list", subaccount=sub)
    local = next(p["id"] for p in plans if p["name"] == "local")
    by_name = cli.run("services/plan", "get", subaccount=sub, name="local", offeringName="cis")
    assert by_name == cli.run("services/plan", "get", subaccount=sub, id=local)
    assert by_name["id"] == local
    assert cli.run("services/offering", "get", subaccount=sub, name="cis")["name"] == "cis"
    assert (
        cli.run("services/plan", "get", 404, subaccount=sub, name="nope", offeringName="cis")["error"]
        == "NotFound"
    )
    inst = cli.run("services/instance", "create", 201, subaccount=sub, name="tf-cis", plan=local)
    assert_fields(inst, v.INSTANCE_FIELDS)
    assert {k: inst["last_operation"][k] for k in v.LAST_OPERATION} == v.LAST_OPERATION
    assert inst["service_plan_id"] == local
    got = cli.run("services/instance", "get", subaccount=sub, id=inst["id"], parameters="false")
    assert_fields(got, v.INSTANCE_FIELDS)
    assert cli.run("services/instance", "get", subaccount=sub, name="tf-cis", parameters="true") == {}
    assert inst["id"] in [i["id"] for i in cli.run("services/instance", "list", subaccount=sub)]
    assert [
        i["id"] for i in cli.run("services/instance", "list", subaccount=sub, fieldsFilter="name eq 'tf-cis'")
    ] == [inst["id"]]

    bnd = cli.run(
        "services/binding",
        "create",
        201,
        subaccount=sub,
        name="tf-cis-b",
        serviceInstanceID=inst["id"],
        parameters="{}",
    )
    assert_fields(bnd, v.BINDING_FIELDS)
    got = cli.run("services/binding", "get", subaccount=sub, id=bnd["id"])
    assert_fields(got, v.BINDING_FIELDS)
    assert got["credentials"]["uaa"]["clientid"] == bnd["credentials"]["uaa"]["clientid"]
    assert cli.run("services/binding", "get", subaccount=sub, name="tf-cis-b")["id"] == bnd["id"]
    assert bnd["id"] in [b["id"] for b in cli.run("services/binding", "list", subaccount=sub)]

    assert cli.run("services/binding", "delete", subaccount=sub, id=bnd["id"]) == {}
    missing = cli.run("services/binding", "get", 404, subaccount=sub, id=bnd["id"])
    assert {k: v.form(x) if k == "description" else x for k, x in missing.items()} == v.SM_NOT_FOUND
    assert cli.run("services/instance", "delete", subaccount=sub, id=inst["id"], confirm="true") == {}
    missing = cli.run("services/instance", "get", 404, subaccount=sub, id=inst["id"], parameters="false")
    assert missing["error"] == "NotFound"


def test_seed_steps_through_the_protocol(server: RunningServer) -> None:
    """Seed steps 1-2: log in through /login, create the cis instance and binding, read the credentials
    (as `btp create services/instance --offering-name cis --plan-name local` sends them) and get a token."""
    c = Cli(server)
    assert c.login().status_code == 200
    sub = server.login["subaccount"]
    c.run(
        "services/instance", "create", 201,
        subaccount=sub, name="seed-cis", offeringName="cis", planName="local",
        parameters='{"grantType":"clientCredentials"}',
    )  # fmt: skip
    c.run(
        "services/binding",
        "create",
        201,
        subaccount=sub,
        name="seed-cis-binding",
        serviceInstanceName="seed-cis",
    )
    credentials = c.run("services/binding", "get", subaccount=sub, name="seed-cis-binding")["credentials"]
    assert credentials["endpoints"]["provisioning_service_url"] == server.url
    token = server.token_for(credentials)
    r = httpx.get(f"{server.url}/provisioning/v1/environments", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text


def test_backend_errors_are_the_layers(cli: Cli, server: RunningServer) -> None:
    sub = server.login["subaccount"]
    bad = cli.run(
        "services/instance", "create", 400, subaccount=sub, name="x", offeringName="nope", planName="local"
    )
    assert bad["error"] == "BadRequest" and "nope" in bad["description"]
    unknown_plan = cli.run(
        "accounts/environment-instance", "create", 400,
        subaccount=sub, environmentType="kyma", service="kymaruntime", plan="no-such-plan", parameters="{}",
    )  # fmt: skip
    assert unknown_plan["error"].endswith("/400]")


def test_entitlements_as_the_provider_reads_them(cli: Cli, server: RunningServer) -> None:
    sub = server.login["subaccount"]
    listed = cli.run("accounts/entitlement", "list", globalAccount="kymaprov-ga", subaccountFilter=sub)
    assert set(listed) >= v.ENTITLEMENT_KEYS
    assigned = {
        (service["name"], plan["name"]): plan["assignmentInfo"]
        for service in listed["assignedServices"]
        for plan in service["servicePlans"]
    }
    assert {info["entityId"] for info in assigned[("kymaruntime", "aws")]} == {sub}
    assert assigned[("cis", "local")][0]["unlimitedAmountAssigned"] is True
    everyone = cli.run("accounts/entitlement", "list", globalAccount="kymaprov-ga")
    subs = {s["guid"] for s in cli.run("accounts/subaccount", "list")["value"]}
    every_aws = next(
        p["assignmentInfo"]
        for s in everyone["assignedServices"]
        for p in s["servicePlans"]
        if p["name"] == "aws"
    )
    assert {info["entityId"] for info in every_aws} == subs
    wrong = cli.run(
        "accounts/entitlement", "list", 400, globalAccount="kymaprov-ga", directory="not-a-directory"
    )
    assert wrong["error"].endswith("[Error: 12003/400]")


def test_sessions_end_after_twelve_idle_hours(server: RunningServer) -> None:
    """Last in this module: it moves the service clock."""
    used, idle = Cli(server), Cli(server)
    assert used.login().status_code == idle.login().status_code == 200
    server.admin("POST", "/admin/clock/advance", {"seconds": 6 * 3600})
    assert used.raw("accounts/subaccount", "list").status_code == 200  # use restarts the idle time
    server.admin("POST", "/admin/clock/advance", {"seconds": 6 * 3600 + 60})
    assert used.raw("accounts/subaccount", "list").status_code == 200
    assert idle.raw("accounts/subaccount", "list").status_code == 401


@requires_postgres
def test_the_protocol_on_postgres(postgres_database: str, tmp_path: Path) -> None:
    """Sessions and the commands' reads and writes on PostgreSQL, including a NUL in a parameter."""
    pg = RunningServer(
        tmp_path / "data", free_port(), free_port(), provisioning_seconds=0.5, database_url=postgres_database
    ).start()
    try:
        c = Cli(pg)
        assert c.login().status_code == 200
        refused = c.login(user="nul\x00user")  # strict JSON: a NUL is bad input, said before any lookup
        assert refused.status_code == 400 and refused.headers["x-cpcli-server-message"]
        sub = pg.login["subaccount"]
        c.run(
            "services/instance",
            "create",
            201,
            subaccount=sub,
            name="pg-cis",
            offeringName="cis",
            planName="local",
        )
        c.run("services/binding", "create", 201, subaccount=sub, name="pg-b", serviceInstanceName="pg-cis")
        assert pg.token_for(c.run("services/binding", "get", subaccount=sub, name="pg-b")["credentials"])
        assert c.raw("accounts/subaccount", "get", subaccount="a\x00b").status_code == 400
        assert c.run("accounts/subaccount", "get", 404, subaccount="a" * 300)["error"].endswith("20004/404]")
    finally:
        pg.stop()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{oops",
        b"[1, 2]",
        b'"text"',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"paramValues": [1]}',
        b'{"paramValues": {"subaccount": 5}}',
        b'{"paramValues": {"subaccount": ["a"]}}',
        b'{"paramValues": {"subaccount": "x", "parameters": {"a": 1}}}',
        b'{"paramValues": {"subaccount": "\\u0000"}}',
        b'{"name": "' + b"x" * (1 << 20) + b'"}',
    ],
)
def test_bad_command_bodies_are_clear_errors(cli: Cli, body: bytes) -> None:
    r = httpx.post(
        f"{cli.server.url}/command/{VERSION}/services/instance?list",
        content=body,
        headers={"X-Cpcli-Sessionid": cli.session_id, "content-type": "application/json"},
    )
    assert r.status_code in (400, 413), r.text
    assert r.content == b"" and r.headers["x-cpcli-server-message"]


@pytest.mark.parametrize("body", [b"{oops", b"[]", b'{"userName": 5}', b'{"password": null, "userName": []}'])
def test_bad_login_bodies_are_clear_errors(server: RunningServer, body: bytes) -> None:
    r = httpx.post(
        f"{server.url}/login/{VERSION}", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and r.headers["x-cpcli-server-message"]
