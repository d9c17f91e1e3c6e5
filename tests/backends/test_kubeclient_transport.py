"""``KubeClient``'s own transport against a real TLS server: kept-alive connections, an idle one the
server dropped, and an answer that is not JSON (a proxy's error page), which must be a
``KubeClientError`` like any failed call, not a decoding exception escaping as a 500."""

from __future__ import annotations

import base64
import ssl
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kymaprov.backends.base import ClusterAccess
from kymaprov.backends.kubeclient import KubeClient, KubeClientError
from kymaprov.crypto import issue_ca, issue_server_cert


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: set[int] = set()  # the clients' source ports: one per TCP connection

    def do_GET(self) -> None:
        Handler.connections.add(self.client_address[1])
        body = b"<html>bad gateway</html>" if self.path.endswith("/html") else b'{"kind": "Namespace"}'
        self.send_response(200)
        self.send_header("content-type", "text/html" if self.path.endswith("/html") else "application/json")
        self.send_header("content-length", str(len(body)))
        if self.path.endswith("/close"):
            self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def access() -> Iterator[ClusterAccess]:
    ca = issue_ca("cluster-ca")
    serving = issue_server_cert(ca, ["localhost"], ["127.0.0.1"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "c").write_text(serving.cert_pem)
        Path(tmp, "k").write_text(serving.key_pem)
        context.load_cert_chain(Path(tmp, "c"), Path(tmp, "k"))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    Handler.connections = set()
    try:
        yield ClusterAccess(
            server=f"https://127.0.0.1:{httpd.server_address[1]}/clusters/c1",
            ca_data=base64.b64encode(ca.cert_pem.encode()).decode(),
            token="t",
        )
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_an_answer_that_is_not_json_is_a_client_error(access: ClusterAccess) -> None:
    with KubeClient(access) as kube, pytest.raises(KubeClientError) as failed:
        kube.get("/api/v1/html")
    assert failed.value.status == 200
    assert "bad gateway" in failed.value.message


def test_calls_share_a_kept_alive_connection_and_survive_one_closed(access: ClusterAccess) -> None:
    with KubeClient(access) as kube:
        for _ in range(3):
            assert kube.get("/api/v1/namespaces/a") == {"kind": "Namespace"}
        assert len(Handler.connections) == 1
        assert kube.get("/api/v1/close") == {"kind": "Namespace"}  # the server closes this one
        assert kube.get("/api/v1/namespaces/a") == {"kind": "Namespace"}
        assert len(Handler.connections) == 2
