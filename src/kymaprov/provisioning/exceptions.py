"""Errors of the Provisioning Service domain.

Each carries the HTTP status and the Cloud Management application ``code`` it is answered with, and
is rendered as ``{"error": {"code", "message", "target", "correlationID"}}`` by its base,
``kymaprov.errors.EnvelopeError`` (500, 10000).

- ``EnvelopeError`` (500, 10000) - the base, for the server's own failures
  - ``RuntimeFailure`` (500, 42010/42011) - the runtime's Kubernetes API failed a binding's call
  - ``BadRequest`` (400, 11000 "Request payload is invalid")
    - ``InvalidParameters`` (400, 41002) - parameters do not match the plan's schema
    - ``UnknownServicePlan`` (400, 41003) - service or plan not in the catalog
    - ``BindingRejected`` (400, 42001) - KEB refused the binding (limit, expiration, state)
  - ``PayloadTooLarge`` (413, 11000) - a request body over the size limit
  - ``Unauthorized`` (401, 11002), ``Forbidden`` (403, 11004)
  - ``NotFound`` (404, 11005)
    - ``EnvironmentNotFound`` (404, 41000 "Environment instance not found")
    - ``BindingNotFound`` (404, 42002 "No binding exists with the provided ID")
      - ``BindingNotReadable`` - a GET of an unknown binding: an empty body, as the real service answers
  - ``Conflict`` (409, 41004) - an operation is already running
    - ``BindingDeleted`` - the binding was deleted while its PUT was still making it
  - ``BindingGone`` (410, 42003) - the binding expired; its metadata is deleted now
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from kymaprov.errors import EnvelopeError


class RuntimeFailure(EnvelopeError):
    """A call to the runtime's Kubernetes API failed; ``code`` says which (42010 bind, 42011 unbind)."""


class BadRequest(EnvelopeError):
    status = 400
    code = 11000
    default_message = "Request payload is invalid"


class PayloadTooLarge(EnvelopeError):
    status = 413
    code = 11000
    default_message = "Request payload is too large"


class InvalidParameters(BadRequest):
    """A 400 that names the offending field in ``field``."""

    code = 41002

    def __init__(self, message: str, field: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.field = field


class UnknownServicePlan(BadRequest):
    code = 41003
    default_message = (
        "Broker was not found, or, plan and service are not part of the broker catalog, or, "
        "service and plan are not allowed for the subaccount license type"
    )


class BindingRejected(BadRequest):
    code = 42001


class Unauthorized(EnvelopeError):
    status = 401
    code = 11002
    default_message = "Not Authorized"


class Forbidden(EnvelopeError):
    status = 403
    code = 11004
    default_message = "User is unauthorized for this operation"


class NotFound(EnvelopeError):
    status = 404
    code = 11005
    default_message = "Not found"


class EnvironmentNotFound(NotFound):
    code = 41000
    default_message = "Environment instance not found"


class BindingNotFound(NotFound):
    code = 42002
    default_message = "No binding exists with the provided ID"


class BindingNotReadable(BindingNotFound):
    """KEB's own end-to-end test asserts that GET of a deleted binding is a 404 with no body."""

    def body(self, request: Request) -> Any:
        return None


class Conflict(EnvelopeError):
    status = 409
    code = 41004
    default_message = "Another operation is in progress for this environment instance"


class BindingDeleted(Conflict):
    default_message = "The binding was deleted while it was being created"


class BindingGone(EnvelopeError):
    status = 410
    code = 42003
    default_message = (
        "The binding has expired on the environment broker side, but metadata still exists. "
        "It will be deleted from the provisioning database"
    )
