"""One error base, one handler: every error class of every layer renders in its API's format.

The classes are found by walking ``ServiceError``'s subclasses, so a new error class is tested here
without being listed, and one that fits no format fails.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

import kymaprov.app
from kymaprov.admin.responses import AdminError
from kymaprov.backends.embedded import EmbeddedRuntimes
from kymaprov.cliserver.errors import BackendError, ProtocolError
from kymaprov.config import Settings
from kymaprov.context import Context
from kymaprov.errors import EnvelopeError, MessageError, ServiceError
from kymaprov.provisioning.bindings import BindingService
from kymaprov.provisioning.exceptions import BindingNotReadable
from kymaprov.uaa.exceptions import OAuthError, TooManyFailures
from kymaprov.uaa.models import TokenService
from kymaprov.web import threaded

FORMATS = (EnvelopeError, MessageError, OAuthError, ProtocolError, BackendError)
MESSAGE = "something the caller should read"
# the classes whose constructor takes more than a message
ARGUMENTS: dict[type[ServiceError], tuple[object, ...]] = {
    TooManyFailures: (30.0,),
    AdminError: (409, MESSAGE),
    BackendError: (404, {"error": MESSAGE}),
}


def _subclasses(cls: type[ServiceError]) -> Iterator[type[ServiceError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


ERRORS = sorted(set(_subclasses(ServiceError)), key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _make(cls: type[ServiceError]) -> ServiceError:
    return cls(*ARGUMENTS.get(cls, (MESSAGE,)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def raising(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, list[Exception]]]:
    """The real API app with one more route, which raises whatever the test put in the list."""
    ctx = Context.open(Settings(data_dir=tmp_path_factory.mktemp("errors") / "data"))
    app = kymaprov.app.create_api_app(ctx, TokenService(ctx), BindingService(ctx, EmbeddedRuntimes(ctx)))
    pending: list[Exception] = []

    def raise_it(_: Request) -> Response:
        raise pending.pop()

    app.router.routes.append(Route("/raise", threaded(raise_it), methods=["POST"]))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, pending
    ctx.store.dispose()


def test_the_walk_finds_every_layers_errors() -> None:
    names = {c.__name__ for c in ERRORS}
    for expected in ("EnvironmentNotFound", "CisNotFound", "AccountError", "AdminError", "BadCredentials"):
        assert expected in names


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__qualname__)
def test_every_error_class_renders_in_its_format(
    raising: tuple[TestClient, list[Exception]], cls: type[ServiceError]
) -> None:
    client, pending = raising
    [wire_format] = [f for f in FORMATS if issubclass(cls, f)]  # exactly one format per class
    error = _make(cls)
    assert 400 <= error.status < 600
    pending.append(error)
    r = client.post("/raise")
    if wire_format is BackendError:  # the CLI server answered; its backend did not
        assert (r.status_code, r.headers["x-cpcli-backend-status"], r.json()) == (
            200,
            "404",
            {"error": MESSAGE},
        )
        return
    assert r.status_code == error.status
    if wire_format is ProtocolError:
        assert (r.content, r.headers["x-cpcli-server-message"]) == (b"", MESSAGE)
        return
    if cls is BindingNotReadable or issubclass(cls, BindingNotReadable):
        assert r.content == b""  # KEB's end-to-end test reads "404: body is empty"
        return
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    if wire_format is EnvelopeError:
        assert isinstance(error, EnvelopeError)
        inner = body["error"]
        uuid.UUID(inner.pop("correlationID"))
        assert inner == {"code": error.code, "message": MESSAGE, "target": "/raise"}
        assert (r.headers.get("www-authenticate") == "Bearer") is (error.status == 401)
    elif wire_format is MessageError:
        assert body == {"error": MESSAGE}
    else:
        assert isinstance(error, OAuthError)
        assert body["error"] == error.error and isinstance(body["error_description"], str)
        if isinstance(error, TooManyFailures):
            assert r.headers["retry-after"] == "30" and int(r.headers["x-ratelimit-reset"]) > 0
        else:
            assert body["error_description"] == MESSAGE
        assert (r.headers.get("www-authenticate") == 'Basic realm="UAA/client"') is (error.status == 401)


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [("GET", "/nowhere", 404, 11000), ("POST", "/healthz", 405, 11000), ("GET", "/raise", 405, 11000)],
)
def test_what_no_route_answers_is_an_envelope(
    raising: tuple[TestClient, list[Exception]], method: str, path: str, status: int, code: int
) -> None:
    client, _ = raising
    r = client.request(method, path)
    assert r.status_code == status
    assert r.json()["error"]["code"] == code and r.json()["error"]["target"] == path


def test_an_unexpected_failure_is_a_500_envelope(raising: tuple[TestClient, list[Exception]]) -> None:
    client, pending = raising
    pending.append(RuntimeError("a bug"))
    r = client.post("/raise")
    assert r.status_code == 500
    assert r.json()["error"]["code"] == 10000 and r.json()["error"]["message"] == "Internal server error"


def test_a_database_failure_is_a_503_to_retry_and_the_fault_rules_read_fails_no_request(
    raising: tuple[TestClient, list[Exception]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unreachable database (or a transaction it rolled back) is no client mistake: 503, Retry-After.
    The fault middleware's own read, before routing, fails no request: it injects nothing then."""
    import sqlalchemy as sa

    from kymaprov.faults import Faults

    client, pending = raising
    failure = sa.exc.OperationalError("SELECT 1", None, ConnectionRefusedError("refused"))
    pending.append(failure)
    r = client.post("/raise")
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "1"
    error = r.json()["error"]
    assert (error["code"], error["message"]) == (10000, "Service temporarily unavailable")

    def read_fails(_: Faults) -> None:
        raise failure

    monkeypatch.setattr(Faults, "stale", True)
    monkeypatch.setattr(Faults, "rules", read_fails)
    r = client.get("/provisioning/v1/environments")  # on to the route, which wants a token
    assert r.status_code == 401, r.text
