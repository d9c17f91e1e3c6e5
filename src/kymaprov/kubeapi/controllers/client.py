"""An in-process Kubernetes client: requests go through ``KubeApi.handle`` (authentication, RBAC,
admission, validation, the change log) exactly as a request over HTTPS would, without the socket."""

from __future__ import annotations

import json
from typing import Any

from kymaprov.kubeapi.app import KubeApi, KubeRequest, KubeResponse

JSON = "application/json"
USER_AGENT = "kube-controller-manager/kymaprov"  # field manager ``kube-controller-manager``, as kube's
MERGE_PATCH = "application/merge-patch+json"


class ApiError(Exception):
    """A request the API refused: its status code and Status ``reason``."""

    def __init__(self, code: int, body: Any) -> None:
        self.code = code
        self.reason = body.get("reason", "") if isinstance(body, dict) else ""
        message = body.get("message", "") if isinstance(body, dict) else str(body)
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
        self.api = api
        self.cluster_id = cluster_id
        self.token = token

    def request(self, method: str, path: str, body: Any = None, content_type: str = JSON) -> dict[str, Any]:
        raw = b"" if body is None else json.dumps(body).encode()
        result = self.api.handle(
            KubeRequest(
                cluster_id=self.cluster_id,
                method=method,
                path=path,
                query={},
                accept=JSON,
                content_type=content_type if body is not None else "",
                token=self.token,
                body=raw,
                user_agent=USER_AGENT,
            )
        )
        if not isinstance(result, KubeResponse):  # a watch: never asked for
            raise ApiError(400, {"message": "unexpected watch"})
        if not 200 <= result.status < 300:
            raise ApiError(result.status, result.body)
        return result.body if isinstance(result.body, dict) else {}

    def get(self, path: str) -> dict[str, Any]:
        return self.request("GET", path)

    def delete(self, path: str, uid: str, policy: str) -> dict[str, Any]:
        """DELETE with a UID precondition (never another object of the same name) and a policy."""
        options = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": policy,
            "preconditions": {"uid": uid},
        }
        return self.request("DELETE", path, options)

    def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.request("PATCH", path, patch, MERGE_PATCH)

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", path, body)

    def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("PUT", path, body)
