"""Mapping error responses to exceptions, whatever the body looks like."""

from __future__ import annotations

import httpx
import pytest

from kymaprov.client import exceptions as exc_module
from kymaprov.client.exceptions import (
    BadRequestError,
    ClientError,
    ConflictError,
    ForbiddenError,
    GoneError,
    NotFoundError,
    ProvisioningError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
    error_from_response,
)


def response(status: int, **kwargs: object) -> httpx.Response:
    request = httpx.Request("GET", "https://ps.example/provisioning/v1/environments/E")
    return httpx.Response(status, request=request, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, BadRequestError), (401, UnauthorizedError), (403, ForbiddenError), (404, NotFoundError),
     (409, ConflictError), (410, GoneError), (429, RateLimitedError), (500, ServerError),
     (502, ServerError), (503, ServerError), (405, ProvisioningError), (422, ProvisioningError)],
)  # fmt: skip
def test_status_maps_to_class(status: int, cls: type[ProvisioningError]) -> None:
    error = error_from_response(response(status, json={"error": {"code": 1, "message": "m"}}))
    assert type(error) is cls and error.status == status and error.message == "m"


def test_envelope_fields_are_carried() -> None:
    body = {"error": {"code": 10005, "correlationID": "abc",
                      "message": "Environment instance binding operations are not allowed. Feature toggle is disabled",
                      "target": "/provisioning/v1/environments/xxxx/bindings",
                      "details": [{"code": 11001, "message": "d"}]}}  # fmt: skip
    error = error_from_response(response(400, json=body))
    assert error.code == 10005 and error.correlation_id == "abc"
    assert error.target == "/provisioning/v1/environments/xxxx/bindings"
    assert error.details == [{"code": 11001, "message": "d"}]
    assert str(error) == (
        "HTTP 400 (code 10005): Environment instance binding operations are not allowed. Feature toggle is disabled"
    )


def test_empty_and_non_json_bodies() -> None:
    empty = error_from_response(response(404))
    assert isinstance(empty, NotFoundError) and empty.code is None
    assert empty.message == "Not Found (empty response body)"
    assert empty.target == "/provisioning/v1/environments/E"
    html = error_from_response(response(502, text="<html>Bad Gateway</html>"))
    assert isinstance(html, ServerError) and html.message == "<html>Bad Gateway</html>"
    odd = error_from_response(response(500, json=["not", "an", "object"]))
    assert odd.message == '["not","an","object"]'  # shown as is rather than dropped
    # the OAuth shape of the token endpoint and the admin/cis shape
    oauth = error_from_response(
        response(401, json={"error": "unauthorized", "error_description": "Bad credentials"})
    )
    assert isinstance(oauth, UnauthorizedError) and oauth.message == "Bad credentials"
    assert error_from_response(response(400, json={"error": "plain text"})).message == "plain text"


def test_rate_limit_reset_is_epoch_milliseconds() -> None:
    error = error_from_response(response(429, headers={"X-Ratelimit-Reset": "167918400000"}, json={}))
    assert isinstance(error, RateLimitedError)
    assert error.reset_at is not None and error.reset_at.timestamp() == 167918400.0
    assert error.reset_at.tzinfo is not None
    bad = error_from_response(response(429, headers={"X-Ratelimit-Reset": "soon"}))
    assert isinstance(bad, RateLimitedError) and bad.reset_at is None


def test_exit_codes_are_distinct_small_ints() -> None:
    classes = [
        obj for obj in vars(exc_module).values() if isinstance(obj, type) and issubclass(obj, ClientError)
    ]
    assert len(classes) == 14
    codes = [cls.exit_code for cls in classes]
    assert len(set(codes)) == len(codes)
    assert all(0 < c < 64 for c in codes)
