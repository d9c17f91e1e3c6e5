"""Turn a method, path and query into Kubernetes request attributes (``endpoints/request/requestinfo.go``).

The result drives both authorization (RBAC attributes, including the quirk that
``/api/v1/namespaces/foo`` is in namespace ``foo``) and dispatch.
"""

from __future__ import annotations

from dataclasses import dataclass

from kymaprov.kubeapi.rbac import Attributes

_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class RequestInfo:
    path: str  # within the cluster, starting with "/"
    verb: str
    resource_request: bool = False
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    parts: tuple[str, ...] = ()  # what followed the group-version (namespace steps removed)

    def attributes(self) -> Attributes:
        return Attributes(
            verb=self.verb,
            resource_request=self.resource_request,
            namespace=self.namespace,
            api_group=self.api_group,
            api_version=self.api_version,
            resource=self.resource,
            subresource=self.subresource,
            name=self.name,
            path=self.path,
        )


def _true(value: str | None) -> bool:
    return value in ("1", "t", "T", "TRUE", "true", "True")


def _exact_name(selector: str) -> str:
    """The name a field selector pins (``metadata.name=x`` alone), which RBAC may match on."""
    key, _, value = selector.partition("=")
    value = value.removeprefix("=")
    if key.strip() != "metadata.name" or "," in value or not value or "/" in value:
        return ""
    return value.strip()


def parse(method: str, path: str, query: dict[str, str]) -> RequestInfo:
    path = "/" + path.strip("/") if path.strip("/") else "/"
    segments = [s for s in path.split("/") if s]
    non_resource = RequestInfo(path=path, verb=method.lower() if method != "HEAD" else "get")
    if not segments or segments[0] not in ("api", "apis"):
        return non_resource
    if segments[0] == "api":
        if len(segments) < 2:
            return non_resource
        group, version, current = "", segments[1], segments[2:]
    else:
        if len(segments) < 3:
            return non_resource
        group, version, current = segments[1], segments[2], segments[3:]
    if not current:
        return non_resource
    verb = _VERBS.get(method, method.lower())
    if current[0] == "watch":  # deprecated /watch/ prefix
        verb, current = "watch", current[1:]
        if not current:
            return non_resource
    namespace = ""
    if current[0] == "namespaces" and len(current) > 1:
        namespace = current[1]
        if len(current) > 2 and current[2] not in _NAMESPACE_SUBRESOURCES:
            current = current[2:]
    resource = current[0]
    name = current[1] if len(current) >= 2 else ""
    subresource = current[2] if len(current) >= 3 else ""
    if not name and verb == "get":
        verb = "watch" if _true(query.get("watch")) else "list"
        name = _exact_name(query.get("fieldSelector", ""))
    if not name and verb == "delete":
        verb = "deletecollection"
    return RequestInfo(
        path=path,
        verb=verb,
        resource_request=True,
        api_group=group,
        api_version=version,
        namespace=namespace,
        resource=resource,
        subresource=subresource,
        name=name,
        parts=tuple(current),
    )
