"""Errors of the token service, answered in OAuth 2.0's error format.

- ``OAuthError`` (400 ``invalid_request``) - the format: ``{"error", "error_description"}``
  - ``UnsupportedGrantType`` (400 ``unsupported_grant_type``)
  - ``BadCredentials`` (401 ``unauthorized`` "Bad credentials") - unknown client, wrong secret or password
  - ``TooManyFailures`` (429 ``too_many_requests``) - too many failed attempts for the client, user or
    address; carries the seconds to wait (``X-Ratelimit-Reset`` and ``Retry-After``)
  - ``UnauthorizedGrant`` (401 ``invalid_client``) - the client may not use this grant type
- ``TokenRejected`` - a presented bearer token is invalid (signature, expiry, issuer); not an HTTP error
  itself: ``kymaprov.auth`` turns it into each API's own 401
"""

from __future__ import annotations

import math
import time
from typing import Any

from starlette.requests import Request

from kymaprov.errors import ServiceError


class OAuthError(ServiceError):
    """``{"error": "<error>", "error_description": "<message>"}``; a 401 asks for Basic credentials."""

    status = 400
    error = "invalid_request"

    def headers(self) -> dict[str, str] | None:
        return {"www-authenticate": 'Basic realm="UAA/client"'} if self.status == 401 else None

    def body(self, request: Request) -> Any:
        return {"error": self.error, "error_description": self.message}


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class BadCredentials(OAuthError):
    """``user`` tells a wrong user password from a wrong client: each is counted against its own key."""

    status = 401
    error = "unauthorized"
    default_message = "Bad credentials"

    def __init__(self, message: str | None = None, *, user: bool = False) -> None:
        super().__init__(message)
        self.user = user


class TooManyFailures(OAuthError):
    """``X-Ratelimit-Reset`` in epoch ms, as SAP's services send it, and ``Retry-After`` in seconds."""

    status = 429
    error = "too_many_requests"

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            f"Too many failed authentication attempts; try again in {math.ceil(retry_after)} seconds"
        )
        self.retry_after = retry_after

    def headers(self) -> dict[str, str] | None:
        return {
            "x-ratelimit-reset": str(int((time.time() + self.retry_after) * 1000)),
            "retry-after": str(math.ceil(self.retry_after)),
        }


class UnauthorizedGrant(OAuthError):
    status = 401
    error = "invalid_client"


class TokenRejected(Exception):
    """The bearer token is malformed, badly signed, expired or not issued by us."""
