"""The admin API: token-protected clock, failure injection and reset."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

import kymaprov.server  # noqa: F401 - the composition root: every layer's tables are on the metadata
from kymaprov.store import metadata
from tests.backends.test_runtimes_config import kubeconfig
from tests.conftest import RunningServer, free_port, new_api


def test_admin_requires_the_admin_token(server: RunningServer) -> None:
    assert httpx.get(f"{server.url}/admin/clock").status_code == 401
    assert (
        httpx.get(f"{server.url}/admin/clock", headers={"authorization": "Bearer wrong"}).status_code == 401
    )
    client_token = server.token_for(server.cis_credentials())
    assert (
        httpx.get(
            f"{server.url}/admin/clock", headers={"authorization": f"Bearer {client_token}"}
        ).status_code
        == 401
    )


@pytest.mark.parametrize(
    "raw",
    [
        b'{"seconds": -1}',
        b'{"seconds": "5"}',
        b"{}",
        b'{"seconds": true}',
        b'{"seconds": 1e999}',
        b'{"seconds": NaN}',
        b'{"seconds": 1e13}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_clock_advance_validation(server: RunningServer, raw: bytes) -> None:
    before = httpx.get(f"{server.url}/admin/clock", headers=server.admin_headers).json()["offsetSeconds"]
    r = httpx.post(f"{server.url}/admin/clock/advance", content=raw, headers=server.admin_headers)
    assert r.status_code == 400 and "error" in r.json()
    # nothing was stored: the clock still works and has not moved
    after = httpx.get(f"{server.url}/admin/clock", headers=server.admin_headers)
    assert after.status_code == 200 and after.json()["offsetSeconds"] == before


def test_fail_next_validation(server: RunningServer) -> None:
    r = httpx.post(
        f"{server.url}/admin/environments/nope/fail-next", json={"message": "x"}, headers=server.admin_headers
    )
    assert r.status_code == 404
    r = httpx.post(
        f"{server.url}/admin/environments/nope/fail-next", json={"message": "x", "operation": "explode"},
        headers=server.admin_headers,
    )  # fmt: skip
    assert r.status_code == 400


def test_reset_removes_environments_and_cis_clients(server: RunningServer) -> None:
    api = new_api(server, "resetme")
    env_id = api.create_kyma()
    api.wait_state(env_id)
    server.admin("POST", "/admin/clock/advance", {"seconds": 10})
    assert server.admin("POST", "/admin/reset") == {"reset": True}
    assert server.admin("GET", "/admin/clock")["offsetSeconds"] == 0
    # the cis clients are gone, so the old token is refused
    assert api.request("GET", "/environments").status_code == 401
    fresh = new_api(server)
    assert fresh.request("GET", "/environments").json()["environmentInstances"] == []


# what a reset keeps: the tenancy, the users, the installation's keys and settings
KEPT_ON_RESET = {"global_accounts", "subaccounts", "users", "settings"}


def _table_rows(engine: sa.Engine) -> dict[str, list[str]]:
    """Every table the services declare (read from the shared metadata), as sorted row texts."""
    with engine.connect() as conn:
        return {
            table.name: sorted(repr(tuple(row)) for row in conn.execute(sa.select(table)))
            for table in metadata.sorted_tables
        }


def test_reset_returns_every_table_to_its_first_start_content(tmp_path: Path) -> None:
    """A table nobody resets fails here: the list comes from the metadata, not from a list of names."""
    # azure's runtimes come from a pool whose one cluster is unreachable: its claim stays, retried
    config = tmp_path / "runtimes.yaml"
    config.write_text(
        "plans: {azure: lab}\nbackends: {lab: {type: pool, clusters: [{name: a, kubeconfig: k.yaml}]}}"
    )
    kubeconfig(tmp_path / "k.yaml", "{token: t}")
    env = {"KYMAPROV_RUNTIMES_CONFIG": str(config)}
    srv = RunningServer(
        tmp_path / "data", free_port(), free_port(), provisioning_seconds=0, extra_env=env
    ).start()
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'data' / 'kymaprov.db'}")
    try:
        assert set(sa.inspect(engine).get_table_names()) == set(metadata.tables)  # none escapes the walk
        first_start = _table_rows(engine)
        api = new_api(srv)
        env_id = api.create_kyma()
        api.wait_state(env_id)
        new_api(srv, "pooled").create_kyma(plan="azure", region="westeurope")
        put = api.request("PUT", f"/environments/{env_id}/bindings", json={})
        assert put.status_code == 202, put.text
        login = {"subdomain": "kymaprov-ga", "userName": srv.login["user"], "password": srv.login["password"]}
        assert httpx.post(f"{srv.url}/login/v2.106.1", json=login).status_code == 200  # a CLI-server session
        srv.admin("POST", f"/admin/environments/{env_id}/fail-next", {"message": "later"})
        srv.admin("POST", "/admin/clock/advance", {"seconds": 10})
        srv.admin("POST", "/admin/faults", {"path": "/nowhere", "status": 500})
        srv.admin("PUT", "/admin/lifecycle/plans/gcp", {"seconds": 60})
        deadline = time.monotonic() + 30  # the runtime's controllers take their lease in their own time
        while (
            untouched := {name for name, rows in _table_rows(engine).items() if rows == first_start[name]}
            - KEPT_ON_RESET
        ):
            assert time.monotonic() < deadline, (
                f"this test must fill every table a reset empties: {untouched}"
            )
            time.sleep(0.1)

        assert srv.admin("POST", "/admin/reset") == {"reset": True}

        after = _table_rows(engine)
        # the subaccount made for the pooled environment stays: a reset keeps the tenancy
        assert set(first_start["subaccounts"]) < set(after["subaccounts"])
        assert len(after["subaccounts"]) == len(first_start["subaccounts"]) + 1
        changed = {name for name, rows in after.items() if rows != first_start[name]} - {"subaccounts"}
        assert not changed, {name: after[name][:3] for name in changed}
        # and the service works as on first start: a new environment, a fresh clock
        assert srv.admin("GET", "/admin/clock")["offsetSeconds"] == 0
        fresh = new_api(srv)
        assert fresh.request("GET", "/environments").json()["environmentInstances"] == []
        again = fresh.create_kyma()
        assert fresh.wait_state(again)["state"] == "OK"
    finally:
        engine.dispose()
        srv.stop()
