"""Health endpoints: what a load balancer or a compose health check asks, without a token."""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.testclient import TestClient

from kymaprov import __version__
from kymaprov.app import create_api_app
from kymaprov.backends.embedded import EmbeddedRuntimes
from kymaprov.config import Settings
from kymaprov.context import Context
from kymaprov.provisioning.bindings import BindingService
from kymaprov.uaa.models import TokenService
from tests.conftest import RunningServer


def test_a_running_server_is_live_and_ready(server: RunningServer) -> None:
    live = httpx.get(f"{server.url}/healthz")
    assert live.status_code == 200 and live.text == "ok"
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "lifecycle-worker": "ok"}}
    assert httpx.get(f"{server.url}/version").json() == {"version": __version__}


def test_not_ready_without_a_lifecycle_worker(tmp_path: Path) -> None:
    ctx = Context.open(Settings(data_dir=tmp_path / "data"))
    tokens = TokenService(ctx)
    app = create_api_app(ctx, tokens, BindingService(ctx, EmbeddedRuntimes(ctx)), worker_alive=lambda: False)
    with TestClient(app) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"database": "ok", "lifecycle-worker": "failed: not running"}
        assert client.get("/healthz").status_code == 200
    ctx.store.dispose()
