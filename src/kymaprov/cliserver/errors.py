"""The CLI server's two kinds of failure, as the real server answers them.

- ``ProtocolError``: the CLI server itself refuses (no session 401, unknown protocol version 412, a
  missing parameter 400, an unknown command 404): that HTTP status, an empty body, and the reason in
  ``X-Cpcli-Server-Message``.
- ``BackendError``: the command ran and its backend refused. The CLI server answers HTTP 200 and
  reports the backend's status in ``X-Cpcli-Backend-Status``, with the backend's error body:
  ``{"error": "<message> [Error: <code>/<status>]"}`` from the accounts and provisioning backends,
  ``{"error": "<Reason>", "description": "<message>"}`` from the Service Manager.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kymaprov.errors import ServiceError

BACKEND_STATUS = "X-Cpcli-Backend-Status"
BACKEND_MEDIATYPE = "X-Cpcli-Backend-Mediatype"
SERVER_MESSAGE = "X-Cpcli-Server-Message"

# the Service Manager's reason phrases in its error bodies
SM_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict"}


def header_text(text: str) -> str:
    """``text`` as a header value: printable ASCII, the rest escaped (``\\u8967``), since a message may
    quote the request's URL and a header cannot carry a control character or most of Unicode."""
    return "".join(c if " " <= c <= "~" else c.encode("unicode_escape").decode() for c in text)


class ProtocolError(ServiceError):
    status = 400

    def __init__(
        self, message: str | None = None, *, status: int | None = None, retry_after: float = 0
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str] | None:
        headers = {SERVER_MESSAGE: header_text(self.message)}
        if self.retry_after > 0:
            headers["Retry-After"] = str(math.ceil(self.retry_after))
        return headers

    def body(self, request: Request) -> Any:
        return None


class BackendError(ServiceError):
    """A backend's refusal, carried in a 200 answer; ``status`` is the backend's."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body.get("description") or body.get("error")), status=status)
        self.payload = body

    @classmethod
    def accounts(cls, status: int, message: str, code: int) -> BackendError:
        return cls(status, {"error": f"{message} [Error: {code}/{status}]"})

    @classmethod
    def service_manager(cls, status: int, message: str) -> BackendError:
        return cls(status, {"error": SM_REASONS.get(status, "BadRequest"), "description": message})

    def response(self, request: Request) -> Response:
        headers = {BACKEND_STATUS: str(self.status), BACKEND_MEDIATYPE: "application/json"}
        return JSONResponse(self.payload, status_code=200, headers=headers)
