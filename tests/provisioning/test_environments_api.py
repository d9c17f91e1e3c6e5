"""Provisioning Service environment endpoints: shapes, wire types, lifecycle, errors and isolation."""

from __future__ import annotations

import base64
import json
import re
import time

import httpx
import jwt
import pytest
import yaml

from tests.conftest import Api, RunningServer, new_api

ENV_FIELDS = {
    "id", "name", "brokerId", "globalAccountGUID", "subaccountGUID", "tenantId", "serviceId", "planId",
    "serviceName", "planName", "environmentType", "operation", "type", "status", "parameters", "labels",
    "customLabels", "dashboardUrl", "description", "commercialType", "createdBy", "modifiedBy", "createdDate",
    "modifiedDate", "state", "stateMessage",
}  # fmt: skip


def assert_error(r: httpx.Response, status: int, code: int | None = None, message: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert {"code", "message", "target", "correlationID"} <= set(error)
    assert isinstance(error["code"], int)
    assert error["target"] == r.request.url.path
    if code is not None:
        assert error["code"] == code
    if message is not None:
        assert error["message"] == message
    return error


@pytest.fixture(scope="module")
def api(server: RunningServer) -> Api:
    return new_api(server)


def test_available_environments_lists_kyma_plans_with_string_schemas(api: Api) -> None:
    r = api.request("GET", "/availableEnvironments")
    assert r.status_code == 200
    entries = r.json()["availableEnvironments"]
    kyma = {e["planName"]: e for e in entries if e["environmentType"] == "kyma"}
    assert {"aws", "azure", "gcp", "trial"} <= set(kyma)
    aws = kyma["aws"]
    assert aws["serviceName"] == "kymaruntime" and aws["description"] == "AWS"
    assert isinstance(aws["createSchema"], str) and isinstance(aws["updateSchema"], str)
    schema = json.loads(aws["createSchema"])["parameters"]
    assert schema["required"] == ["name", "region"]
    assert "landscapeLabel" not in aws and "technicalKey" not in aws


def test_create_get_list_wire_format_and_lifecycle(server: RunningServer) -> None:
    api = new_api(server, "lifecycle")
    body = {
        "environmentType": "kyma", "parameters": {"name": "rt-1", "region": "eu-central-1"},
        "planName": "aws", "serviceName": "kymaruntime", "user": "jane@example.com",
    }  # fmt: skip
    r = api.request("POST", "/environments", json=body)
    assert r.status_code == 202, r.text
    created = r.json()
    env_id = created["id"]
    assert re.fullmatch(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}", env_id)
    assert created["state"] == "CREATING" and created["status"] == "Processing"
    assert created["type"] == "Provision" and created["operation"] == "provision"

    env = api.request("GET", f"/environments/{env_id}").json()
    assert set(env) >= ENV_FIELDS
    assert isinstance(env["createdDate"], int) and isinstance(env["modifiedDate"], int)
    assert isinstance(env["parameters"], str) and isinstance(env["labels"], str)
    assert json.loads(env["parameters"]) == {"name": "rt-1", "region": "eu-central-1"}
    assert env["customLabels"] == {}
    assert env["serviceId"] == "47c9dcbf-ff30-448e-ab36-d3bad66ba281"
    assert env["planId"] == "361c511f-f939-4621-b228-d0fb79a1fe15"

    ok = api.wait_state(env_id)
    assert ok["stateMessage"] == "Environment instance created." and ok["status"] == "Processed"
    labels = json.loads(ok["labels"])
    assert labels["Name"] == "rt-1"
    assert labels["KubeconfigURL"] == f"{server.url}/kubeconfig/{env_id}"
    assert labels["APIServerURL"].startswith("https://127.0.0.1:")
    assert ok["modifiedDate"] >= ok["createdDate"]
    kubeconfig = httpx.get(labels["KubeconfigURL"])
    assert kubeconfig.status_code == 200 and labels["APIServerURL"] in kubeconfig.text
    _verifies_the_api_servers_certificate(yaml.safe_load(kubeconfig.text)["clusters"][0]["cluster"])

    listed = api.request("GET", "/environments").json()["environmentInstances"]
    assert [e["id"] for e in listed] == [env_id]

    # update: UPDATING -> OK, parameters replaced by exactly what was sent
    new_params = {"name": "rt-1", "autoScalerMin": 4, "autoScalerMax": 8}
    r = api.request("PATCH", f"/environments/{env_id}", json={"planName": "aws", "parameters": new_params})
    assert r.status_code == 202, r.text
    assert api.request("GET", f"/environments/{env_id}").json()["state"] == "UPDATING"
    updated = api.wait_state(env_id)
    assert updated["type"] == "Update" and updated["operation"] == "update"
    assert json.loads(updated["parameters"]) == new_params

    # job status of the update
    job = api.client.get(f"/jobs-management/v1/jobs/{r.json()['jobId']}/status")
    assert job.status_code == 200 and job.json()["status"] == "COMPLETED"

    # delete: 202 with the instance, DELETING, then 404 with code 41000
    r = api.request("DELETE", f"/environments/{env_id}")
    assert r.status_code == 202 and r.json()["id"] == env_id
    deleting = api.request("GET", f"/environments/{env_id}").json()
    assert deleting["state"] == "DELETING" and deleting["type"] == "Deprovision"
    api.wait_gone(env_id)
    assert_error(api.request("GET", f"/environments/{env_id}"), 404, 41000, "Environment instance not found")
    assert_error(api.request("DELETE", f"/environments/{env_id}"), 404, 41000)


def test_failed_states_are_reachable(server: RunningServer) -> None:
    api = new_api(server, "failures")
    env_id = api.create_kyma()
    server.admin(
        "POST",
        f"/admin/environments/{env_id}/fail-next",
        {"message": "ingress filtering option is not available."},
    )
    failed = api.wait_state(env_id, ("CREATION_FAILED",))
    assert failed["stateMessage"] == "ingress filtering option is not available."
    # bindings on a failed instance: KEB's message
    r = api.request("PUT", f"/environments/{env_id}/bindings")
    assert_error(r, 400, message=f"instance {env_id} creation failed")
    # a failed deprovisioning, then a successful retry
    api.request("DELETE", f"/environments/{env_id}")
    server.admin(
        "POST",
        f"/admin/environments/{env_id}/fail-next",
        {"message": "cluster stuck", "operation": "deprovision"},
    )
    assert api.wait_state(env_id, ("DELETION_FAILED",))["stateMessage"] == "cluster stuck"
    assert api.request("DELETE", f"/environments/{env_id}").status_code == 202
    api.wait_gone(env_id)


def test_update_failure(server: RunningServer) -> None:
    api = new_api(server, "updfail")
    env_id = api.create_kyma()
    api.wait_state(env_id)
    server.admin(
        "POST", f"/admin/environments/{env_id}/fail-next", {"message": "no quota", "operation": "update"}
    )
    r = api.request(
        "PATCH", f"/environments/{env_id}", json={"planName": "aws", "parameters": {"autoScalerMax": 5}}
    )
    assert r.status_code == 202
    assert api.wait_state(env_id, ("UPDATE_FAILED",))["stateMessage"] == "no quota"


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"region": "eu-central-1"}, "while validating input parameters: at '': missing property 'name'"),
        ({"name": "x" * 65, "region": "eu-central-1"}, "while validating input parameters: at '/name': maxLength: got 65, want 64"),
        ({"name": "bad_name", "region": "eu-central-1"}, "while validating input parameters: at '/name': 'bad_name' does not match pattern '^[a-zA-Z0-9-]*$'"),
        ({"name": "ok", "region": "eu-central-1", "autoScalerMin": 1}, "while validating input parameters: at '/autoScalerMin': minimum: got 1, want 3"),
        ({"name": "ok", "region": "eu-central-1", "autoScalerMax": 301}, "while validating input parameters: at '/autoScalerMax': maximum: got 301, want 300"),
    ],
)  # fmt: skip
def test_parameter_validation_names_the_field(api: Api, parameters: dict, message: str) -> None:
    body = {
        "environmentType": "kyma",
        "parameters": parameters,
        "planName": "aws",
        "serviceName": "kymaruntime",
        "user": "u@x",
    }
    assert_error(api.request("POST", "/environments", json=body), 400, message=message)


