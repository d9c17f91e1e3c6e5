"""``KubeClient`` with a kubeconfig's client certificate (kind's and k3d's admin kubeconfigs use one),
against a real TLS server that requires and verifies client certificates."""

from __future__ import annotations

import base64
import datetime as dt
import json
import ssl
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kymaprov.backends.base import ClusterAccess
from kymaprov.backends.kubeclient import KubeClient, KubeClientError
from kymaprov.crypto import CertPair, issue_ca, issue_server_cert


def client_cert(ca: CertPair, user: str) -> CertPair:
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.encode())
    ca_key = serialization.load_pem_private_key(ca.key_pem.encode(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return CertPair(cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode())


class Echo(BaseHTTPRequestHandler):
    """Answers who the client certificate says the caller is, and any Authorization header it sent."""

    def do_GET(self) -> None:
        peer = self.connection.getpeercert()
        subject = dict(pair[0] for pair in peer["subject"])
        body = json.dumps({"user": subject["commonName"], "authorization": self.headers.get("authorization")})
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, CertPair]]:
    ca = issue_ca("cluster-ca")
    serving = issue_server_cert(ca, ["localhost"], ["127.0.0.1"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "c").write_text(serving.cert_pem)
        Path(tmp, "k").write_text(serving.key_pem)
        context.load_cert_chain(Path(tmp, "c"), Path(tmp, "k"))
    context.load_verify_locations(cadata=ca.cert_pem)
    context.verify_mode = ssl.CERT_REQUIRED
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}", ca
    finally:
        httpd.shutdown()
        httpd.server_close()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_client_certificate_authenticates_without_a_token(server: tuple[str, CertPair]) -> None:
    url, ca = server
    admin = client_cert(ca, "kubernetes-admin")
    access = ClusterAccess(
        server=url,
        ca_data=b64(ca.cert_pem),
        token="",
        client_cert_data=b64(admin.cert_pem),
        client_key_data=b64(admin.key_pem),
    )
    with KubeClient(access) as kube:
        assert kube.get("/api") == {"user": "kubernetes-admin", "authorization": None}


def test_without_the_certificate_the_server_refuses_the_connection(server: tuple[str, CertPair]) -> None:
    url, ca = server
    access = ClusterAccess(server=url, ca_data=b64(ca.cert_pem), token="t")
    with KubeClient(access) as kube, pytest.raises(KubeClientError) as refused:
        kube.get("/api")
    assert refused.value.status == 0
