"""Sending one API request with retries, as a sans-I/O generator shared by the sync and async clients.

An operation is a generator ("flow") that yields effects: ``HttpCall`` (send this request, send me
back the ``httpx.Response`` or throw the ``httpx.RequestError`` into me) and ``Pause`` (sleep this
long). ``ProvisioningClient`` and ``AsyncProvisioningClient`` only run flows, so every decision -
what to send, when to retry, how long to wait, how to decode - is made once, here and in
``operations``.

Retry rules: connection errors, 5xx and 429 are retried up to ``retries`` times, with exponential
backoff and jitter, but only for idempotent calls (GET, PUT labels, DELETE). ``POST /environments``,
``PATCH`` and ``PUT /bindings`` (which makes a new binding each time) are never repeated. A 429 waits
until ``X-Ratelimit-Reset`` (epoch milliseconds, read against the injected clock), capped.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import httpx

from kymaprov.client.exceptions import TransportError, error_from_response

__all__ = ["NO_BODY", "Flow", "HttpCall", "Pause", "RetryPolicy", "run_async", "run_sync", "send"]

T = TypeVar("T")
NO_BODY: Any = object()


@dataclass(frozen=True)
class HttpCall:
    """Send ``method path`` (relative to the base URL) with an optional JSON body."""

    method: str
    path: str
    body: Any = NO_BODY
    idempotent: bool = True
    # statuses that mean success when an earlier attempt may have reached the server (a DELETE whose
    # answer was lost and whose retry finds the object gone)
    ok_after_retry: frozenset[int] = field(default_factory=frozenset)

    @property
    def has_body(self) -> bool:
        return self.body is not NO_BODY


@dataclass(frozen=True)
class Pause:
    seconds: float


Effect = HttpCall | Pause
Flow = Generator[Effect, Any, T]


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3
    backoff: float = 0.5  # first delay in seconds; doubles per attempt
    max_backoff: float = 30.0
    max_rate_limit_wait: float = 60.0
    clock: Callable[[], float] = time.time  # epoch seconds: X-Ratelimit-Reset is wall-clock time
    random: Callable[[], float] = random.random  # in [0, 1); jitter scales a delay by 0.5 + 0.5 * random()

    def backoff_delay(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": between half and all of ``backoff * 2**attempt``."""
        ceiling = min(self.max_backoff, self.backoff * (2**attempt))
        return ceiling * (0.5 + 0.5 * self.random())

    def delay_for(self, response: httpx.Response, attempt: int) -> float:
        """How long to wait before repeating a request that got this 429 or 5xx response."""
        reset = response.headers.get("x-ratelimit-reset") if response.status_code == 429 else None
        if reset is not None:
            try:
                wait = float(reset.strip()) / 1000 - self.clock()
            except ValueError:
                wait = None
            if wait is not None and wait > 0:
                return min(wait, self.max_rate_limit_wait)
            # a reset already past (stale, or our clock is ahead): back off anyway, never burst
        retry_after = response.headers.get("retry-after")
        if retry_after is not None and retry_after.strip().isdigit():
            return min(float(retry_after.strip()), self.max_rate_limit_wait)
        return self.backoff_delay(attempt)


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def send(policy: RetryPolicy, call: HttpCall) -> Flow[httpx.Response]:
    """Send ``call`` until it succeeds or may not be retried; return the 2xx response or raise."""
    attempt = 0
    maybe_reached_server = False
    while True:
        try:
            response = cast(httpx.Response, (yield call))
        except httpx.RequestError as exc:
            retry = isinstance(exc, httpx.TransportError) and call.idempotent and attempt < policy.retries
            if retry:
                maybe_reached_server = maybe_reached_server or not isinstance(exc, httpx.ConnectError)
                yield Pause(policy.backoff_delay(attempt))
                attempt += 1
                continue
            raise _transport_error(call, exc, attempt) from exc
        if response.is_success:
            return response
        if maybe_reached_server and response.status_code in call.ok_after_retry:
            return response
        if _retryable(response.status_code) and call.idempotent and attempt < policy.retries:
            maybe_reached_server = True
            yield Pause(policy.delay_for(response, attempt))
            attempt += 1
            continue
        raise error_from_response(response)


def _transport_error(call: HttpCall, exc: httpx.RequestError, attempt: int) -> TransportError:
    """Names the request that failed with its host: the token request when the UAA is the one unreachable."""
    reason = str(exc) or type(exc).__name__
    try:
        failed: httpx.Request | None = exc.request
    except RuntimeError:
        failed = None
    url = str(failed.url) if failed is not None else None
    target = f"{failed.method} {url}" if failed is not None else f"{call.method} {call.path}"
    text = f"{target} failed: {type(exc).__name__}: {reason}"
    if failed is not None and not failed.url.path.endswith(call.path.partition("?")[0]):
        text += f" (needed for {call.method} {call.path})"
    if attempt:
        text += f" (after {attempt + 1} attempts)"
    elif not call.idempotent:
        text += " (not retried: the request is not idempotent and may have been processed)"
    return TransportError(text, method=call.method, url=url)


def run_sync(
    flow: Flow[T], request: Callable[[HttpCall], httpx.Response], sleep: Callable[[float], None]
) -> T:
    """Drive ``flow`` with blocking I/O."""
    try:
        effect = next(flow)
        while True:
            if isinstance(effect, Pause):
                sleep(effect.seconds)
                effect = flow.send(None)
                continue
            try:
                response = request(effect)
            except httpx.RequestError as exc:
                effect = flow.throw(exc)
            else:
                effect = flow.send(response)
    except StopIteration as stop:
        return cast(T, stop.value)
    finally:
        flow.close()


async def run_async(
    flow: Flow[T],
    request: Callable[[HttpCall], Awaitable[httpx.Response]],
    sleep: Callable[[float], Awaitable[None]],
) -> T:
    """Drive ``flow`` with asyncio I/O."""
    try:
        effect = next(flow)
        while True:
            if isinstance(effect, Pause):
                await sleep(effect.seconds)
                effect = flow.send(None)
                continue
            try:
                response = await request(effect)
            except httpx.RequestError as exc:
                effect = flow.throw(exc)
            else:
                effect = flow.send(response)
    except StopIteration as stop:
        return cast(T, stop.value)
    finally:
        flow.close()
