"""The async client against the real API app in-process, through ``httpx.ASGITransport``.

The service code (token service, cis, Provisioning Service) is the real one; only the runtime backend
is a stub, so environments progress (the lifecycle worker runs whenever the client sleeps) but bindings
cannot reach a Kubernetes API. The real-socket tests with a ``kymaprov serve`` process are in
``test_real_server.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kymaprov.accounts.models import ensure_defaults, get_subaccount
from kymaprov.app import create_api_app
from kymaprov.backends.base import DONE, ClusterAccess, Progress
from kymaprov.cis.models import CisService
from kymaprov.client import (
    AsyncProvisioningClient,
    BadRequestError,
    ConflictError,
    Credentials,
    NotFoundError,
    OperationFailed,
    ServerError,
    UnauthorizedError,
)
from kymaprov.config import Settings
from kymaprov.context import Context
from kymaprov.provisioning.bindings import BindingService
from kymaprov.provisioning.lifecycle import LifecycleWorker
from kymaprov.provisioning.models import environments
from kymaprov.uaa.models import TokenService


class StubRuntimes:
    """Clusters that exist only as an address nobody listens on."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.deleted: list[str] = []

    def create(self, cluster_id: str, name: str, shape: object) -> Progress:
        self.created.append(cluster_id)
        return DONE

    def status(self, cluster_id: str) -> Progress:
        return DONE

    def update(self, cluster_id: str, shape: object) -> Progress:
        return DONE

    def delete(self, cluster_id: str) -> Progress:
        self.deleted.append(cluster_id)
        return DONE

    def access(self, cluster_id: str) -> ClusterAccess | None:
        return ClusterAccess(server=f"https://127.0.0.1:9/clusters/{cluster_id}", ca_data="", token="t")

    def reset(self) -> None:
        self.created.clear()


class Recording(httpx.AsyncBaseTransport):
    """Notes ``METHOD path`` of every request, then passes it on."""

    def __init__(self, inner: httpx.AsyncBaseTransport, log: list[str]) -> None:
        self.inner = inner
        self.log = log

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.log.append(f"{request.method} {request.url.path}")
        return await self.inner.handle_async_request(request)


@dataclass
class InProcess:
    ctx: Context
    app: Any
    worker: LifecycleWorker
    runtimes: StubRuntimes
    credentials: Credentials
    requests: list[str]

    def client(self, credentials: Credentials | None = None) -> AsyncProvisioningClient:
        worker = self.worker

        async def sleep(_: float) -> None:  # time passes: the worker finishes what is due
            await asyncio.to_thread(worker.run_due)

        transport = Recording(httpx.ASGITransport(app=self.app), self.requests)
        return AsyncProvisioningClient(credentials or self.credentials, transport=transport, sleep=sleep)


@pytest.fixture
def inprocess(tmp_path: Path) -> Iterator[InProcess]:
    ctx = Context.open(Settings(data_dir=tmp_path / "data", provisioning_seconds=0))
    login = ensure_defaults(ctx)
    assert login is not None
    tokens = TokenService(ctx)
    cis = CisService(ctx, tokens)
    sub = get_subaccount(ctx, login["subaccount"])
    assert sub is not None
    cis.create_instance(sub, "cis", "cis", "local", {"grantType": "clientCredentials"})
    binding = cis.create_binding(sub, "cis-key", instance_name="cis")
    runtimes = StubRuntimes()
    bindings = BindingService(ctx, runtimes)
    worker = LifecycleWorker(ctx, runtimes, bindings, configure_runtimes=False)  # stub clusters
    yield InProcess(
        ctx,
        create_api_app(ctx, tokens, bindings),
        worker,
        runtimes,
        Credentials.from_service_key(binding),
        [],
    )
    ctx.store.dispose()


