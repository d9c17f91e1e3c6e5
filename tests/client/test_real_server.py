"""Every SDK method against a real ``kymaprov serve`` over a socket (see ``tests/conftest.py``).

The server provisions in half a second and its lifecycle worker runs for real, so these tests use the
real clock and sleep with short polling intervals. Each subaccount may hold one Kyma environment:
this module uses its own subaccounts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator

import pytest
import yaml

from kymaprov.client import (
    AsyncProvisioningClient,
    BadRequestError,
    Binding,
    BindingMetadata,
    ConflictError,
    Credentials,
    Environment,
    ForbiddenError,
    GoneError,
    NotFoundError,
    OperationFailed,
    ProvisioningClient,
    UnauthorizedError,
)
from tests.conftest import RunningServer

INTERVAL, TIMEOUT = 0.1, 30.0


@pytest.fixture(scope="module")
def credentials(server: RunningServer) -> Credentials:
    sub = server.new_subaccount("client-sdk")
    return Credentials.from_service_key(server.cis_credentials(sub))


@pytest.fixture(scope="module")
def client(credentials: Credentials) -> Iterator[ProvisioningClient]:
    with ProvisioningClient(credentials, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def ready(client: ProvisioningClient) -> Environment:
    """One Kyma environment for the module, created (checking the early states) and ready."""
    created = client.create_environment("sdk-rt", "aws", "eu-central-1", user="sdk@example.com")
    assert created.state == "CREATING" and created.id == created.id.upper()
    with pytest.raises(BadRequestError, match="creation is in progress"):
        client.create_binding(created.id)
    polls: list[str] = []
    env = client.wait_until_ready(
        created.id, on_poll=lambda e, _: polls.append(e.state), interval=INTERVAL, timeout=TIMEOUT
    )
    assert polls[0] == "CREATING" and polls[-1] == "OK"
    assert created.job_id
    return dataclasses.replace(env, job_id=created.job_id)


def test_token_and_credentials_from_a_real_cis_binding(
    server: RunningServer, credentials: Credentials
) -> None:
    assert credentials.provisioning_url == server.url and credentials.uaa_url == server.url
    client = ProvisioningClient(credentials)
    client.list_environments()
    client.list_environments()
    assert client.auth.fetches == 1  # type: ignore[attr-defined]


def test_available_environments_and_plan_assignments(client: ProvisioningClient) -> None:
    kyma = {e.plan_name: e for e in client.available_environments() if e.environment_type == "kyma"}
    assert kyma["aws"].service_name == "kymaruntime" and kyma["aws"].description == "AWS"
    assert kyma["aws"].create_parameters_schema["required"] == ["name", "region"]
    assert "region" not in kyma["aws"].update_parameters_schema.get("properties", {})
    quotas = client.service_plan_assignments()
    assert any(q.service == "kymaruntime" and q.plan == "aws" for q in quotas)


def test_created_environment_decodes_the_wire_format(client: ProvisioningClient, ready: Environment) -> None:
    env = client.get_environment(ready.id)
    assert env.state == "OK" and env.state_message == "Environment instance created."
    assert env.parameters == {"name": "sdk-rt", "region": "eu-central-1"}
    assert env.labels["Name"] == "sdk-rt" and env.kubeconfig_url and env.api_server_url
    assert env.created is not None and env.modified is not None and env.modified >= env.created
    assert abs(env.created.timestamp() - time.time()) < 600
    assert env.environment_type == "kyma" and env.plan_name == "aws" and env.service_name == "kymaruntime"
    assert [e.id for e in client.list_environments()] == [env.id]
    found = client.find_environment("sdk-rt")
    assert found is not None and found.id == env.id
    assert client.find_environment("other") is None


def test_job_status_of_the_create(client: ProvisioningClient, ready: Environment) -> None:
    status = client.job_status(ready.job_id or "")
    assert status.status == "COMPLETED" and status.param("environmentInstanceId") == ready.id
    assert client.get_environment(ready.id).job_id is None  # only POST/DELETE answers carry jobId
    with pytest.raises(NotFoundError):
        client.job_status("no-such-job")


def test_labels(client: ProvisioningClient, ready: Environment) -> None:
    assert dict(client.get_labels(ready.id)) == {}
    labels = client.set_labels(ready.id, {"Cost Center": ["19700626"], "EMEA": []})
    assert dict(labels) == {"Cost Center": ["19700626"], "EMEA": []}
    assert client.get_environment(ready.id).custom_labels == {"Cost Center": ["19700626"], "EMEA": []}
    assert dict(client.get_labels(ready.id)) == dict(labels)
    assert dict(client.delete_labels(ready.id)) == {}
    with pytest.raises(BadRequestError):
        client.set_labels(ready.id, {f"k{i}": [] for i in range(11)})


def test_bindings(server: RunningServer, client: ProvisioningClient, ready: Environment) -> None:
    binding = client.create_binding(ready.id, expiration_seconds=900)
    assert binding.id and binding.expiration_seconds == 900
    assert binding.expires_at is not None
    assert 800 < binding.expires_at.timestamp() - time.time() < 1000
    kubeconfig = yaml.safe_load(binding.kubeconfig)
    assert kubeconfig["clusters"][0]["cluster"]["server"] == ready.api_server_url

    listed = client.list_bindings(ready.id)
    assert [b.id for b in listed] == [binding.id]
    assert listed[0].instance_id == ready.id and listed[0].expires_at is not None

    fetched = client.get_binding(ready.id, binding.id)
    assert isinstance(fetched, Binding) and fetched.kubeconfig == binding.kubeconfig

    client.delete_binding(ready.id, binding.id)
    with pytest.raises(NotFoundError) as info:
        client.get_binding(ready.id, binding.id)
    assert info.value.code is None  # the empty-body 404
    with pytest.raises(NotFoundError):
        client.delete_binding(ready.id, binding.id)

    default = client.create_binding(ready.id)
    assert default.expiration_seconds == 600
    with pytest.raises(BadRequestError, match="cannot be greater than 7200"):
        client.create_binding(ready.id, expiration_seconds=7201)

    # expiry: the service clock jumps past expires_at
    server.admin("POST", "/admin/clock/advance", {"seconds": 601})
    time.sleep(0.6)  # the server re-reads its clock offset every half second
    expired = client.get_binding(ready.id, default.id)
    assert isinstance(expired, BindingMetadata) and expired.id == default.id
    assert expired.expires_at is not None
    with pytest.raises(GoneError) as gone:
        client.delete_binding(ready.id, default.id)
    assert gone.value.status == 410 and gone.value.exit_code == GoneError.exit_code
    assert client.list_bindings(ready.id) == []


def test_update_conflict_and_update_failure(
    server: RunningServer, client: ProvisioningClient, ready: Environment
) -> None:
    job = client.update_environment(ready.id, "aws", {"name": "sdk-rt", "autoScalerMax": 5})
    assert job
    with pytest.raises(ConflictError):
        client.update_environment(ready.id, "aws", {"name": "sdk-rt"})
    updated = client.wait_until_ready(ready.id, interval=INTERVAL, timeout=TIMEOUT)
    assert updated.parameters == {"name": "sdk-rt", "autoScalerMax": 5}
    assert updated.state_message == "Environment instance updated."
    assert client.job_status(job).status == "COMPLETED"

    server.admin(
        "POST", f"/admin/environments/{ready.id}/fail-next", {"message": "no quota", "operation": "update"}
    )
    client.update_environment(ready.id, "aws", {"name": "sdk-rt"})
    with pytest.raises(OperationFailed) as failed:
        client.wait_until_ready(ready.id, interval=INTERVAL, timeout=TIMEOUT)
    assert failed.value.state == "UPDATE_FAILED" and failed.value.state_message == "no quota"


def test_errors_over_the_wire(
    server: RunningServer, client: ProvisioningClient, credentials: Credentials
) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.get_environment("00000000-0000-0000-0000-000000000000")
    assert missing.value.code == 41000 and missing.value.message == "Environment instance not found"
    assert missing.value.correlation_id
    with pytest.raises(BadRequestError) as second:
        client.create_environment("sdk-rt-2", "aws", "eu-central-1", user="sdk@example.com")
    assert second.value.code == 41005  # one Kyma environment per subaccount

    wrong = Credentials(credentials.client_id, "wrong", credentials.uaa_url, credentials.provisioning_url)
    with ProvisioningClient(wrong) as bad, pytest.raises(UnauthorizedError):
        bad.list_environments()
    with ProvisioningClient(base_url=server.url, token="not-a-jwt") as bad, pytest.raises(UnauthorizedError):
        bad.list_environments()
    viewer = Credentials.from_service_key(server.cis_credentials(plan="local-viewer"))
    with ProvisioningClient(viewer) as read_only:
        read_only.list_environments()
        with pytest.raises(ForbiddenError):
            read_only.delete_all_environments()


def test_async_client_over_a_socket(credentials: Credentials, ready: Environment) -> None:
    async def main() -> list[str]:
        async with AsyncProvisioningClient(credentials) as client:
            env, envs = await asyncio.gather(client.get_environment(ready.id), client.list_environments())
            assert env.id == ready.id
            return [e.id for e in envs]

    assert asyncio.run(main()) == [ready.id]


def test_delete_failure_then_delete(
    server: RunningServer, client: ProvisioningClient, ready: Environment
) -> None:
    """Runs last in this module: it removes the module's environment."""
    server.admin(
        "POST", f"/admin/environments/{ready.id}/fail-next", {"message": "stuck", "operation": "deprovision"}
    )
    deleting = client.delete_environment(ready.id)
    assert deleting.id == ready.id and deleting.job_id
    with pytest.raises(OperationFailed) as failed:
        client.wait_until_deleted(ready.id, interval=INTERVAL, timeout=TIMEOUT)
    assert failed.value.state == "DELETION_FAILED" and failed.value.state_message == "stuck"

    deleted = client.delete_all_environments()
    assert [e.id for e in deleted] == [ready.id]
    client.wait_until_deleted(ready.id, interval=INTERVAL, timeout=TIMEOUT)
    with pytest.raises(NotFoundError):
        client.get_environment(ready.id)
    assert client.list_environments() == []
    assert client.delete_all_environments() == []


def test_unreachable_server_is_a_transport_error_after_retries() -> None:
    from kymaprov.client import TransportError
    from tests.conftest import free_port

    sleeps: list[float] = []
    client = ProvisioningClient(
        base_url=f"http://127.0.0.1:{free_port()}", token="t", sleep=sleeps.append, retries=2, timeout=2
    )
    with pytest.raises(TransportError):
        client.list_environments()
    assert len(sleeps) == 2