def test_region_and_machine_type_per_plan(api: Api) -> None:
    base = {"environmentType": "kyma", "planName": "azure", "serviceName": "kymaruntime", "user": "u@x"}
    r = api.request(
        "POST", "/environments", json={**base, "parameters": {"name": "a", "region": "eu-central-1"}}
    )
    error = assert_error(r, 400)
    assert error["message"].startswith(
        "while validating input parameters: at '/region': value must be one of"
    )
    r = api.request(
        "POST",
        "/environments",
        json={**base, "parameters": {"name": "a", "region": "westeurope", "machineType": "m5.large"}},
    )
    assert "/machineType" in assert_error(r, 400)["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"environmentType": "kyma", "serviceName": "kymaruntime", "parameters": {}, "user": "u"}, "planName"),
        ({"environmentType": "kyma", "planName": 5, "serviceName": "kymaruntime", "user": "u"}, "planName"),
        ({"planName": "aws", "serviceName": "kymaruntime", "user": "u", "parameters": {}}, "environmentType"),
        ({"environmentType": "kyma", "planName": "aws", "serviceName": "kymaruntime", "parameters": "{}", "user": "u"}, "parameters"),
        ({"environmentType": "kyma", "planName": "aws", "serviceName": "kymaruntime", "parameters": {"name": "a", "region": "eu-central-1"}}, "user"),
        ({"environmentType": "cloudfoundry", "planName": "aws", "serviceName": "kymaruntime", "parameters": {}, "user": "u"}, "environmentType"),
    ],
)  # fmt: skip
def test_wrong_types_and_missing_fields_are_400_naming_the_field(api: Api, body: dict, field: str) -> None:
    error = assert_error(api.request("POST", "/environments", json=body), 400)
    assert field in error["message"]


