"""One TLS port for every runtime: kubeconfigs verify with or without SNI, SNI alone selects a runtime."""

from __future__ import annotations

import base64

import httpx
import pytest

from kymaprov.backends.base import ClusterAccess
from tests.kubeapi.conftest import Kube, KubeServer, ca_context


def test_kubeconfig_ca_verifies_the_default_certificate(
    kube_server: KubeServer, access: ClusterAccess
) -> None:
    """Clients that ignore ``tls-server-name`` (lightkube, aiohttp) connect to 127.0.0.1 without SNI."""
    bundle = base64.b64decode(access.ca_data).decode()
    assert bundle.count("BEGIN CERTIFICATE") == 2
    assert kube_server.runtimes.default_ca_pem().strip() in bundle
    headers = {"authorization": f"Bearer {access.token}"}
    reply = httpx.get(f"{access.server}/api/v1/namespaces", verify=ca_context(access), headers=headers)
    assert reply.status_code == 200, reply.text


def test_another_runtimes_certificate_still_fails(kube_server: KubeServer, access: ClusterAccess) -> None:
    other = kube_server.cluster()
    crossed = ClusterAccess(other.server, access.ca_data, other.token, other.tls_server_name)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        Kube(crossed).get("/version")


def test_sni_selects_the_runtime_when_the_path_has_no_cluster(kube_server: KubeServer, admin: Kube) -> None:
    """``kubectl proxy`` sends ``tls-server-name`` but drops ``/clusters/<id>`` from the path."""
    root = f"https://127.0.0.1:{kube_server.kube_port}"
    bare = ClusterAccess(root, admin.access.ca_data, admin.access.token, admin.access.tls_server_name)
    client = Kube(bare)
    assert client.get("/api").json()["kind"] == "APIVersions"
    assert client.get("/api/v1/namespaces/default/configmaps").json()["kind"] == "ConfigMapList"
    # the path still wins when it names a cluster; a token works only for its own cluster
    other = kube_server.cluster()
    assert client.get(f"/clusters/{other.server.rsplit('/', 1)[1]}/api").status_code == 401
    assert Kube(bare, token=other.token).get("/api").status_code == 401
    # without SNI there is no cluster to serve
    no_sni = httpx.get(f"{root}/api", verify=ca_context(admin.access), headers=client.client.headers)
    assert no_sni.status_code == 404
