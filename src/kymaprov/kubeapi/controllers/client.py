"""An in-process Kubernetes client: requests go through ``KubeApi.handle`` (``loopback.py``:
authentication, RBAC, admission, validation, the change log) exactly as a request over HTTPS would,
without the socket."""

from __future__ import annotations

import json
from typing import Any

from kymaprov.kubeapi.app import KubeApi
from kymaprov.kubeapi.loopback import Loopback

JSON = "application/json"
USER_AGENT = "kube-controller-manager/kymaprov"  # field manager ``kube-controller-manager``, as kube's
MERGE_PATCH = "application/merge-patch+json"


class ApiError(Exception):
    """A request the API refused: its status code and Status ``reason``."""

    def __init__(self, code: int, body: Any) -> None:
        self.code = code
        self.reason = body.get("reason", "") if isinstance(body, dict) else ""
        message = body.get("message", "") if isinstance(body, dict) else str(body)
        self.message = str(message)
        super().__init__(f"{code} {self.reason}: {message}")


def object_path(api_version: str, resource: str, namespace: str, name: str, sub: str = "") -> str:
    """The URL path of an object (``/api/v1/...`` for the core group, ``/apis/<group>/...`` else)."""
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"{base}{scope}/{resource}/{name}" + (f"/{sub}" if sub else "")


def collection_path(api_version: str, resource: str, namespace: str) -> str:
    """The URL path of a collection (where a create goes)."""
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"{base}{scope}/{resource}"


class ApiClient:
    """Calls one cluster's API as its admin; raises ``ApiError`` for any answer but 2xx."""

    def __init__(self, api: KubeApi, cluster_id: str, token: str) -> None:
        self.cluster_id = cluster_id
        self.token = token
        self._api = Loopback(api, cluster_id)

    def request(self, method: str, path: str, body: Any = None, content_type: str = JSON) -> dict[str, Any]:
        raw = b"" if body is None else json.dumps(body).encode()
        status, answer = self._api.call(
            (method, path, {}), self.token, raw, content_type if body is not None else "", USER_AGENT
        )
        if not 200 <= status < 300:
            raise ApiError(status, answer)
        return answer if isinstance(answer, dict) else {}

    def get(self, path: str) -> dict[str, Any]:
        return self.request("GET", path)

    def delete(self, path: str, uid: str, policy: str, grace_seconds: int | None = None) -> dict[str, Any]:
        """DELETE with a UID precondition (never another object of the same name), a policy and, if
        given, a grace period (0: a forced delete, which no kubelet has to confirm)."""
        options: dict[str, Any] = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": policy,
            "preconditions": {"uid": uid},
        }
        if grace_seconds is not None:
            options["gracePeriodSeconds"] = grace_seconds
        return self.request("DELETE", path, options)

    def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.request("PATCH", path, patch, MERGE_PATCH)

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", path, body)

    def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("PUT", path, body)