def test_unknown_service_or_plan(api: Api) -> None:
    message = (
        "Broker was not found, or, plan and service are not part of the broker catalog, or, "
        "service and plan are not allowed for the subaccount license type"
    )
    for service, plan, env_type in (
        ("kymaruntime", "platinum", "kyma"),
        ("cloudfoundry", "aws", "kyma"),
        ("cloudfoundry", "standard", "cloudfoundry"),
    ):
        body = {
            "environmentType": env_type,
            "planName": plan,
            "serviceName": service,
            "parameters": {},
            "user": "u",
        }
        assert_error(api.request("POST", "/environments", json=body), 400, message=message)


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    "raw", [b"{not json", b"[]", b"", b'"x"', b"\xff\xfe", DEEP, b'{"a": NaN}', b'{"a": Infinity}']
)
def test_malformed_bodies_are_400_in_the_envelope(api: Api, raw: bytes) -> None:
    r = api.request("POST", "/environments", content=raw, headers={"content-type": "application/json"})
    assert_error(r, 400)


def test_oversized_bodies_are_413_in_the_envelope(api: Api) -> None:
    big = b'{"name": "' + b"x" * (1 << 20) + b'"}'
    r = api.request("POST", "/environments", content=big, headers={"content-type": "application/json"})
    error = assert_error(r, 413)
    assert "larger than 1048576 bytes" in error["message"]


@pytest.mark.parametrize(
    ("field", "length"), [("name", 256), ("user", 256), ("landscapeLabel", 65), ("description", 4001)]
)
def test_overlong_fields_are_400_naming_the_field(api: Api, field: str, length: int) -> None:
    body = {
        "environmentType": "kyma",
        "planName": "aws",
        "serviceName": "kymaruntime",
        "user": "u",
        "parameters": {"name": "long-rt", "region": "eu-central-1"},
        field: "x" * length,
    }
    error = assert_error(api.request("POST", "/environments", json=body), 400)
    assert field in error["message"] and "at most" in error["message"]


def test_one_kyma_environment_per_subaccount(server: RunningServer) -> None:
    api = new_api(server, "onlyone")
    first = api.create_kyma()
    r = api.request(
        "POST",
        "/environments",
        json={"environmentType": "kyma", "parameters": {"name": "two", "region": "eu-central-1"},
              "planName": "aws", "serviceName": "kymaruntime", "user": "u@x"},
    )  # fmt: skip
    assert first in assert_error(r, 400, 41005)["message"]


