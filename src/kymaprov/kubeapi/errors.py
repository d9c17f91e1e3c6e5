"""The one error hierarchy of the embedded Kubernetes API, rendered as ``metav1.Status`` objects.

Messages and ``details`` follow ``apimachinery/pkg/api/errors/errors.go`` because kubectl prints them
verbatim and clients branch on ``reason``. A client mistake is always a 4xx Status, never a 500.
"""

from __future__ import annotations

from typing import Any


def qualified(resource: str, group: str) -> str:
    """``pods`` for the core group, ``deployments.apps`` otherwise (GroupResource.String())."""
    return f"{resource}.{group}" if group else resource


class KubeError(Exception):
    """Base class: an HTTP status, a Status ``reason`` and optional ``details``."""

    code = 500
    reason = "InternalError"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


class BadRequest(KubeError):
    code = 400
    reason = "BadRequest"


class Unauthorized(KubeError):
    code = 401
    reason = "Unauthorized"

    def __init__(self, message: str = "Unauthorized") -> None:
        super().__init__(message)


class Forbidden(KubeError):
    code = 403
    reason = "Forbidden"

    @classmethod
    def for_request(cls, resource: str, group: str, name: str, why: str) -> Forbidden:
        """``NewForbidden``: ``<gr> ["name" ]is forbidden: <why>``, or ``forbidden: <why>``."""
        if not resource:
            message = f"forbidden: {why}"
        elif name:
            message = f'{qualified(resource, group)} "{name}" is forbidden: {why}'
        else:
            message = f"{qualified(resource, group)} is forbidden: {why}"
        details: dict[str, Any] = {}
        if name:
            details["name"] = name
        if group:
            details["group"] = group
        if resource:
            details["kind"] = resource
        return cls(message, details)


class NotFound(KubeError):
    code = 404
    reason = "NotFound"

    @classmethod
    def object(cls, resource: str, group: str, name: str) -> NotFound:
        details: dict[str, Any] = {"name": name}
        if group:
            details["group"] = group
        details["kind"] = resource
        return cls(f'{qualified(resource, group)} "{name}" not found', details)

    @classmethod
    def path(cls) -> NotFound:
        return cls("the server could not find the requested resource", {})


class MethodNotAllowed(KubeError):
    code = 405
    reason = "MethodNotAllowed"


class NotAcceptable(KubeError):
    code = 406
    reason = "NotAcceptable"


class AlreadyExists(KubeError):
    code = 409
    reason = "AlreadyExists"

    @classmethod
    def object(cls, resource: str, group: str, name: str) -> AlreadyExists:
        details: dict[str, Any] = {"name": name}
        if group:
            details["group"] = group
        details["kind"] = resource
        return cls(f'{qualified(resource, group)} "{name}" already exists', details)


class Conflict(KubeError):
    code = 409
    reason = "Conflict"

    @classmethod
    def modified(cls, resource: str, group: str, name: str) -> Conflict:
        details: dict[str, Any] = {"name": name}
        if group:
            details["group"] = group
        details["kind"] = resource
        return cls(
            f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": the object has been '
            "modified; please apply your changes to the latest version and try again",
            details,
        )


class Expired(KubeError):
    """410 ``Expired`` (``NewResourceExpired``): a resourceVersion or continue token older than the
    change log keeps. ``continue_token`` goes into the Status' ``metadata.continue``."""

    code = 410
    reason = "Expired"

    def __init__(self, message: str, continue_token: str = "") -> None:
        super().__init__(message)
        self.continue_token = continue_token

    def status(self) -> dict[str, Any]:
        body = super().status()
        if self.continue_token:
            body["metadata"] = {"continue": self.continue_token}
        return body


class RequestEntityTooLarge(KubeError):
    code = 413
    reason = "RequestEntityTooLarge"


class UnsupportedMediaType(KubeError):
    code = 415
    reason = "UnsupportedMediaType"


class Invalid(KubeError):
    """422 with ``causes``; ``details.kind`` is the Kind, not the resource (``NewInvalid``)."""

    code = 422
    reason = "Invalid"

    def __init__(self, kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> None:
        """``causes`` are ``(field, reason, message)``, e.g. ``("spec.x", "FieldValueInvalid", "...")``."""
        texts = [f"{field}: {message}" for field, _, message in causes]
        aggregate = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
        qualified_kind = f"{kind}.{group}" if group else kind
        details: dict[str, Any] = {"name": name}
        if group:
            details["group"] = group
        details["kind"] = kind
        details["causes"] = [
            {"reason": reason, "message": message, "field": field} for field, reason, message in causes
        ]
        super().__init__(f'{qualified_kind} "{name}" is invalid: {aggregate}', details)


class InternalError(KubeError):
    code = 500
    reason = "InternalError"


class ServerTimeout(KubeError):
    """What the API server answers when its storage cannot (``NewServerTimeout``, for an unreachable
    etcd): a 500 whose ``retryAfterSeconds`` (sent as ``Retry-After`` too) has client-go try again."""

    reason = "ServerTimeout"

    def __init__(self, operation: str, resource: str, group: str, retry_after: int = 2) -> None:
        details: dict[str, Any] = {"kind": resource, "name": operation, "retryAfterSeconds": retry_after}
        if group:
            details = {"group": group, **details}
        super().__init__(
            f"The {operation} operation against {qualified(resource, group)} could not be completed at "
            "this time, please try again.",
            details,
        )


class Unprocessable(KubeError):
    """A 422 without field causes (a JSON patch that does not apply, for instance)."""

    code = 422
    reason = "Invalid"
