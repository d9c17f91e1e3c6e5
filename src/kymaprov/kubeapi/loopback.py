"""One embedded cluster's Kubernetes API, called in this process (``ClusterAccess.loopback``).

The embedded runtimes are served by the same process as the Provisioning Service, so the service's
``KubeClient`` calls them here instead of through the HTTPS listener, as the runtimes' own controllers
do (``controllers/client.py`` is built on it): the same requests, bearer token, authentication, RBAC,
admission, storage and change log, without TLS, HTTP framing and JSON rendering at both ends of a call
that never leaves the process (most of a binding's cost before: issue 8). Real clusters and pool members are
called over HTTPS. Watches and followed logs are not served here; the service makes neither.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from kymaprov.kubeapi.app import JSON, KubeApi, KubeRequest, KubeResponse, WatchStream


class Loopback:
    def __init__(self, api: KubeApi, cluster_id: str) -> None:
        self.api = api
        self.cluster_id = cluster_id

    def call(
        self,
        request: tuple[str, str, dict[str, str]],
        token: str,
        body: bytes,
        content_type: str,
        user_agent: str,
    ) -> tuple[int, Any]:
        """``(method, path, query)`` within the cluster; the status and the decoded JSON body."""
        method, path, query = request
        result = self.api.handle(
            KubeRequest(
                cluster_id=self.cluster_id,
                method=method,
                path=path,
                query=query,
                accept=JSON,
                content_type=content_type,
                token=token or None,
                body=body,
                user_agent=user_agent,
            )
        )
        if isinstance(result, WatchStream) or isinstance(result.body, Iterator):
            return 406, {"kind": "Status", "message": "streams are served over HTTPS only"}
        return result.status, _decoded(result)


def _decoded(result: KubeResponse) -> Any:
    """The body as a client would parse it: JSON bodies are dicts already; text stays text."""
    body = result.body
    if isinstance(body, str | bytes):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            return body.decode(errors="replace") if isinstance(body, bytes) else body
    return body