def test_patch_errors(server: RunningServer) -> None:
    api = new_api(server, "patcherr")
    env_id = api.create_kyma()
    r = api.request("PATCH", f"/environments/{env_id}", json={"planName": "aws", "parameters": {}})
    assert_error(r, 409)  # still CREATING
    api.wait_state(env_id)
    assert_error(api.request("PATCH", f"/environments/{env_id}", json={"parameters": {}}), 400)
    assert_error(
        api.request("PATCH", f"/environments/{env_id}", json={"planName": "gcp", "parameters": {}}), 400
    )
    error = assert_error(
        api.request(
            "PATCH",
            f"/environments/{env_id}",
            json={"planName": "aws", "parameters": {"region": "eu-west-2"}},
        ),
        400,
    )
    assert error["message"].startswith("while validating update parameters:")
    assert_error(api.request("PATCH", "/environments/NOPE", json={"planName": "aws"}), 404, 41000)


def test_custom_labels(server: RunningServer) -> None:
    own = new_api(server, "labels")
    env_id = own.create_kyma()
    labels = {"Cost Center": ["19700626"], "Contacts": ["a@example.com", "b@example.com"], "EMEA": []}
    r = own.request("PUT", f"/environments/{env_id}/labels", json={"labels": labels})
    assert r.status_code == 200 and r.json() == {"labels": labels}
    assert own.request("GET", f"/environments/{env_id}/labels").json() == {"labels": labels}
    assert own.request("GET", f"/environments/{env_id}").json()["customLabels"] == labels
    too_many = {f"k{i}": ["v"] for i in range(11)}
    assert_error(own.request("PUT", f"/environments/{env_id}/labels", json={"labels": too_many}), 400)
    assert_error(own.request("PUT", f"/environments/{env_id}/labels", json={"labels": {"a": "b"}}), 400)
    assert own.request("DELETE", f"/environments/{env_id}/labels").json() == {"labels": {}}


def test_service_plan_assignments(api: Api) -> None:
    r = api.request("GET", "/servicePlanAssignments")
    assert r.status_code == 200
    quotas = r.json()["quotas"]
    assert any(q["service"] == "kymaruntime" and q["plan"] == "aws" for q in quotas)


def consumed(api: Api) -> dict[str, int]:
    r = api.request("GET", "/servicePlanAssignments")
    assert r.status_code == 200, r.text
    return {q["plan"]: q["consumedQuota"] for q in r.json()["quotas"] if q["service"] == "kymaruntime"}


def test_consumed_quota_counts_the_subaccounts_environments_per_plan(server: RunningServer) -> None:
    mine, theirs = new_api(server, "quota-mine"), new_api(server, "quota-theirs")
    assert set(consumed(mine).values()) == {0}
    env_id = mine.create_kyma(plan="azure", region="westeurope")
    used = consumed(mine)
    assert used["azure"] == 1 and used["aws"] == 0 and sum(used.values()) == 1
    assert set(consumed(theirs).values()) == {0}  # another subaccount's runtime is not theirs to count
    mine.request("DELETE", f"/environments/{env_id}")
    mine.wait_gone(env_id)
    assert set(consumed(mine).values()) == {0}


def test_job_status_is_not_readable_from_another_subaccount(server: RunningServer) -> None:
    owner, other = new_api(server, "job-owner"), new_api(server, "job-other")
    r = owner.request("POST", "/environments", json={
        "environmentType": "kyma", "parameters": {"name": "job-rt", "region": "eu-central-1"},
        "planName": "aws", "serviceName": "kymaruntime", "user": "u@example.com",
    })  # fmt: skip
    assert r.status_code == 202, r.text
    path = f"/jobs-management/v1/jobs/{r.json()['jobId']}/status"
    assert owner.client.get(path).status_code == 200
    assert other.client.get(path).status_code == 404
    owner.wait_state(r.json()["id"])
    assert owner.client.get(path).json()["status"] == "COMPLETED"
    assert other.client.get(path).status_code == 404


def test_dates_are_epoch_milliseconds_of_now(server: RunningServer) -> None:
    api = new_api(server, "dates")
    before = time.time() * 1000
    env_id = api.create_kyma(name="dates-rt")
    env = api.wait_state(env_id)
    after = time.time() * 1000
    for key in ("createdDate", "modifiedDate"):
        assert isinstance(env[key], int) and before - 2000 <= env[key] <= after + 2000, (key, env[key])
    assert env["modifiedDate"] >= env["createdDate"]


