"""TokenRequest lifetimes are capped as by kube-apiserver's ``--service-account-max-token-expiration``."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest

from tests.conftest import RunningServer, free_port, new_api, run_kubectl
from tests.kubeapi.conftest import Kube, KubeServer

TOKEN = "/api/v1/namespaces/kyma-system/serviceaccounts/default/token"


def _lifetime(admin: Kube, seconds: int) -> int:
    r = admin.post(TOKEN, {"spec": {"expirationSeconds": seconds}})
    assert r.status_code == 201, r.text
    claims = jwt.decode(r.json()["status"]["token"], options={"verify_signature": False})
    assert r.json()["spec"]["expirationSeconds"] == claims["exp"] - claims["iat"]
    return int(claims["exp"] - claims["iat"])


def test_longer_requests_get_the_maximum(
    kube_server: KubeServer, admin: Kube, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _lifetime(admin, 2**32) == 86400  # the default: one day, not until 2163
    assert _lifetime(admin, 7200) == 7200  # bindings ask for at most 7200 s
    monkeypatch.setattr(kube_server.ctx.settings, "service_account_max_token_expiration", 3600)
    assert _lifetime(admin, 10_000) == 3600
    assert _lifetime(admin, 600) == 600
    too_long = admin.post(TOKEN, {"spec": {"expirationSeconds": 2**32 + 1}})
    assert too_long.status_code == 422  # validation comes first, as in kube-apiserver


def test_flag_through_kubectl_and_a_binding(tmp_path: Path) -> None:
    server = RunningServer(
        tmp_path / "data", free_port(), free_port(), provisioning_seconds=0,
        extra_env={"KYMAPROV_SERVICE_ACCOUNT_MAX_TOKEN_EXPIRATION": "7200"},
    ).start()  # fmt: skip
    try:
        api = new_api(server)
        env_id = api.create_kyma(name="capped")
        api.wait_state(env_id)
        r = api.request(
            "PUT", f"/environments/{env_id}/bindings", json={"parameters": {"expiration_seconds": 7200}}
        )
        assert r.status_code == 202, r.text
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(r.json()["credentials"]["kubeconfig"])
        out = run_kubectl(
            kubeconfig, tmp_path / "cache", "create", "token", "default", "-n", "kyma-system",
            "--duration", f"{2**32}s", "-o", "json",
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        reply = json.loads(out.stdout)
        assert reply["spec"]["expirationSeconds"] == 7200
    finally:
        server.stop()
