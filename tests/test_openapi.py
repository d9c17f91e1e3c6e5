"""``/openapi.json`` describes the API as it is on the wire: schemathesis sends generated requests to every
operation of a real server and checks each answer against the document (status, content type, headers,
body schema) and that none is a 500. Bounded: a few examples per operation, no shrinking.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route

from kymaprov import openapi
from kymaprov.app import create_api_app
from kymaprov.backends.embedded import EmbeddedRuntimes
from kymaprov.config import Settings
from kymaprov.context import Context
from kymaprov.dashboard import session as dashboard_session
from kymaprov.metrics import Metrics
from kymaprov.provisioning.bindings import BindingService
from kymaprov.uaa.models import TokenService
from tests.conftest import Api, RunningServer

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def headers_by_prefix(server: RunningServer) -> dict[str, dict[str, str]]:
    """The token each part of the API takes; one Kyma environment exists, so not everything is a 404."""
    credentials = server.cis_credentials(server.new_subaccount("openapi"))
    provisioning = server.token_for(credentials)
    api = Api(server, provisioning)
    api.wait_state(api.create_kyma(name="openapi-rt"))
    return {
        "/admin": server.admin_headers,
        "/cis": {"authorization": f"Bearer {server.platform_token()}"},
        "/provisioning": {"authorization": f"Bearer {provisioning}"},
        "/jobs-management": {"authorization": f"Bearer {provisioning}"},
        # each its own session: the first generated logout closes its session, not the commands'
        "/command": {"x-cpcli-sessionid": cli_session(server)},
        "/logout": {"x-cpcli-sessionid": cli_session(server)},
        "/dashboard": {"cookie": f"{dashboard_session.COOKIE}={dashboard_cookie(server)}"},
    }


def cli_session(server: RunningServer) -> str:
    login = server.login
    body = {"customIdp": "", "subdomain": "", "userName": login["user"], "password": login["password"]}
    response = httpx.post(f"{server.url}/login/v2.106.1", json=body)
    assert response.status_code == 200, response.headers
    return response.headers["x-cpcli-sessionid"]


def dashboard_cookie(server: RunningServer) -> str:
    login = server.login
    form = {"username": login["user"], "password": login["password"]}
    response = httpx.post(f"{server.url}/dashboard/login", data=form)
    assert response.status_code == 303, response.text
    return response.cookies[dashboard_session.COOKIE]


@pytest.fixture(scope="module")
def api_schema(server: RunningServer) -> Any:
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


# The admin operations that would wipe or age the server under the other examples are left out (reset
# drops the sessions and tokens the examples use; 12 hours on the clock expire them). The filter goes on
# the lazy schema: schemathesis replaces the filters of the fixture's schema with the lazy schema's.
# The generated logins (/oauth/token, /login, /dashboard/login) fail and count against this address's
# failure limit (50) but stay under it; /command runs no command, since OpenAPI cannot give it the bare
# ?action query string (test_a_command_that_ran_answers_as_documented covers that answer).
schema = schemathesis.pytest.from_fixture("api_schema").exclude(path_regex=r"^/admin/(reset|clock/advance)$")


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_api_answers_as_its_openapi_document_says(
    case: Any, headers_by_prefix: dict[str, dict[str, str]]
) -> None:
    headers = next((h for prefix, h in headers_by_prefix.items() if case.path.startswith(prefix)), {})
    case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)


def test_the_document_is_served_with_the_serving_url_and_names_every_route(server: RunningServer) -> None:
    document = httpx.get(f"{server.url}/openapi.json").json()
    assert document["openapi"].startswith("3.") and document["servers"] == [{"url": server.url}]
    paths = set(document["paths"])
    for expected in (
        "/oauth/token",
        "/provisioning/v1/environments/{environmentInstanceId}/bindings/{bindingId}",
        "/cis/v1/subaccounts/{subaccountId}/service_bindings",
        "/admin/faults",
        "/healthz",
    ):
        assert expected in paths


@pytest.mark.parametrize(
    ("action", "backend"), [("list", "200"), ("get", "404")], ids=["ran", "backend-refused"]
)
def test_a_command_that_ran_answers_as_documented(
    api_schema: Any,
    headers_by_prefix: dict[str, dict[str, str]],
    server: RunningServer,
    action: str,
    backend: str,
) -> None:
    """The generated requests cannot name the bare ``?action``; these real commands check its 200 answer."""
    server.admin("DELETE", "/admin/faults")  # the fault rules the generated examples may have left
    url = f"{server.url}/command/v2.106.1/accounts/subaccount?{action}"
    params = {"globalAccount": "kymaprov-ga", "subaccount": "no-such-subaccount"}
    response = httpx.post(url, json={"paramValues": params}, headers=headers_by_prefix["/command"])
    assert response.status_code == 200, (response.headers, response.text)
    assert response.headers["x-cpcli-backend-status"] == backend
    path = "/command/{version}/{group}/{object}"
    documented = openapi.document()["paths"][path]["post"]["responses"]["200"]
    assert all(name.lower() in response.headers for name in documented["headers"])
    api_schema[path]["POST"].validate_response(response)


# (method, path template) of the API app that the document leaves out, each with why; none so far. HEAD
# needs no entry: Starlette answers it for every GET route, and the document describes the GET.
UNDOCUMENTED: dict[tuple[str, str], str] = {}


def _template(path: str) -> str:
    """A path template without its parameters' names, which the app and the document may spell apart."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def test_every_route_of_the_api_app_is_in_the_document(tmp_path: Path) -> None:
    """A route added without its operation fails here, and so does an operation no route answers."""
    ctx = Context.open(Settings(data_dir=tmp_path / "data"))
    try:
        app = create_api_app(
            ctx, TokenService(ctx), BindingService(ctx, EmbeddedRuntimes(ctx)), metrics=Metrics()
        )
        assert all(isinstance(route, Route) for route in app.routes)  # no Mount whose routes hide
        routed = {
            (method, _template(route.path))
            for route in app.routes
            if isinstance(route, Route)  # for mypy
            for method in route.methods or ()
            if method != "HEAD"
        }
    finally:
        ctx.store.dispose()
    documented = {
        (method.upper(), _template(path))
        for path, operations in openapi.document()["paths"].items()
        for method in operations
        if method in ("get", "put", "post", "delete", "patch", "head", "options")
    }
    assert sorted(routed - documented - set(UNDOCUMENTED)) == []
    assert sorted(documented - routed) == []
