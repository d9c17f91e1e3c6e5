"""What both clients are built from: base URL, auth, retry policy, headers and timeout."""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from kymaprov.client.auth import BearerAuth, ClientCredentialsAuth
from kymaprov.client.credentials import Credentials
from kymaprov.client.exceptions import CredentialsError
from kymaprov.client.retry import RetryPolicy

__all__ = ["USER_AGENT", "ClientConfig"]

USER_AGENT = "kymaprov-client/0.1"


@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    auth: httpx.Auth
    policy: RetryPolicy
    headers: dict[str, str]
    timeout: httpx.Timeout

    @classmethod
    def build(
        cls,
        credentials: Credentials | None,
        *,
        base_url: str | None,
        token: str | Callable[[], str] | None,
        auth: httpx.Auth | None,
        timeout: float | httpx.Timeout,
        retries: int,
        clock: Callable[[], float] | None,
        random: Callable[[], float] | None,
        backoff: float,
        max_backoff: float,
        max_rate_limit_wait: float,
        headers: Mapping[str, str] | None,
    ) -> ClientConfig:
        """Auth is ``auth`` if given, else ``token`` (a bearer token or a provider), else a token cache
        for ``credentials``; the base URL is ``base_url`` if given, else the credentials' one."""
        if retries < 0:
            raise ValueError("retries must be >= 0")
        clock = clock or time.time
        url = base_url or (credentials.provisioning_url if credentials else None)
        if not url:
            raise CredentialsError("no Provisioning Service URL: pass credentials or base_url")
        if auth is None:
            if token is not None:
                auth = BearerAuth(token)
            elif credentials is not None:
                auth = ClientCredentialsAuth(credentials, clock=clock)
            else:
                raise CredentialsError("no way to authenticate: pass credentials, token or auth")
        policy = RetryPolicy(
            retries=retries,
            backoff=backoff,
            max_backoff=max_backoff,
            max_rate_limit_wait=max_rate_limit_wait,
            clock=clock,
            random=random or _random.random,
        )
        return cls(
            base_url=url.rstrip("/"),
            auth=auth,
            policy=policy,
            headers={"accept": "application/json", "user-agent": USER_AGENT, **(headers or {})},
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
        )
