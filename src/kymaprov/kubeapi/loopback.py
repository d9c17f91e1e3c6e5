"""An httpx transport that hands a request to ``KubeApi`` in this process instead of a socket.

The embedded runtimes are served by the same process as the Provisioning Service, so the service's
``KubeClient`` reaches them through this transport: the same requests, bearer token, authentication,
RBAC, admission, storage and replies as through the HTTPS listener, without the TLS and HTTP framing of
both ends of a call that never leaves the process (most of a binding's cost: issue 8). Real clusters
and pool members are still called over HTTPS. Watches and followed logs are not served here; the
service makes neither.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from kymaprov.kubeapi.app import MAX_REQUEST_BYTES, KubeApi, KubeRequest, KubeResponse, WatchStream, render
from kymaprov.kubeapi.errors import NotAcceptable, NotFound, RequestEntityTooLarge


class LoopbackTransport(httpx.BaseTransport):
    """Serves ``/clusters/<id>/<path>`` URLs (any scheme and host) with ``api``, in the calling thread."""

    def __init__(self, api: KubeApi) -> None:
        self.api = api

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        reply = render(self._handle(request))
        return httpx.Response(reply.status_code, headers=reply.raw_headers, content=bytes(reply.body))

    def _handle(self, request: httpx.Request) -> KubeResponse:
        _, clusters, cluster_id, path = [*request.url.path.split("/", 3), "", ""][:4]
        if clusters != "clusters" or not cluster_id:
            return KubeResponse(404, NotFound.path().status())
        body = request.read()
        if len(body) > MAX_REQUEST_BYTES:
            too_large = RequestEntityTooLarge(f"Request entity too large: limit is {MAX_REQUEST_BYTES}")
            return KubeResponse(413, too_large.status())
        headers = request.headers
        scheme, _, token = headers.get("authorization", "").partition(" ")
        result = self.api.handle(
            KubeRequest(
                cluster_id=cluster_id,
                method=request.method,
                path="/" + path,
                query=dict(request.url.params.multi_items()),  # the last of repeated keys, as Starlette
                accept=headers.get("accept", ""),
                content_type=headers.get("content-type", ""),
                token=token.strip() if scheme.lower() == "bearer" and token.strip() else None,
                body=body,
                impersonate_user=headers.get("impersonate-user", ""),
                impersonate_groups=tuple(headers.get_list("impersonate-group")),
                impersonate_uid=headers.get("impersonate-uid", ""),
                user_agent=headers.get("user-agent", ""),
                text_lists=True,
            )
        )
        if isinstance(result, WatchStream) or isinstance(result.body, Iterator):
            return KubeResponse(406, NotAcceptable("streams are served over HTTPS only").status())
        return result