def test_unknown_job_is_404(api: Api) -> None:
    r = api.client.get("/jobs-management/v1/jobs/nope/status")
    assert r.status_code == 404


def test_delete_all(server: RunningServer) -> None:
    api = new_api(server, "deleteall")
    env_id = api.create_kyma()
    r = api.request("DELETE", "/environments")
    assert r.status_code == 202
    assert [e["id"] for e in r.json()["environmentInstances"]] == [env_id]
    api.wait_gone(env_id)


# -- authentication, authorisation, isolation ---------------------------------------------------


def test_missing_and_tampered_tokens_are_401(api: Api, server: RunningServer) -> None:
    url = f"{server.url}/provisioning/v1/environments"
    assert_error(httpx.get(url), 401)
    assert_error(httpx.get(url, headers={"authorization": "Bearer not-a-jwt"}), 401)
    token = api.client.headers["authorization"].split()[1]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["ext_attr"]["subaccountid"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert_error(httpx.get(url, headers={"authorization": f"Bearer {header}.{forged}.{signature}"}), 401)
    # a token signed by a key that is not ours
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_error(
        httpx.get(url, headers={"authorization": f"Bearer {jwt.encode(claims, other, algorithm='RS256')}"}),
        401,
    )
    # 'none' algorithm
    unsigned = jwt.encode(claims, "", algorithm="none")
    assert_error(httpx.get(url, headers={"authorization": f"Bearer {unsigned}"}), 401)


def test_scopes_are_enforced(server: RunningServer) -> None:
    viewer = Api(server, server.token_for(server.cis_credentials(plan="local-viewer")))
    assert viewer.request("GET", "/environments").status_code == 200
    body = {
        "environmentType": "kyma",
        "planName": "aws",
        "serviceName": "kymaruntime",
        "parameters": {},
        "user": "u",
    }
    error = assert_error(viewer.request("POST", "/environments", json=body), 403)
    assert "cis-local!b4.subaccount.environment.create" in error["message"]
    assert_error(viewer.request("DELETE", "/environments/X"), 403)
    central = Api(server, server.token_for(server.cis_credentials(plan="central")))
    assert_error(central.request("GET", "/environments"), 403)


def test_one_subaccount_never_sees_another(server: RunningServer) -> None:
    team_a = new_api(server, "team-a")
    team_b = new_api(server, "team-b")
    env_a = team_a.create_kyma(name="a-runtime")
    team_a.wait_state(env_a)
    assert team_b.request("GET", "/environments").json()["environmentInstances"] == []
    for method, path in (
        ("GET", f"/environments/{env_a}"),
        ("DELETE", f"/environments/{env_a}"),
        ("PATCH", f"/environments/{env_a}"),
        ("GET", f"/environments/{env_a}/bindings"),
        ("PUT", f"/environments/{env_a}/bindings"),
        ("GET", f"/environments/{env_a}/labels"),
    ):
        kwargs = {"json": {"planName": "aws", "parameters": {}}} if method == "PATCH" else {}
        assert_error(team_b.request(method, path, **kwargs), 404, 41000)
    assert team_b.request("DELETE", "/environments").json()["environmentInstances"] == []
    assert team_a.request("GET", f"/environments/{env_a}").json()["state"] == "OK"


def test_unknown_route_is_a_json_404(api: Api) -> None:
    r = api.request("GET", "/nothing-here")
    assert r.status_code == 404
    assert "error" in r.json()
    r = api.request("POST", "/availableEnvironments")
    assert r.status_code == 405


def _verifies_the_api_servers_certificate(cluster: dict[str, str]) -> None:
    """The OIDC kubeconfig carries the runtime's CA, as KEB's copies it from the admin kubeconfig: a
    TLS handshake that checks the API server's certificate against it (and its name) succeeds."""
    import socket
    import ssl
    from urllib.parse import urlsplit

    context = ssl.create_default_context(
        cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
    )
    url = urlsplit(cluster["server"])
    name = cluster.get("tls-server-name") or url.hostname
    assert url.hostname and url.port
    with (
        socket.create_connection((url.hostname, url.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        assert tls.getpeercert() is not None
