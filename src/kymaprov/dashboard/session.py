"""Dashboard sign-in: the platform login's password grant, its token kept in an HttpOnly cookie."""

from __future__ import annotations

from kymaprov.uaa.exceptions import BadCredentials, TokenRejected
from kymaprov.uaa.models import BTP_CLI_CLIENT, Principal, TokenService
from kymaprov.uaa.responses import FailureLimits

COOKIE = "kymaprov_dashboard"


class TooManyFailures(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(f"too many failed sign-ins; try again in {wait:.0f} s")


def sign_in(
    tokens: TokenService, failures: FailureLimits, address: str, username: str, password: str
) -> tuple[str, int] | None:
    """The access token and its lifetime for this user, as ``btp login`` gets them; None if refused.

    Failures count against the same limits as ``/oauth/token``'s, so the form is no way around them.
    """
    user_key = f"user:{username}"
    wait = max(failures.subjects.retry_after([user_key]), failures.addresses.retry_after([address]))
    if wait > 0:
        raise TooManyFailures(wait)
    try:
        granted = tokens.grant("password", BTP_CLI_CLIENT, None, username, password)
    except BadCredentials:
        failures.subjects.failed([user_key])
        failures.addresses.failed([address])
        return None
    return str(granted["access_token"]), int(granted["expires_in"])


def signed_in(tokens: TokenService, token: str | None) -> Principal | None:
    """The user the cookie's token speaks for; None without one, or for a client's token."""
    if not token:
        return None
    try:
        principal = tokens.verify(token)
    except TokenRejected:
        return None
    if principal.grant_type != "password" or not principal.user_name or not principal.global_account_id:
        return None
    return principal
