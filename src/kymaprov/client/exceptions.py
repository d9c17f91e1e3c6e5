"""Errors raised by the kymaprov client SDK.

Every exception derives from ``ClientError``. HTTP errors of the Provisioning Service (or of the token
endpoint) are ``ProvisioningError`` subclasses keyed by HTTP status and carry ``status``, ``code``
(the Cloud Management application code, e.g. 41000), ``message``, ``target`` (the request path) and
``correlation_id``. Each class has a distinct ``exit_code`` for command-line tools:

- ``ClientError`` (exit 1) - base class of everything below
  - ``CredentialsError`` (exit 3) - a service key, profile or environment lacks a field or is unreadable
  - ``TransportError`` (exit 4) - the connection failed or timed out (after the retries, if any)
  - ``WaitTimeout`` (exit 5) - a waiter gave up; carries the last ``environment`` seen
  - ``OperationFailed`` (exit 6) - an environment reached a ``*_FAILED`` state; ``state``, ``state_message``
  - ``ProvisioningError`` (exit 10) - an HTTP error status without a more specific class (e.g. 405, 422)
    - ``BadRequestError`` (400, exit 11)
    - ``UnauthorizedError`` (401, exit 12) - also a token endpoint refusing the client credentials
    - ``ForbiddenError`` (403, exit 13)
    - ``NotFoundError`` (404, exit 14) - the body may be empty (a deleted binding)
    - ``ConflictError`` (409, exit 15)
    - ``GoneError`` (410, exit 16) - a binding that expired; its metadata is deleted by the request
    - ``RateLimitedError`` (429, exit 17) - ``reset_at`` from ``X-Ratelimit-Reset`` (epoch ms), if sent
    - ``ServerError`` (5xx, exit 18)

``error_from_response`` maps any error ``httpx.Response`` to the right class; it tolerates empty and
non-JSON bodies and the OAuth error shape of the token endpoint.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx

from kymaprov.client.models import Environment

__all__ = [
    "BadRequestError",
    "ClientError",
    "ConflictError",
    "CredentialsError",
    "ForbiddenError",
    "GoneError",
    "NotFoundError",
    "OperationFailed",
    "ProvisioningError",
    "RateLimitedError",
    "ServerError",
    "TransportError",
    "UnauthorizedError",
    "WaitTimeout",
    "error_from_response",
]


class ClientError(Exception):
    """Base class of every error the SDK raises."""

    exit_code = 1
    hint: str | None = None  # what to do next, for command-line tools to print


class CredentialsError(ClientError):
    exit_code = 3


class TransportError(ClientError):
    """The request could not be completed: connection refused or reset, DNS failure, timeout."""

    exit_code = 4

    def __init__(self, message: str, *, method: str | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url


class WaitTimeout(ClientError):
    exit_code = 5

    def __init__(self, message: str, *, environment: Environment | None = None, elapsed: float = 0.0) -> None:
        super().__init__(message)
        self.message = message
        self.environment = environment
        self.elapsed = elapsed


FAILED_NEXT_STEPS = {
    "CREATION_FAILED": "delete the environment ('kymaprov down NAME') and create it again",
    "UPDATE_FAILED": "read the message, then update again ('kymaprov env update NAME ...')",
    "DELETION_FAILED": "delete it again ('kymaprov env delete NAME --wait')",
}


class OperationFailed(ClientError):
    """An environment ended in ``CREATION_FAILED``, ``UPDATE_FAILED`` or ``DELETION_FAILED``."""

    exit_code = 6

    def __init__(
        self, environment_id: str, state: str, state_message: str, *, environment: Environment | None = None
    ) -> None:
        detail = f": {state_message}" if state_message else ""
        super().__init__(f"environment {environment_id} is {state}{detail}")
        self.environment_id = environment_id
        self.state = state
        self.state_message = state_message
        self.environment = environment
        self.hint = FAILED_NEXT_STEPS.get(state)


class ProvisioningError(ClientError):
    """An HTTP error answer of the Provisioning Service or the token endpoint."""

    exit_code = 10

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: int | None = None,
        target: str | None = None,
        correlation_id: str | None = None,
        details: list[dict[str, Any]] | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.target = target
        self.correlation_id = correlation_id
        self.details = details or []
        self.response = response

    def __str__(self) -> str:
        code = f" (code {self.code})" if self.code is not None else ""
        return f"HTTP {self.status}{code}: {self.message}"


class BadRequestError(ProvisioningError):
    exit_code = 11


class UnauthorizedError(ProvisioningError):
    exit_code = 12


class ForbiddenError(ProvisioningError):
    exit_code = 13


class NotFoundError(ProvisioningError):
    exit_code = 14


class ConflictError(ProvisioningError):
    exit_code = 15


class GoneError(ProvisioningError):
    exit_code = 16


class RateLimitedError(ProvisioningError):
    exit_code = 17

    def __init__(self, message: str, *, reset_at: datetime | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reset_at = reset_at


class ServerError(ProvisioningError):
    exit_code = 18


_BY_STATUS: dict[int, type[ProvisioningError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    429: RateLimitedError,
}


def rate_limit_reset(response: httpx.Response) -> datetime | None:
    """``X-Ratelimit-Reset`` (epoch milliseconds) as an aware datetime; None if absent or malformed."""
    value = response.headers.get("x-ratelimit-reset")
    if value is None:
        return None
    try:
        millis = float(value.strip())
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def error_from_response(response: httpx.Response) -> ProvisioningError:
    """The exception for an error response, whatever its body looks like."""
    status = response.status_code
    target: str | None = response.request.url.path if _has_request(response) else None
    code: int | None = None
    correlation_id: str | None = None
    details: list[dict[str, Any]] | None = None
    message = ""
    body = _json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):  # {"error": {"code", "message", "target", "correlationID", "details"}}
        raw_code = error.get("code")
        code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
        message = str(error.get("message") or error.get("description") or "")
        target = str(error["target"]) if error.get("target") else target
        correlation_id = str(error["correlationID"]) if error.get("correlationID") else None
        raw_details = error.get("details")
        if isinstance(raw_details, list):
            details = [d for d in raw_details if isinstance(d, dict)]
    elif isinstance(body, dict):  # OAuth {"error", "error_description"} or {"error": "text"}
        message = str(body.get("error_description") or error or body.get("message") or "")
    elif response.content.strip():
        message = response.text.strip()[:500]
    if not message:
        reason = response.reason_phrase or "error"
        message = f"{reason} (empty response body)" if not response.content.strip() else reason
    kwargs: dict[str, Any] = {
        "status": status,
        "code": code,
        "target": target,
        "correlation_id": correlation_id,
        "details": details,
        "response": response,
    }
    if status == 429:
        return RateLimitedError(message, reset_at=rate_limit_reset(response), **kwargs)
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else ProvisioningError)
    return cls(message, **kwargs)


def _has_request(response: httpx.Response) -> bool:
    try:
        response.request  # noqa: B018 - raises RuntimeError when the response was built without one
    except RuntimeError:
        return False
    return True


def _json_body(response: httpx.Response) -> Any:
    if not response.content.strip():
        return None
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
