"""The client's access check (``kymaprov up`` step 11) against a real runtime of a running kymaprov."""

from __future__ import annotations

import dataclasses

import pytest

from kymaprov.client.kubeconfig import AccessCheckFailed, KubeconfigInfo, check_access, parse_kubeconfig
from tests.conftest import RunningServer, new_api


@pytest.fixture(scope="module")
def info(server: RunningServer) -> KubeconfigInfo:
    api = new_api(server, "access-check")
    env_id = api.create_kyma(name="access-rt")
    api.wait_state(env_id)
    r = api.request(
        "PUT", f"/environments/{env_id}/bindings", json={"parameters": {"expiration_seconds": 600}}
    )
    assert r.status_code == 202, r.text
    return parse_kubeconfig(r.json()["credentials"]["kubeconfig"])


def test_a_binding_kubeconfig_lists_pods(info: KubeconfigInfo) -> None:
    assert check_access(info) == 0  # the runtime simulates no workloads: no pods, but a 200 list
    assert check_access(info, namespace="kube-system") == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"token": "not-a-token"}, "refused the access check: 401: Unauthorized"),
        ({"ca_data": "Q0EK"}, "certificate authority is unusable"),  # base64 of "CA\n"
        ({"ca_data": "%%%"}, "certificate authority is unusable"),
        ({"tls_server_name": "other.clusters.kymaprov.local"}, "cannot be reached: ConnectError"),
        ({"server": "https://127.0.0.1:1"}, "cannot be reached: ConnectError"),
    ],
)
def test_what_the_runtime_refuses_is_exit_8(
    info: KubeconfigInfo, change: dict[str, str], message: str
) -> None:
    with pytest.raises(AccessCheckFailed, match=message) as failed:
        check_access(dataclasses.replace(info, **change))
    assert failed.value.exit_code == 8
