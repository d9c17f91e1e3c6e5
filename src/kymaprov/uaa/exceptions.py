"""Errors of the token service, answered in OAuth 2.0's error format.

- ``OAuthError`` (400 ``invalid_request``) - base class
  - ``UnsupportedGrantType`` (400 ``unsupported_grant_type``)
  - ``BadCredentials`` (401 ``unauthorized`` "Bad credentials") - unknown client, wrong secret or password
  - ``TooManyFailures`` (429 ``too_many_requests``) - too many failed attempts for the client, user or
    address; carries the seconds to wait (``X-Ratelimit-Reset`` and ``Retry-After``)
  - ``UnauthorizedGrant`` (401 ``invalid_client``) - the client may not use this grant type
- ``TokenRejected`` - a presented bearer token is invalid (signature, expiry, issuer); not an HTTP error
  itself, each API maps it to its own 401
"""

from __future__ import annotations

import math


class OAuthError(Exception):
    status = 400
    error = "invalid_request"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class BadCredentials(OAuthError):
    """``user`` tells a wrong user password from a wrong client: each is counted against its own key."""

    status = 401
    error = "unauthorized"

    def __init__(self, description: str = "Bad credentials", *, user: bool = False) -> None:
        super().__init__(description)
        self.user = user


class TooManyFailures(OAuthError):
    status = 429
    error = "too_many_requests"

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            f"Too many failed authentication attempts; try again in {math.ceil(retry_after)} seconds"
        )
        self.retry_after = retry_after


class UnauthorizedGrant(OAuthError):
    status = 401
    error = "invalid_client"


class TokenRejected(Exception):
    """The bearer token is malformed, badly signed, expired or not issued by us."""
