"""The one error base of the HTTP API; each wire format is a subclass that renders its own body.

Domain code raises these (a domain error's class says its status), and ``app.py`` registers a single
exception handler for ``ServiceError`` that answers ``exc.response(request)``; no layer catches and
renders errors itself. The formats:

- ``ServiceError`` (500) - the base: a status and a message
  - ``EnvelopeError`` (500, code 10000) - SAP Cloud Management's envelope,
    ``{"error": {"code", "message", "target", "correlationID"}}``: the Provisioning Service
    (``provisioning/exceptions.py``) and any request no route answers
  - ``MessageError`` (400) - ``{"error": "<message>"}``, as the btp CLI server answers: cis
    (``cis/exceptions.py``), accounts and the admin API
  - ``OAuthError`` (400) - ``{"error", "error_description"}`` of OAuth 2.0 (``uaa/exceptions.py``)
  - ``ProtocolError`` and ``BackendError`` - the BTP CLI server's own refusals (an empty body and
    ``X-Cpcli-Server-Message``) and a command's backend error (HTTP 200, ``X-Cpcli-Backend-Status``)
    (``cliserver/errors.py``)

The embedded Kubernetes API answers ``Status`` objects from its own ``kubeapi/errors.py``: it is another
server with its own app and handler.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class ServiceError(Exception):
    """An answer other than success: ``status`` and ``message``. Raise a subclass of one wire format."""

    status = 500
    default_message = "Internal server error"

    def __init__(self, message: str | None = None, *, status: int | None = None) -> None:
        self.message = message or self.default_message
        if status is not None:
            self.status = status
        super().__init__(self.message)

    def headers(self) -> dict[str, str] | None:
        return None

    def body(self, request: Request) -> Any:
        """The JSON body; None for an empty one."""
        return {"error": self.message}

    def response(self, request: Request) -> Response:
        body = self.body(request)
        if body is None:
            return Response(status_code=self.status, headers=self.headers())
        return JSONResponse(body, status_code=self.status, headers=self.headers())


class EnvelopeError(ServiceError):
    """``{"error": {"code", "message", "target", "correlationID"[, "details"]}}``; ``target`` is the path.

    ``code`` is the Cloud Management application code: 10XXX server errors, 11XXX request errors,
    41XXX environment instances, 42XXX bindings. A 401 carries ``WWW-Authenticate: Bearer``.
    """

    code = 10000

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        code: int | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, status=status)
        if code is not None:
            self.code = code
        self.details = details

    def headers(self) -> dict[str, str] | None:
        return {"www-authenticate": "Bearer"} if self.status == 401 else None

    def body(self, request: Request) -> Any:
        error: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "target": request.url.path,
            "correlationID": str(uuid.uuid4()),
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}


class MessageError(ServiceError):
    """``{"error": "<message>"}``: bad input unless a subclass says otherwise."""

    status = 400


def unrouted(status: int, message: str | None) -> EnvelopeError:
    """What a request no route answers (404, 405) or an unexpected failure (500) is answered with."""
    return EnvelopeError(message or "Request failed", status=status, code=11000 if status < 500 else 10000)
