"""Talks to a runtime's Kubernetes API over HTTPS, exactly as it would to a real cluster (an embedded
runtime of this process through ``ClusterAccess.loopback``: the same requests, no socket or HTTP).

Only what the service needs: create (tolerating AlreadyExists), delete (tolerating NotFound), get,
update, merge patch, list by label and TokenRequest. Trust is the cluster's own CA;
``tls_server_name`` is sent as SNI and verified.
"""

from __future__ import annotations

import base64
import ssl
import tempfile
from pathlib import Path
from typing import Any

import httpx
import orjson

from kymaprov.backends.base import ClusterAccess
from kymaprov.lru import DEFAULT_SIZE, LRU


class KubeClientError(Exception):
    """A Kubernetes API call failed; ``status`` is the HTTP status or 0 for a connection error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message


def _load_client_certificate(context: ssl.SSLContext, cert_data: str, key_data: str) -> None:
    """``ssl`` loads a certificate chain only from files: a private temporary directory, removed at once."""
    with tempfile.TemporaryDirectory(prefix="kymaprov-cert-") as tmp:
        cert, key = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
        cert.write_bytes(base64.b64decode(cert_data))
        key.write_bytes(base64.b64decode(key_data))
        try:
            context.load_cert_chain(cert, key)
        except (ssl.SSLError, ValueError) as exc:
            raise KubeClientError(0, f"unusable client certificate: {type(exc).__name__}") from exc


_JSON = "application/json"
# client-go's form, as KEB's client sends it: objects the service makes name ``kyma-environment-broker``
# as their field manager, as on a real runtime
USER_AGENT = "kyma-environment-broker/kymaprov"


class KubeClient:
    def __init__(self, access: ClusterAccess, timeout: float = 10.0) -> None:
        self._token = access.token
        self._loopback = access.loopback
        if self._loopback is not None:  # an embedded runtime of this process: called directly
            return
        try:
            context = ssl.create_default_context(cadata=base64.b64decode(access.ca_data).decode())
        except (ssl.SSLError, ValueError) as exc:  # a CA that cannot be used fails like a call would
            raise KubeClientError(0, f"unusable certificate authority: {type(exc).__name__}") from exc
        if access.client_cert_data and access.client_key_data:
            _load_client_certificate(context, access.client_cert_data, access.client_key_data)
        self._extensions = {"sni_hostname": access.tls_server_name} if access.tls_server_name else {}
        headers = {"accept": _JSON, "user-agent": USER_AGENT}
        if access.token:
            headers["authorization"] = f"Bearer {access.token}"
        self._client = httpx.Client(
            base_url=access.service_url.rstrip("/"), verify=context, timeout=timeout, headers=headers
        )

    def close(self) -> None:
        if self._loopback is None:
            self._client.close()

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        content_type: str = _JSON,
        query: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """The status and the decoded body (JSON, else text). Bodies are encoded with orjson, not httpx's
        ``json=`` (the standard library's encoder): several times cheaper."""
        content = b"" if body is None else orjson.dumps(body)
        kind = "" if body is None else content_type
        if self._loopback is not None:
            return self._loopback.call((method, path, query or {}), self._token, content, kind, USER_AGENT)
        try:
            response = self._client.request(
                method,
                path,
                params=query,
                content=content or None,
                headers={"content-type": kind} if kind else None,
                extensions=self._extensions,
            )
        except httpx.HTTPError as exc:
            raise KubeClientError(0, f"{type(exc).__name__}: {exc}") from exc
        try:
            return response.status_code, orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return response.status_code, response.text

    @staticmethod
    def _object(status: int, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise KubeClientError(status, f"not a JSON object: {str(data)[:200]}")
        return data

    @staticmethod
    def _fail(status: int, data: Any) -> KubeClientError:
        message = data.get("message", data) if isinstance(data, dict) else data
        return KubeClientError(status, str(message))

    def create(self, path: str, body: dict[str, Any], *, exist_ok: bool = True) -> dict[str, Any]:
        status, data = self._request("POST", path, body)
        if status == 409 and exist_ok:
            return body
        if status not in (200, 201, 202):
            raise self._fail(status, data)
        return self._object(status, data)

    def delete(self, path: str, *, missing_ok: bool = True) -> None:
        status, data = self._request("DELETE", path)
        if status == 404 and missing_ok:
            return
        if status not in (200, 202):
            raise self._fail(status, data)

    def get(self, path: str) -> dict[str, Any]:
        status, data = self._request("GET", path)
        if status != 200:
            raise self._fail(status, data)
        return self._object(status, data)

    def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """An update; a stale ``metadata.resourceVersion`` in ``body`` fails with 409."""
        status, data = self._request("PUT", path, body)
        if status != 200:
            raise self._fail(status, data)
        return self._object(status, data)

    def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        status, data = self._request("PATCH", path, patch, "application/merge-patch+json")
        if status != 200:
            raise self._fail(status, data)
        return self._object(status, data)

    def list(self, path: str, label_selector: str = "") -> list[dict[str, Any]]:
        """The items of a collection matching ``label_selector`` (no paging: binding objects are few)."""
        query = {"labelSelector": label_selector} if label_selector else None
        status, data = self._request("GET", path, query=query)
        if status != 200:
            raise self._fail(status, data)
        items: list[dict[str, Any]] = self._object(status, data).get("items") or []
        return items

    def request_token(self, namespace: str, service_account: str, expiration_seconds: int) -> dict[str, Any]:
        """TokenRequest; returns its ``status`` (``token`` and ``expirationTimestamp``)."""
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": expiration_seconds},
        }
        result = self.create(
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token", body, exist_ok=False
        )
        status: dict[str, Any] = result.get("status") or {}
        if not status.get("token"):
            raise KubeClientError(500, "no token in TokenRequest response")
        return status


class KubeClients:
    """One keep-alive ``KubeClient`` per runtime, the least recently used dropped beyond ``size``.

    A binding makes seven calls to its runtime; a client each would mean an SSL context and a TLS
    handshake each. A runtime's client is replaced when its access (address, CA, token) changes.
    A dropped client is not closed, since another thread may be using it: its connections close when
    the last user lets it go.
    """

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._clients: LRU[str, tuple[ClusterAccess, KubeClient]] = LRU(size)

    def __len__(self) -> int:
        return len(self._clients)

    def get(self, access: ClusterAccess) -> KubeClient:
        held = self._clients.get(access.service_url)
        if held is not None and held[0] == access:
            return held[1]
        client = KubeClient(access)
        self._clients.put(access.service_url, (access, client))
        return client
