"""``/openapi.json`` describes the API as it is on the wire: schemathesis sends generated requests to every
operation of a real server and checks each answer against the document (status, content type, headers,
body schema) and that none is a 500. Bounded: a few examples per operation, no shrinking.
"""

from __future__ import annotations

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
    }


@pytest.fixture(scope="module")
def api_schema(server: RunningServer) -> Any:
    # the admin operations that would wipe or age the server under the other examples are left out
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json").exclude(
        path_regex=r"^/admin/(reset|clock/advance)$"
    )


schema = schemathesis.pytest.from_fixture("api_schema")


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
