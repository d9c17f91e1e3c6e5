"""One way in: every service layer turns a request into its caller with a ``BearerAuth``.

The check is the same everywhere (an ``Authorization: Bearer`` token, verified or refused); what differs
per layer is only who may verify it (the token service, or the admin token) and the 401 the layer
answers in its own format. Scopes are checked per route, after this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from starlette.requests import Request

from kymaprov.errors import ServiceError
from kymaprov.uaa.exceptions import TokenRejected
from kymaprov.web import bearer_token

P = TypeVar("P")


class BearerAuth(Generic[P]):
    """``auth(request)`` is the caller ``verify`` makes of the request's bearer token.

    ``verify`` raises ``TokenRejected`` for a token that is no good; ``unauthorized`` makes the layer's
    401 from that reason, or from None when the request carries no bearer token at all.
    """

    def __init__(
        self, verify: Callable[[str], P], unauthorized: Callable[[TokenRejected | None], ServiceError]
    ) -> None:
        self._verify = verify
        self._unauthorized = unauthorized

    def __call__(self, request: Request) -> P:
        token = bearer_token(request)
        if token is None:
            raise self._unauthorized(None)
        try:
            return self._verify(token)
        except TokenRejected as exc:
            raise self._unauthorized(exc) from exc
