"""State survives restarts; operations recorded before they run are finished after a crash."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

from tests.conftest import Api, RunningServer, free_port
from tests.provisioning.test_bindings_api import kubectl, put_binding


def test_kill_9_mid_provisioning_then_restart_completes(tmp_path: Path) -> None:
    srv = RunningServer(tmp_path / "data", free_port(), free_port(), provisioning_seconds=3).start()
    api = Api(srv, srv.token_for(srv.cis_credentials()))
    env_id = api.create_kyma(name="crash-rt")
    assert api.request("GET", f"/environments/{env_id}").json()["state"] == "CREATING"
    assert srv.stop(signal.SIGKILL) == -signal.SIGKILL

    restarted = RunningServer(srv.data_dir, srv.port, srv.kube_port, provisioning_seconds=3).start()
    try:
        env = api.wait_state(env_id, timeout=60)  # the old token still works: keys and clients persisted
        assert env["stateMessage"] == "Environment instance created."
        r = put_binding(api, env_id, {"parameters": {"expiration_seconds": 600}})
        assert r.status_code == 202, r.text
        assert kubectl(r.json()["credentials"]["kubeconfig"], tmp_path, "get", "pods").returncode == 0
    finally:
        restarted.stop()


def test_operation_of_a_worker_killed_while_running_it_is_taken_over_after_its_lease(tmp_path: Path) -> None:
    srv = RunningServer(tmp_path / "data", free_port(), free_port(), provisioning_seconds=2).start()
    api = Api(srv, srv.token_for(srv.cis_credentials()))
    env_id = api.create_kyma(name="lease-rt")
    assert srv.stop(signal.SIGKILL) == -signal.SIGKILL
    # as the dead worker left it: claimed (one attempt), lease running for a few more seconds
    db = sqlite3.connect(srv.data_dir / "kymaprov.db")
    with db:
        claimed = db.execute(
            "UPDATE operations SET lease_owner = 'dead-worker', lease_until = ?, attempts = 1 "
            "WHERE environment_id = ? AND state = 'pending'",
            (time.time() + 4, env_id),
        ).rowcount
    db.close()
    assert claimed == 1

    restarted = RunningServer(srv.data_dir, srv.port, srv.kube_port, provisioning_seconds=2).start()
    try:
        assert api.wait_state(env_id, timeout=60)["state"] == "OK"
        db = sqlite3.connect(srv.data_dir / "kymaprov.db")
        owner, attempts, state = db.execute(
            "SELECT lease_owner, attempts, state FROM operations WHERE environment_id = ?", (env_id,)
        ).fetchone()
        db.close()
        assert owner != "dead-worker" and attempts == 2 and state == "succeeded"
    finally:
        restarted.stop()


def test_restart_keeps_state_and_sigterm_is_clean(tmp_path: Path) -> None:
    srv = RunningServer(tmp_path / "data", free_port(), free_port(), provisioning_seconds=0).start()
    api = Api(srv, srv.token_for(srv.cis_credentials()))
    env_id = api.create_kyma(name="keep-rt")
    api.wait_state(env_id)
    binding = put_binding(api, env_id, {"parameters": {"expiration_seconds": 1200}})
    kubeconfig = binding.json()["credentials"]["kubeconfig"]
    srv.admin("POST", "/admin/clock/advance", {"seconds": 60})
    offset = srv.admin("GET", "/admin/clock")["offsetSeconds"]
    assert srv.stop(signal.SIGTERM) == 0
    assert "kymaprov stopped" in srv.log()

    again = RunningServer(srv.data_dir, srv.port, srv.kube_port, provisioning_seconds=0).start()
    try:
        assert "first start" not in again.log().split("kymaprov stopped")[-1]
        assert again.admin("GET", "/admin/clock")["offsetSeconds"] == offset
        assert api.request("GET", f"/environments/{env_id}").json()["state"] == "OK"
        got = api.request("GET", f"/environments/{env_id}/bindings/{binding.headers['location']}")
        assert got.json()["credentials"]["kubeconfig"] == kubeconfig
        assert kubectl(kubeconfig, tmp_path, "get", "pods").returncode == 0  # same CA, same signing key
    finally:
        again.stop()
