"""Discovery and OpenAPI documents, generated from the resource registry.

Legacy (``APIVersions``, ``APIGroupList``, ``APIResourceList``) and aggregated (``apidiscovery.k8s.io``
v2 and v2beta1) discovery; a minimal OpenAPI v3 whose PATCH operations advertise ``fieldValidation``,
which is all ``kubectl apply``/``create -f`` validation needs for built-in kinds. No schemas are
published: kubectl then computes apply patches from its compiled-in types, which is what we want.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kymaprov.runtime.resources import GROUP_VERSIONS, ResourceType, resources_of

VERSION_INFO = {
    "major": "1",
    "minor": "33",
    "emulationMajor": "1",
    "emulationMinor": "33",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "32",
    "gitVersion": "v1.33.0",
    "gitCommit": "60a317eadfcb839692a68eab88b2096f4d708f4f",
    "gitTreeState": "clean",
    "buildDate": "2025-04-23T13:00:00Z",
    "goVersion": "go1.24.2",
    "compiler": "gc",
    "platform": "linux/amd64",
}

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


def _group_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": GROUP_VERSIONS[""],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _api_group(group: str) -> dict[str, Any]:
    versions = [{"groupVersion": _group_version(group, v), "version": v} for v in GROUP_VERSIONS[group]]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list() -> dict[str, Any]:
    groups = [_api_group(g) for g in GROUP_VERSIONS if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> dict[str, Any] | None:
    if not group or group not in GROUP_VERSIONS:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_api_group(group)}


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    kinds = resources_of(group, version)
    if not kinds:
        return None
    resources: list[dict[str, Any]] = []
    for rt in kinds:
        entry: dict[str, Any] = {
            "name": rt.resource,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(rt.verbs),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        entry["storageVersionHash"] = _storage_hash(rt)
        resources.append(entry)
        for sub in rt.subresources:
            item: dict[str, Any] = {
                "name": f"{rt.resource}/{sub.name}",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": sub.kind,
                "verbs": list(sub.verbs),
            }
            if sub.group is not None:
                item["group"], item["version"] = sub.group, sub.version
            resources.append(item)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": _group_version(group, version),
        "resources": resources,
    }


def _storage_hash(rt: ResourceType) -> str:
    return hashlib.sha256(f"{rt.api_version}/{rt.kind}".encode()).digest()[:8].hex()[:11]


def _aggregated_resource(rt: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": rt.resource,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    if rt.subresources:
        entry["subresources"] = [
            {
                "subresource": sub.name,
                "responseKind": {
                    "group": rt.group if sub.group is None else sub.group,
                    "version": rt.version if sub.version is None else sub.version,
                    "kind": sub.kind,
                },
                "verbs": list(sub.verbs),
            }
            for sub in rt.subresources
        ]
    return entry


def aggregated(core: bool, version: str = "v2") -> dict[str, Any]:
    """``APIGroupDiscoveryList`` for ``/api`` (core only) or ``/apis`` (every named group)."""
    items = []
    for group, versions in GROUP_VERSIONS.items():
        if bool(group) == core:
            continue
        items.append(
            {
                "metadata": {"name": group, "creationTimestamp": None},
                "versions": [
                    {
                        "version": v,
                        "resources": [_aggregated_resource(rt) for rt in resources_of(group, v)],
                        "freshness": "Current",
                    }
                    for v in versions
                ],
            }
        )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{version}",
        "metadata": {},
        "items": items,
    }


def wants_aggregated(accept: str) -> str | None:
    """The aggregated Content-Type to answer with, in the client's order of preference, or None."""
    for media in accept.split(","):
        parts = [p.strip() for p in media.split(";")]
        params = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        if parts[0] != "application/json" or params.get("g") != "apidiscovery.k8s.io":
            continue
        if params.get("as") != "APIGroupDiscoveryList":
            continue
        if params.get("v") == "v2":
            return AGGREGATED_V2
        if params.get("v") == "v2beta1":
            return AGGREGATED_V2BETA1
    return None


# --- OpenAPI v3 -----------------------------------------------------------------------------------

_PATCH_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)


def _openapi_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def openapi_document(group: str, version: str) -> dict[str, Any] | None:
    kinds = resources_of(group, version)
    if not kinds:
        return None
    paths: dict[str, Any] = {}
    prefix = "/" + _openapi_path(group, version)
    for rt in kinds:
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        base = (
            f"{prefix}/namespaces/{{namespace}}/{rt.resource}" if rt.namespaced else f"{prefix}/{rt.resource}"
        )
        ref = {"type": "object"}
        params = [
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
        ]
        ops: dict[str, Any] = {"x-kubernetes-group-version-kind": gvk, "parameters": params}
        response = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
        paths[base] = {
            "post": {
                **ops,
                "x-kubernetes-action": "post",
                "requestBody": {"content": {"*/*": {"schema": ref}}},
                "responses": response,
            }
        }
        if "patch" in rt.verbs:
            paths[f"{base}/{{name}}"] = {
                "patch": {
                    **ops,
                    "x-kubernetes-action": "patch",
                    "parameters": [*params, {"name": "force", "in": "query", "schema": {"type": "boolean"}}],
                    "requestBody": {"content": {t: {"schema": {"type": "object"}} for t in _PATCH_TYPES}},
                    "responses": response,
                },
                "put": {
                    **ops,
                    "x-kubernetes-action": "put",
                    "requestBody": {"content": {"*/*": {"schema": ref}}},
                    "responses": response,
                },
            }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
        "paths": paths,
        "components": {"schemas": {}},
    }


def openapi_hash(group: str, version: str) -> str:
    doc = openapi_document(group, version)
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:64].upper()


def openapi_root() -> dict[str, Any]:
    paths = {}
    for group, versions in GROUP_VERSIONS.items():
        for version in versions:
            path = _openapi_path(group, version)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={openapi_hash(group, version)}"}
    return {"paths": paths}