def test_environment_lifecycle_in_process(inprocess: InProcess) -> None:
    async def main() -> None:
        async with inprocess.client() as client:
            plans = {
                e.plan_name for e in await client.available_environments() if e.environment_type == "kyma"
            }
            assert {"aws", "azure", "gcp"} <= plans
            assert await client.list_environments() == []

            created = await client.create_environment(
                "rt-inproc", "aws", "eu-central-1", user="dev@example.com", parameters={"autoScalerMin": 3}
            )
            assert created.state == "CREATING" and created.job_id
            assert created.parameters == {"autoScalerMin": 3, "name": "rt-inproc", "region": "eu-central-1"}
            with pytest.raises(BadRequestError, match="creation is in progress"):
                await client.create_binding(created.id)

            polls: list[str] = []
            ready = await client.wait_until_ready(
                created.id, interval=1, on_poll=lambda e, _: polls.append(e.state)
            )
            assert polls == ["CREATING", "OK"]
            assert ready.api_server_url == f"https://127.0.0.1:9/clusters/{created.id.lower()}"
            assert (await client.job_status(created.job_id or "")).status == "COMPLETED"
            found = await client.find_environment("rt-inproc")
            assert found is not None and found.id == created.id

            job = await client.update_environment(
                created.id, "aws", {"name": "rt-inproc", "autoScalerMax": 5}
            )
            assert job is not None
            with pytest.raises(ConflictError):
                await client.update_environment(created.id, "aws", {"name": "rt-inproc"})
            updated = await client.wait_until_ready(created.id, interval=1)
            assert updated.parameters == {"name": "rt-inproc", "autoScalerMax": 5}

            assert dict(await client.set_labels(created.id, {"team": ["sdk"]})) == {"team": ["sdk"]}
            assert dict(await client.get_labels(created.id)) == {"team": ["sdk"]}
            assert dict(await client.delete_labels(created.id)) == {}

            deleting = await client.delete_environment(created.id)
            assert deleting.id == created.id
            await client.wait_until_deleted(created.id, interval=1)
            assert inprocess.runtimes.deleted == [created.id.lower()]
            with pytest.raises(NotFoundError) as info:
                await client.get_environment(created.id)
            assert info.value.code == 41000

    asyncio.run(main())


def test_failures_and_errors_in_process(inprocess: InProcess) -> None:
    async def main() -> None:
        async with inprocess.client() as client:
            env = await client.create_environment("rt-fail", "aws", "eu-central-1", user="dev@example.com")
            with inprocess.ctx.store.write() as conn:  # what POST /admin/environments/{id}/fail-next does
                conn.execute(
                    environments.update()
                    .where(environments.c.id == env.id)
                    .values(fail_next={"message": "quota exceeded", "operation": "provision"})
                )
            with pytest.raises(OperationFailed) as failed:
                await client.wait_until_ready(env.id, interval=1)
            assert failed.value.state == "CREATION_FAILED" and failed.value.state_message == "quota exceeded"

            deleted = await client.delete_all_environments()
            assert [e.id for e in deleted] == [env.id]
            await client.wait_until_deleted(env.id, interval=1)

            with pytest.raises(BadRequestError) as bad:
                await client.create_environment("rt", "no-such-plan", "eu-central-1", user="dev@example.com")
            assert bad.value.code == 41003 and bad.value.correlation_id

            # a binding on a "ready" environment whose cluster is unreachable: a 500 that is NOT retried
            env = await client.create_environment("rt-b", "aws", "eu-central-1", user="dev@example.com")
            await client.wait_until_ready(env.id, interval=1)
            inprocess.requests.clear()
            with pytest.raises(ServerError):
                await client.create_binding(env.id, expiration_seconds=600)
            assert inprocess.requests == [f"PUT /provisioning/v1/environments/{env.id}/bindings"]
            assert await client.list_bindings(env.id) == []
            with pytest.raises(NotFoundError) as missing:
                await client.get_binding(env.id, "no-such-binding")
            assert missing.value.code is None  # the real service's empty-body 404
            with pytest.raises(NotFoundError) as unknown:
                await client.delete_binding(env.id, "no-such-binding")
            assert unknown.value.message == "No binding exists with the provided ID"
            assigned = await client.service_plan_assignments()
            assert "aws" in {a.plan for a in assigned if a.service == "kymaruntime"}

        wrong = Credentials(
            inprocess.credentials.client_id,
            "wrong",
            inprocess.credentials.uaa_url,
            inprocess.credentials.provisioning_url,
        )
        async with inprocess.client(wrong) as client:
            with pytest.raises(UnauthorizedError):
                await client.list_environments()

    asyncio.run(main())
