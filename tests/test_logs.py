"""Request and lifecycle logs of a real ``kymaprov serve``: useful lines, never a secret."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from tests.conftest import Api, RunningServer, free_port


def test_json_logs_name_each_request_and_step_and_no_secret(tmp_path: Path) -> None:
    srv = RunningServer(
        tmp_path / "data", free_port(), free_port(), 0.2, extra_env={"KYMAPROV_LOG_FORMAT": "json"}
    ).start()
    try:
        credentials = srv.cis_credentials()
        token = srv.token_for(credentials)
        api = Api(srv, token)
        reply = api.request("GET", "/environments", headers={"x-correlationid": "my-trace-42"})
        assert reply.headers["x-correlationid"] == "my-trace-42"
        assert httpx.get(f"{srv.url}/healthz").headers["x-correlationid"]  # one is made when none is sent
        env_id = api.create_kyma(name="log-rt")
        api.wait_state(env_id)
        time.sleep(0.5)
    finally:
        srv.stop()
    lines = [json.loads(line) for line in srv.log().splitlines() if line.startswith("{")]
    requests = [r for r in lines if r["logger"] == "kymaprov.requests"]
    traced = [r for r in requests if r["correlation_id"] == "my-trace-42"]
    assert traced and traced[0]["method"] == "GET" and traced[0]["path"] == "/provisioning/v1/environments"
    assert traced[0]["status"] == 200 and traced[0]["duration_ms"] >= 0
    assert any(r["path"] == "/oauth/token" and r["status"] == 200 for r in requests)
    steps = [r["message"] for r in lines if r["logger"] == "kymaprov.provisioning.lifecycle"]
    assert any(f"provision of environment {env_id}" in m for m in steps), steps
    assert any("succeeded" in m for m in steps), steps
    text = srv.log()
    for secret in (credentials["uaa"]["clientsecret"], token, srv.login["password"], srv.login["adminToken"]):
        assert secret not in text
