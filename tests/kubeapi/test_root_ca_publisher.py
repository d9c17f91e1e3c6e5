"""The root CA publisher against a real server: every Active namespace has ``kube-root-ca.crt``, kept
as kube-controller-manager keeps it (recreated, reverted), and its ``ca.crt`` verifies the runtime."""

from __future__ import annotations

import socket
import ssl
import time
from typing import Any

from kymaprov.backends.base import ClusterAccess
from kymaprov.kubeapi.seed import NAMESPACE_NAMES
from tests.kubeapi.conftest import Kube, KubeServer
from tests.kubeapi.test_lifecycle import cm, wait

DESCRIPTION = "kubernetes.io/description"


def root_ca_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps/kube-root-ca.crt"


def published(admin: Kube, namespace: str) -> dict[str, Any]:
    """The ConfigMap once the controller has made it (within a few seconds)."""
    found: dict[str, Any] = {}

    def check() -> bool:
        r = admin.get(root_ca_path(namespace))
        if r.status_code == 200:
            found.update(r.json())
        return r.status_code == 200

    wait(f"kube-root-ca.crt in {namespace}", check, timeout=5)
    return found


def namespace(admin: Kube, name: str) -> None:
    admin.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def test_new_namespace_gets_the_root_ca(admin: Kube) -> None:
    namespace(admin, "team-a")
    ca = published(admin, "team-a")
    assert ca["data"]["ca.crt"].startswith("-----BEGIN CERTIFICATE-----\n")
    assert list(ca["data"]) == ["ca.crt"]
    assert ca["metadata"]["annotations"][DESCRIPTION].startswith("Contains a CA bundle that can be used")
    assert {m["manager"] for m in ca["metadata"]["managedFields"]} == {"kube-controller-manager"}


def test_seeded_namespaces_get_it(admin: Kube) -> None:
    pems = {published(admin, ns)["data"]["ca.crt"] for ns in NAMESPACE_NAMES}
    assert len(pems) == 1


def test_deleted_is_recreated(admin: Kube) -> None:
    before = published(admin, "default")
    r = admin.delete(root_ca_path("default"))
    assert r.status_code == 200, r.text

    def recreated() -> bool:
        return admin.get(root_ca_path("default")).json().get("metadata", {}).get("uid") not in (
            None,
            before["metadata"]["uid"],
        )

    wait("kube-root-ca.crt recreated", recreated, timeout=5)
    assert published(admin, "default")["data"] == before["data"]


def test_edited_data_is_reverted_and_other_metadata_kept(admin: Kube) -> None:
    before = published(admin, "default")
    patch = {"data": {"ca.crt": "not a CA", "extra": "x"}, "metadata": {"labels": {"mine": "yes"}}}
    r = admin.request(
        "PATCH",
        root_ca_path("default"),
        json=patch,
        headers={"content-type": "application/merge-patch+json"},
    )
    assert r.status_code == 200, r.text

    def reverted() -> bool:
        return bool(admin.get(root_ca_path("default")).json()["data"] == before["data"])

    wait("kube-root-ca.crt reverted", reverted, timeout=5)
    after = admin.get(root_ca_path("default")).json()
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"]["labels"] == {"mine": "yes"}


def test_removed_description_is_put_back(admin: Kube) -> None:
    published(admin, "default")
    r = admin.request(
        "PATCH",
        root_ca_path("default"),
        json={"metadata": {"annotations": {DESCRIPTION: None}}},
        headers={"content-type": "application/merge-patch+json"},
    )
    assert r.status_code == 200, r.text

    def back() -> bool:
        return DESCRIPTION in (admin.get(root_ca_path("default")).json()["metadata"].get("annotations") or {})

    wait("the description put back", back, timeout=5)


def test_ca_verifies_the_runtimes_serving_certificate(
    kube_server: KubeServer, admin: Kube, access: ClusterAccess
) -> None:
    pem = published(admin, "default")["data"]["ca.crt"]
    context = ssl.create_default_context(cadata=pem)
    raw = socket.create_connection(("127.0.0.1", kube_server.kube_port), timeout=5)
    with context.wrap_socket(raw, server_hostname=access.tls_server_name) as tls:  # verifies, or raises
        assert tls.version() is not None
    # and only this runtime's: another runtime's certificate does not verify with it
    other = kube_server.cluster()
    with socket.create_connection(("127.0.0.1", kube_server.kube_port), timeout=5) as raw:
        try:
            context.wrap_socket(raw, server_hostname=other.tls_server_name).close()
        except ssl.SSLCertVerificationError:
            pass
        else:
            raise AssertionError("another runtime's certificate verified")


def test_terminating_namespace_does_not_get_it_back(admin: Kube) -> None:
    namespace(admin, "going")
    published(admin, "going")
    admin.create("/api/v1/namespaces/going/configmaps", cm("held", finalizers=["example.com/hold"]))
    assert admin.delete("/api/v1/namespaces/going").status_code == 200
    wait("kube-root-ca.crt deleted", lambda: admin.get(root_ca_path("going")).status_code == 404)
    # the namespace stays Terminating (held by the finalizer); passes go on (a write wakes them)
    admin.create("/api/v1/namespaces/default/configmaps", cm("wake-up"))
    time.sleep(1)
    r = admin.get("/api/v1/namespaces/going")
    assert r.json()["status"]["phase"] == "Terminating"
    assert admin.get(root_ca_path("going")).status_code == 404
