"""One environment lookup for every endpoint under ``/environments/{id}``, environments and bindings alike.

The real service answers 404 41000 "Environment instance not found" for an unknown or deprovisioned id,
and the API is per subaccount, so another subaccount's environment is an unknown one; an environment
being deleted is still there (``DELETING``) until its deprovisioning ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kymaprov.backends.embedded import EmbeddedRuntimes
from kymaprov.config import Settings
from kymaprov.context import Context
from kymaprov.errors import EnvelopeError
from kymaprov.provisioning.bindings import BindingService
from kymaprov.provisioning.environments import EnvironmentService
from kymaprov.uaa.models import Principal
from tests.conftest import Api, RunningServer, free_port, new_api

PROVISIONING_SECONDS = 60  # nothing finishes until the test moves the service clock


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    base = tmp_path_factory.mktemp("lookup")
    srv = RunningServer(base / "data", free_port(), free_port(), PROVISIONING_SECONDS).start()
    yield srv
    srv.stop()


def _finish_operations(server: RunningServer) -> None:
    server.admin("POST", "/admin/clock/advance", {"seconds": PROVISIONING_SECONDS + 1})


def _answers(api: Api, env_id: str) -> list[httpx.Response]:
    """The environment itself, and the endpoints of its bindings and labels."""
    return [
        api.request("GET", f"/environments/{env_id}"),
        api.request("PATCH", f"/environments/{env_id}", json={"planName": "aws", "parameters": {}}),
        api.request("GET", f"/environments/{env_id}/labels"),
        api.request("GET", f"/environments/{env_id}/bindings"),
        api.request("PUT", f"/environments/{env_id}/bindings", json={}),
        api.request("GET", f"/environments/{env_id}/bindings/some-binding"),
        api.request("DELETE", f"/environments/{env_id}/bindings/some-binding"),
    ]


def _assert_not_found(responses: list[httpx.Response]) -> None:
    for r in responses:
        assert r.status_code == 404, (r.request.method, r.request.url.path, r.text)
        error = r.json()["error"]
        assert (error["code"], error["message"]) == (41000, "Environment instance not found")


def test_missing_other_subaccounts_and_deprovisioned_are_one_404(slow_server: RunningServer) -> None:
    mine = new_api(slow_server, "lookup-mine")
    theirs = new_api(slow_server, "lookup-theirs")
    env_id = theirs.create_kyma()
    _finish_operations(slow_server)
    theirs.wait_state(env_id)

    _assert_not_found(_answers(mine, "00000000-0000-0000-0000-000000000000"))
    _assert_not_found(_answers(mine, env_id))

    assert theirs.request("DELETE", f"/environments/{env_id}").status_code == 202
    _finish_operations(slow_server)
    theirs.wait_gone(env_id)
    _assert_not_found(_answers(theirs, env_id))


def test_an_environment_being_deleted_is_still_found_by_every_endpoint(slow_server: RunningServer) -> None:
    api = new_api(slow_server, "lookup-deleting")
    env_id = api.create_kyma()
    _finish_operations(slow_server)
    api.wait_state(env_id)
    assert api.request("DELETE", f"/environments/{env_id}").status_code == 202

    got, patched, labels, listed, put, _, _ = _answers(api, env_id)
    assert got.status_code == 200 and got.json()["state"] == "DELETING"
    assert patched.status_code == 409 and patched.json()["error"]["code"] == 41004
    assert labels.status_code == 200 and listed.status_code == 200
    assert put.status_code == 400
    assert put.json()["error"]["message"] == f"instance {env_id} deprovisioning is in progress"


def test_a_token_of_no_subaccount_is_refused_alike(tmp_path: Path) -> None:
    """Not reachable over HTTP today (only subaccount-bound plans carry these scopes); the services
    used to disagree: 403 from environments, 404 from bindings."""
    ctx = Context.open(Settings(data_dir=tmp_path / "data"))
    try:
        envs = EnvironmentService(ctx)
        bindings = BindingService(ctx, EmbeddedRuntimes(ctx))
        nobody = Principal("c", "cis-local!b4", frozenset(), "client_credentials", None, "ga")
        calls = [
            lambda: envs.get(nobody, "X"),
            lambda: envs.get_labels(nobody, "X"),
            lambda: bindings.list_all(nobody, "X"),
            lambda: bindings.get(nobody, "X", "B"),
            lambda: bindings.delete(nobody, "X", "B"),
            lambda: bindings.create(nobody, "X", None),
        ]
        for call in calls:
            with pytest.raises(EnvelopeError) as refused:
                call()
            assert (refused.value.status, refused.value.code) == (403, 11004)
    finally:
        ctx.store.dispose()
