"""Errors of the token service, answered in OAuth 2.0's error format.

- ``OAuthError`` (400 ``invalid_request``) - base class
  - ``UnsupportedGrantType`` (400 ``unsupported_grant_type``)
  - ``BadCredentials`` (401 ``unauthorized`` "Bad credentials") - unknown client, wrong secret or password
  - ``UnauthorizedGrant`` (401 ``invalid_client``) - the client may not use this grant type
- ``TokenRejected`` - a presented bearer token is invalid (signature, expiry, issuer); not an HTTP error
  itself, each API maps it to its own 401
"""

from __future__ import annotations


class OAuthError(Exception):
    status = 400
    error = "invalid_request"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class BadCredentials(OAuthError):
    status = 401
    error = "unauthorized"

    def __init__(self, description: str = "Bad credentials") -> None:
        super().__init__(description)


class UnauthorizedGrant(OAuthError):
    status = 401
    error = "invalid_client"


class TokenRejected(Exception):
    """The bearer token is malformed, badly signed, expired or not issued by us."""
