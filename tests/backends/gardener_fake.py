"""A garden cluster for tests: an embedded runtime with a ``Shoot`` CRD, a fake Gardener that acts on
Shoots only through the garden's Kubernetes API, and a TLS proxy in front of the garden.

The proxy forwards every request to the garden except what Gardener's own API server does and a CRD
cannot: ``POST .../shoots/<name>/adminkubeconfig`` (answered with the shoot runtime's kubeconfig) and
the ``ShootDeletionConfirmation`` admission check (a Shoot's DELETE without
``confirmation.gardener.cloud/deletion: "true"`` is refused, as Gardener refuses it).
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from kymaprov.backends.base import ClusterAccess
from kymaprov.backends.kubeclient import KubeClient, KubeClientError
from kymaprov.crypto import issue_ca, issue_server_cert
from tests.support.server import RunningServer

SHOOTS = "/apis/core.gardener.cloud/v1beta1/namespaces/{namespace}/shoots"
SHOOT_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "shoots.core.gardener.cloud"},
    "spec": {
        "group": "core.gardener.cloud",
        "scope": "Namespaced",
        "names": {"plural": "shoots", "singular": "shoot", "kind": "Shoot", "listKind": "ShootList"},
        "versions": [
            {
                "name": "v1beta1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}
CREATE_MINUTES = 4  # a create takes four service-clock minutes, 25 % each
DELETE_MINUTES = 2
FAILED = "Infrastructure creation failed: the VPC quota of region eu-central-1 is exhausted"


class FakeGardener:
    """Gardener's part, driven by kymaprov's service clock (its offset, which only tests move).

    A new Shoot gets the ``gardener`` finalizer and a ``Create`` operation; a spec change (a newer
    ``metadata.generation``) a ``Reconcile``; a deletion a ``Delete`` that removes the finalizer at the
    end. Progress advances a step per service-clock minute. Shoots whose runtime name is in ``failing``
    err after a minute (``Error``: Gardener retries) and fail their create after two.
    """

    def __init__(self, garden: ClusterAccess, namespace: str, service: RunningServer) -> None:
        self.kube = KubeClient(garden)
        self.shoots = SHOOTS.format(namespace=namespace)
        self.service = service
        self.failing: set[str] = set()
        self.started: dict[tuple[str, str], float] = {}  # (shoot, operation) -> clock offset at its start
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fake-gardener", daemon=True)

    def start(self) -> FakeGardener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.kube.close()

    def _offset(self) -> float:
        return float(self.service.admin("GET", "/admin/clock")["offsetSeconds"])

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            try:
                offset = self._offset()
                for shoot in self.kube.list(self.shoots):
                    self._reconcile(shoot, offset)
            except (KubeClientError, httpx.HTTPError) as exc:  # a conflict or a restart: next pass
                self.errors.append(str(exc))

    def _set_status(self, shoot: dict[str, Any], status: dict[str, Any]) -> None:
        name = shoot["metadata"]["name"]
        patch = {"status": status}
        self.kube.merge_patch(f"{self.shoots}/{name}/status", patch)

    def _reconcile(self, shoot: dict[str, Any], offset: float) -> None:
        meta, status = shoot["metadata"], shoot.get("status") or {}
        name = meta["name"]
        operation = status.get("lastOperation") or {}
        if "gardener" not in (meta.get("finalizers") or []) and not meta.get("deletionTimestamp"):
            finalizers = [*(meta.get("finalizers") or []), "gardener"]
            self.kube.merge_patch(f"{self.shoots}/{name}", {"metadata": {"finalizers": finalizers}})
            return
        if meta.get("deletionTimestamp"):
            if operation.get("type") != "Delete":
                self.started[(name, "Delete")] = offset
                self._set_status(shoot, {"lastOperation": _operation("Delete", "Processing", 0)})
                return
            minutes = int((offset - self.started[(name, "Delete")]) // 60)
            if minutes >= DELETE_MINUTES:
                self.kube.merge_patch(f"{self.shoots}/{name}", {"metadata": {"finalizers": None}})
            elif operation.get("progress") != 100 * minutes // DELETE_MINUTES:
                progress = 100 * minutes // DELETE_MINUTES
                self._set_status(shoot, {"lastOperation": _operation("Delete", "Processing", progress)})
            return
        generation = int(meta.get("generation") or 1)
        if int(status.get("observedGeneration") or 0) < generation:
            kind = "Reconcile" if operation else "Create"
            self.started[(name, kind)] = offset
            new = {"observedGeneration": generation, "lastOperation": _operation(kind, "Processing", 0)}
            self._set_status(shoot, new)
            return
        kind = str(operation.get("type"))
        if operation.get("state") not in ("Processing", "Error") or (name, kind) not in self.started:
            return
        minutes = int((offset - self.started[(name, kind)]) // 60)
        runtime = (meta.get("annotations") or {}).get("kymaprov.io/runtime-name")
        if kind == "Create" and runtime in self.failing and minutes >= 1:
            # an error Gardener retries for a minute, then gives up
            state = "Error" if minutes == 1 else "Failed"
            if operation.get("state") != state:
                errors = [{"description": FAILED, "codes": ["ERR_INFRA_QUOTA_EXCEEDED"], "taskID": "infra"}]
                failed = {**_operation(kind, state, 25), "description": "Flow failed"}
                self._set_status(shoot, {"lastOperation": failed, "lastErrors": errors})
            return
        total = CREATE_MINUTES if kind == "Create" else 1
        progress = min(100, 100 * minutes // total)
        if progress != operation.get("progress"):
            state = "Succeeded" if progress == 100 else "Processing"
            self._set_status(shoot, {"lastOperation": _operation(kind, state, progress)})


def _operation(kind: str, state: str, progress: int) -> dict[str, Any]:
    descriptions = {
        "Processing": f"{kind} in progress: waiting for the worker nodes",
        "Succeeded": "Shoot cluster has been successfully reconciled.",
    }
    return {
        "type": kind,
        "state": state,
        "progress": progress,
        "description": descriptions.get(state, ""),
        "lastUpdateTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


class GardenProxy:
    """HTTPS in front of the garden runtime, with Gardener's subresource and admission check."""

    def __init__(self, garden: ClusterAccess, shoot_kubeconfig: str) -> None:
        self.garden = garden
        self.shoot_kubeconfig = shoot_kubeconfig
        self.admin_requests: list[dict[str, Any]] = []
        self.deletions: list[tuple[str, dict[str, str]]] = []  # (shoot, its annotations at DELETE)
        ca = issue_ca("garden proxy")
        serving = issue_server_cert(ca, ["localhost"], ["127.0.0.1"])
        self.ca_data = base64.b64encode(ca.cert_pem.encode()).decode()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
            cert.write_text(serving.cert_pem)
            key.write_text(serving.key_pem)
            context.load_cert_chain(cert, key)
        upstream = ssl.create_default_context(cadata=base64.b64decode(garden.ca_data).decode())
        self.client = httpx.Client(base_url=garden.service_url, verify=upstream, timeout=30)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self._thread = threading.Thread(target=self.server.serve_forever, name="garden-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    def kubeconfig(self, token: str) -> str:
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "garden",
                "clusters": [
                    {
                        "name": "garden",
                        "cluster": {"server": self.url, "certificate-authority-data": self.ca_data},
                    }
                ],
                "contexts": [{"name": "garden", "context": {"cluster": "garden", "user": "robot"}}],
                "users": [{"name": "robot", "user": {"token": token}}],
            }
        )

    def start(self) -> GardenProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.client.close()

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> httpx.Response:
        kept = {k: v for k, v in headers.items() if k.lower() in ("authorization", "content-type", "accept")}
        return self.client.request(
            method,
            path,
            content=body or None,
            headers=kept,
            extensions={"sni_hostname": self.garden.tls_server_name} if self.garden.tls_server_name else {},
        )

    def admin_kubeconfig(self, body: bytes) -> tuple[int, dict[str, Any]]:
        request = json.loads(body)
        self.admin_requests.append(request)
        seconds = int(request.get("spec", {}).get("expirationSeconds") or 3600)
        expires = datetime.now(UTC) + timedelta(seconds=seconds)
        answer = {
            **request,
            "status": {
                "kubeconfig": base64.b64encode(self.shoot_kubeconfig.encode()).decode(),
                "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        }
        return 201, answer

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = dict(self.headers.items())
                parts = self.path.split("?")[0].rstrip("/").split("/")
                is_shoot = len(parts) == 8 and parts[1:3] == ["apis", "core.gardener.cloud"]
                is_shoot = is_shoot and parts[6] == "shoots"
                if self.command == "POST" and len(parts) == 9 and parts[-1] == "adminkubeconfig":
                    shoot = proxy.forward("GET", "/".join(parts[:-1]), headers, b"")
                    if shoot.status_code != 200:
                        self._answer(shoot.status_code, shoot.content)
                        return
                    status, answer = proxy.admin_kubeconfig(body)
                    self._answer(status, json.dumps(answer).encode())
                    return
                if self.command == "DELETE" and is_shoot:
                    current = proxy.forward("GET", self.path, headers, b"")
                    if current.status_code == 200:
                        annotations = current.json()["metadata"].get("annotations") or {}
                        proxy.deletions.append((parts[-1], dict(annotations)))
                        if annotations.get("confirmation.gardener.cloud/deletion") != "true":
                            message = (
                                'admission webhook "ShootDeletionConfirmation" denied the request: '
                                'must have a "confirmation.gardener.cloud/deletion" annotation to delete'
                            )
                            refusal = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403}
                            self._answer(403, json.dumps({**refusal, "message": message}).encode())
                            return
                response = proxy.forward(self.command, self.path, headers, body)
                kind = response.headers.get("content-type", "application/json")
                self._answer(response.status_code, response.content, kind)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        return Handler
