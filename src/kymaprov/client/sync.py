"""``ProvisioningClient``: the blocking client for the Provisioning Service API v1.

Works against kymaprov and against SAP's service alike. Every method runs a flow from
``operations`` or ``waiters``; see ``retry`` for what is retried and ``exceptions`` for what is raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
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
from kymaprov.client.retry import Flow, HttpCall, RetryPolicy, run_sync

__all__ = ["ProvisioningClient"]

T = TypeVar("T")


class ProvisioningClient:
    """A blocking Provisioning Service client.

    ``ProvisioningClient(Credentials.from_file("cis-key.json"))`` fetches and caches tokens itself;
    ``ProvisioningClient(base_url=..., token=...)`` uses a token (or a callable returning one).
    ``transport`` is any ``httpx.BaseTransport`` (``MockTransport`` in tests); ``sleep``, ``clock``
    (epoch seconds) and ``random`` make retries and waiters deterministic.
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
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
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
        self._http = httpx.Client(
            base_url=config.base_url,
            auth=config.auth,
            headers=config.headers,
            timeout=config.timeout,
            transport=transport,
        )

    # -- plumbing -------------------------------------------------------------------------------

    def _request(self, call: HttpCall) -> httpx.Response:
        if call.has_body:
            return self._http.request(call.method, call.path, json=call.body)
        return self._http.request(call.method, call.path)

    def _run(self, flow: Flow[T]) -> T:
        return run_sync(flow, self._request, self._sleep)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ProvisioningClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- environments ---------------------------------------------------------------------------

    def available_environments(self) -> list[AvailableEnvironment]:
        return self._run(ops.available_environments(self.policy))

    def list_environments(self) -> list[Environment]:
        return self._run(ops.list_environments(self.policy))

    def get_environment(self, env_id: str) -> Environment:
        return self._run(ops.get_environment(self.policy, env_id))

    def find_environment(
        self, name: str, environment_type: str = ops.KYMA_ENVIRONMENT_TYPE
    ) -> Environment | None:
        return self._run(ops.find_environment(self.policy, name, environment_type))

    def create_environment(
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
        return self._run(
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

    def update_environment(self, env_id: str, plan: str, parameters: Mapping[str, Any]) -> str | None:
        return self._run(ops.update_environment(self.policy, env_id, plan, parameters))

    def delete_environment(self, env_id: str) -> Environment:
        return self._run(ops.delete_environment(self.policy, env_id))

    def delete_all_environments(self) -> list[Environment]:
        return self._run(ops.delete_all_environments(self.policy))

    # -- bindings -------------------------------------------------------------------------------

    def create_binding(self, env_id: str, expiration_seconds: int | None = None) -> Binding:
        return self._run(ops.create_binding(self.policy, env_id, expiration_seconds))

    def list_bindings(self, env_id: str) -> list[BindingMetadata]:
        return self._run(ops.list_bindings(self.policy, env_id))

    def get_binding(self, env_id: str, binding_id: str) -> Binding | BindingMetadata:
        return self._run(ops.get_binding(self.policy, env_id, binding_id))

    def delete_binding(self, env_id: str, binding_id: str) -> None:
        self._run(ops.delete_binding(self.policy, env_id, binding_id))

    # -- labels, quotas, jobs -------------------------------------------------------------------

    def get_labels(self, env_id: str) -> Labels:
        return self._run(ops.get_labels(self.policy, env_id))

    def set_labels(self, env_id: str, labels: Mapping[str, Sequence[str]]) -> Labels:
        return self._run(ops.set_labels(self.policy, env_id, labels))

    def delete_labels(self, env_id: str) -> Labels:
        return self._run(ops.delete_labels(self.policy, env_id))

    def service_plan_assignments(self) -> list[PlanAssignment]:
        return self._run(ops.service_plan_assignments(self.policy))

    def job_status(self, job_id: str) -> JobStatus:
        return self._run(ops.job_status(self.policy, job_id))

    # -- waiters --------------------------------------------------------------------------------

    def wait_until_ready(
        self,
        env_id: str,
        *,
        timeout: float = waiters.READY_TIMEOUT,
        interval: float = waiters.DEFAULT_INTERVAL,
        on_poll: waiters.OnPoll | None = None,
    ) -> Environment:
        return self._run(
            waiters.wait_until_ready(self.policy, env_id, timeout=timeout, interval=interval, on_poll=on_poll)
        )

    def wait_until_deleted(
        self,
        env_id: str,
        *,
        timeout: float = waiters.DELETE_TIMEOUT,
        interval: float = waiters.DEFAULT_INTERVAL,
        on_poll: waiters.OnPoll | None = None,
    ) -> None:
        self._run(
            waiters.wait_until_deleted(
                self.policy, env_id, timeout=timeout, interval=interval, on_poll=on_poll
            )
        )
