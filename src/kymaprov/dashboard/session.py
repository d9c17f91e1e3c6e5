"""Dashboard sign-in: the platform login's password grant, its token kept in an HttpOnly cookie."""

from __future__ import annotations

from kymaprov.uaa.exceptions import BadCredentials, TokenRejected
from kymaprov.uaa.models import BTP_CLI_CLIENT, Principal, TokenService

COOKIE = "kymaprov_dashboard"


def sign_in(tokens: TokenService, username: str, password: str) -> tuple[str, int] | None:
    """The access token and its lifetime for this user, as ``btp login`` gets them; None if refused."""
    try:
        granted = tokens.grant("password", BTP_CLI_CLIENT, None, username, password)
    except BadCredentials:
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
