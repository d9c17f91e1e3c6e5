"""Fixtures for the embedded Kubernetes API: a real uvicorn TLS server in a thread, real clients.

``KubeServer`` owns one data dir (Context + EmbeddedRuntimes + app) served with the SNI context on a
free port; ``kubectl`` runs the versioned Google Cloud SDK binaries with a fresh cache dir.
"""

from __future__ import annotations

import base64
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml

from kymaprov.backends.base import ClusterAccess, ClusterShape
from kymaprov.backends.embedded import EmbeddedRuntimes
from kymaprov.config import Settings
from kymaprov.context import Context
from kymaprov.kubeapi.app import create_app
from kymaprov.kubeapi.controllers.manager import ControllerManager
from tests.support.server import KUBECTL_DIR, free_port


def kubectl_path(version: str) -> str:
    path = KUBECTL_DIR / f"kubectl.{version}"
    if not path.exists():
        pytest.skip(f"kubectl {version} is not installed")
    return str(path)


def ca_context(access: ClusterAccess) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=base64.b64decode(access.ca_data).decode())


class Kube:
    """An HTTPS client for one cluster that sends SNI ``tls_server_name`` and trusts only its CA."""

    def __init__(self, access: ClusterAccess, token: str | None = None) -> None:
        self.access = access
        headers = {"accept": "application/json"}
        bearer = access.token if token is None else token
        if bearer:
            headers["authorization"] = f"Bearer {bearer}"
        self.client = httpx.Client(
            base_url=access.server, verify=ca_context(access), headers=headers, timeout=10
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(
            method, path, extensions={"sni_hostname": self.access.tls_server_name}, **kwargs
        )

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, json=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.post(path, body)
        assert r.status_code == 201, r.text
        result: dict[str, Any] = r.json()
        return result

    def close(self) -> None:
        self.client.close()


class KubeServer:
    """Context, EmbeddedRuntimes and the app on one data dir, served by uvicorn in a thread, with the
    runtimes' controllers (garbage collector, namespace controller) running as ``kymaprov serve`` runs them."""

    def __init__(self, data_dir: Path, database_url: str | None = None) -> None:
        self.data_dir = data_dir
        self.kube_port = free_port()
        settings = Settings(
            data_dir=data_dir, port=free_port(), kube_port=self.kube_port, database_url=database_url
        )
        self.ctx = Context.open(settings)
        self.runtimes = EmbeddedRuntimes(self.ctx)
        self.controllers = ControllerManager(self.ctx, self.runtimes.authenticator, self.runtimes.admin_token)
        self.controllers.start()
        config = uvicorn.Config(
            create_app(self.ctx, self.runtimes.authenticator),
            host="127.0.0.1",
            port=self.kube_port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self.runtimes.configure_server(config)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the embedded Kubernetes API did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.controllers.stop()
        self.ctx.store.dispose()

    def cluster(self, name: str = "my-runtime", shape: ClusterShape | None = None) -> ClusterAccess:
        return self.runtimes.create_cluster(f"c-{uuid.uuid4().hex[:12]}", name, shape)


def write_kubeconfig(path: Path, access: ClusterAccess, token: str | None = None) -> Path:
    """A kubeconfig as the Provisioning Service hands out: CA data, SNI name, bearer token."""
    cluster: dict[str, Any] = {"server": access.server, "certificate-authority-data": access.ca_data}
    if access.tls_server_name:
        cluster["tls-server-name"] = access.tls_server_name
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": {"token": access.token if token is None else token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u", "namespace": "default"}}],
        "current-context": "c",
    }
    path.write_text(yaml.safe_dump(config))
    return path


class Kubectl:
    """Runs a versioned kubectl with its own kubeconfig and a fresh cache dir."""

    def __init__(self, tmp: Path, access: ClusterAccess, token: str | None = None, version: str = "1.30"):
        self.binary = kubectl_path(version)
        self.cache = tmp / f"kube-cache-{uuid.uuid4().hex[:8]}"
        self.kubeconfig = write_kubeconfig(tmp / f"kubeconfig-{uuid.uuid4().hex[:8]}", access, token)

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture(scope="session")
def kube_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeServer]:
    server = KubeServer(tmp_path_factory.mktemp("kube") / "data")
    yield server
    server.stop()


def root_cas_published(access: ClusterAccess, timeout: float = 30) -> None:
    """Wait for the root CA publisher's ``kube-root-ca.crt`` in every seeded namespace, so that a test's
    lists and watches see the cluster as a new real one is once its controllers have started."""
    from kymaprov.kubeapi.seed import NAMESPACE_NAMES

    client = Kube(access)
    deadline = time.monotonic() + timeout
    try:
        while True:
            r = client.get("/api/v1/configmaps", params={"fieldSelector": "metadata.name=kube-root-ca.crt"})
            if r.status_code == 200 and len(r.json()["items"]) == len(NAMESPACE_NAMES):
                return
            assert time.monotonic() < deadline, "kube-root-ca.crt was not published"
            time.sleep(0.02)
    finally:
        client.close()


def kyma_settled(admin: Kube, timeout: float = 30) -> None:
    """Wait until the Kyma CR is Ready: the default modules' Deployments rolled out, their pods run."""
    deadline = time.monotonic() + timeout
    while True:
        r = admin.get("/apis/operator.kyma-project.io/v1beta2/namespaces/kyma-system/kymas/default")
        if r.status_code == 200 and (r.json().get("status") or {}).get("state") == "Ready":
            return
        assert time.monotonic() < deadline, "Kyma did not become Ready"
        time.sleep(0.05)


@pytest.fixture
def access(kube_server: KubeServer) -> ClusterAccess:
    """A fresh cluster per test, its root CA ConfigMaps published."""
    made = kube_server.cluster()
    root_cas_published(made)
    return made


@pytest.fixture
def admin(access: ClusterAccess) -> Iterator[Kube]:
    client = Kube(access)
    yield client
    client.close()


def binding_token(admin: Kube, name: str = "kyma-binding-x", expiration: int = 600) -> str:
    """What KEB does for a Kyma binding: SA + ClusterRole + ClusterRoleBinding, then a TokenRequest."""
    labels = {"app.kubernetes.io/managed-by": "kcp-kyma-environment-broker"}
    admin.create(
        "/api/v1/namespaces/kyma-system/serviceaccounts",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "labels": labels}},
    )
    admin.create(
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name, "labels": labels},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
        },
    )
    admin.create(
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "kyma-system"}],
        },
    )
    reply = admin.create(
        f"/api/v1/namespaces/kyma-system/serviceaccounts/{name}/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": expiration},
        },
    )
    return str(reply["status"]["token"])
