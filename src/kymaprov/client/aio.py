"""``AsyncProvisioningClient``: the asyncio client for the Provisioning Service API v1.

Works against kymaprov and against SAP's service alike. Every method runs a flow from
``operations`` or ``waiters``; see ``retry`` for what is retried and ``exceptions`` for what is raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from kymaprov.client import operations as ops
from kymaprov.client import waiters
from kymaprov.client.config import ClientConfig
from kymaprov.client.credentials import Credentials
from kymaprov.client.models import (
    AvailableEnvironment,
    Binding,
    BindingMetadata,
    Environment,
    JobStatus,
    Labels,
    PlanAssignment,
)
from kymaprov.client.retry import Flow, HttpCall, RetryPolicy, run_async

__all__ = ["AsyncProvisioningClient"]

T = TypeVar("T")


class AsyncProvisioningClient:
    """An asyncio Provisioning Service client, with the same methods as ``ProvisioningClient``.

    ``AsyncProvisioningClient(Credentials.from_file("cis-key.json"))`` fetches and caches tokens itself;
    ``AsyncProvisioningClient(base_url=..., token=...)`` uses a token (or a callable returning one).
    ``transport`` is any ``httpx.AsyncBaseTransport`` (``MockTransport`` in tests); ``sleep`` (a
    coroutine function), ``clock`` (epoch seconds) and ``random`` make retries and waiters deterministic.
    """

    def __init__(
        self,
        credentials: Credentials | None = None,
        *,
        base_url: str | None = None,
        token: str | Callable[[], str] | None = None,
        auth: httpx.Auth | None = None,
        timeout: float | httpx.Timeout = 30.0,
        retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] | None = None,
        random: Callable[[], float] | None = None,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_rate_limit_wait: float = 60.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        config = ClientConfig.build(
            credentials,
            base_url=base_url,
            token=token,
            auth=auth,
            timeout=timeout,
            retries=retries,
            clock=clock,
            random=random,
            backoff=backoff,
            max_backoff=max_backoff,
            max_rate_limit_wait=max_rate_limit_wait,
            headers=headers,
        )
        self.base_url = config.base_url
        self.auth = config.auth
        self.policy: RetryPolicy = config.policy
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=config.base_url,
            auth=config.auth,
            headers=config.headers,
            timeout=config.timeout,
            transport=transport,
        )

    # -- plumbing -------------------------------------------------------------------------------

    async def _request(self, call: HttpCall) -> httpx.Response:
        if call.has_body:
            return await self._http.request(call.method, call.path, json=call.body)
        return await self._http.request(call.method, call.path)

    async def _run(self, flow: Flow[T]) -> T:
        return await run_async(flow, self._request, self._sleep)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncProvisioningClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- environments ---------------------------------------------------------------------------

    async def available_environments(self) -> list[AvailableEnvironment]:
        return await self._run(ops.available_environments(self.policy))

    async def list_environments(self) -> list[Environment]:
        return await self._run(ops.list_environments(self.policy))

    async def get_environment(self, env_id: str) -> Environment:
        return await self._run(ops.get_environment(self.policy, env_id))

    async def find_environment(
        self, name: str, environment_type: str = ops.KYMA_ENVIRONMENT_TYPE
    ) -> Environment | None:
        return await self._run(ops.find_environment(self.policy, name, environment_type))

    async def create_environment(
        self,
        name: str,
        plan: str,
        region: str | None,
        *,
        user: str | None,
        parameters: Mapping[str, Any] | None = None,
        service_name: str = ops.KYMA_SERVICE_NAME,
        description: str | None = None,
    ) -> Environment:
        return await self._run(
            ops.create_environment(
                self.policy,
                name,
                plan,
                region,
                user=user,
                parameters=parameters,
                service_name=service_name,
                description=description,
            )
        )

    async def update_environment(self, env_id: str, plan: str, parameters: Mapping[str, Any]) -> str | None:
        return await self._run(ops.update_environment(self.policy, env_id, plan, parameters))

    async def delete_environment(self, env_id: str) -> Environment:
        return await self._run(ops.delete_environment(self.policy, env_id))

    async def delete_all_environments(self) -> list[Environment]:
        return await self._run(ops.delete_all_environments(self.policy))

    # -- bindings -------------------------------------------------------------------------------

    async def create_binding(self, env_id: str, expiration_seconds: int | None = None) -> Binding:
        return await self._run(ops.create_binding(self.policy, env_id, expiration_seconds))

    async def list_bindings(self, env_id: str) -> list[BindingMetadata]:
        return await self._run(ops.list_bindings(self.policy, env_id))

    async def get_binding(self, env_id: str, binding_id: str) -> Binding | BindingMetadata:
        return await self._run(ops.get_binding(self.policy, env_id, binding_id))

    async def delete_binding(self, env_id: str, binding_id: str) -> None:
        await self._run(ops.delete_binding(self.policy, env_id, binding_id))

    # -- labels, quotas, jobs -------------------------------------------------------------------

    async def get_labels(self, env_id: str) -> Labels:
        return await self._run(ops.get_labels(self.policy, env_id))

    async def set_labels(self, env_id: str, labels: Mapping[str, Sequence[str]]) -> Labels:
        return await self._run(ops.set_labels(self.policy, env_id, labels))

    async def delete_labels(self, env_id: str) -> Labels:
        return await self._run(ops.delete_labels(self.policy, env_id))

    async def service_plan_assignments(self) -> list[PlanAssignment]:
        return await self._run(ops.service_plan_assignments(self.policy))

    async def job_status(self, job_id: str) -> JobStatus:
        return await self._run(ops.job_status(self.policy, job_id))

    # -- waiters --------------------------------------------------------------------------------

    async def wait_until_ready(
        self,
        env_id: str,
        *,
        timeout: float = waiters.READY_TIMEOUT,
        interval: float = waiters.DEFAULT_INTERVAL,
        on_poll: waiters.OnPoll | None = None,
    ) -> Environment:
        return await self._run(
            waiters.wait_until_ready(self.policy, env_id, timeout=timeout, interval=interval, on_poll=on_poll)
        )

    async def wait_until_deleted(
        self,
        env_id: str,
        *,
        timeout: float = waiters.DELETE_TIMEOUT,
        interval: float = waiters.DEFAULT_INTERVAL,
        on_poll: waiters.OnPoll | None = None,
    ) -> None:
        await self._run(
            waiters.wait_until_deleted(
                self.policy, env_id, timeout=timeout, interval=interval, on_poll=on_poll
            )
        )
