"""Discovery and OpenAPI documents, generated from the resource registry.

Legacy (``APIVersions``, ``APIGroupList``, ``APIResourceList``) and aggregated (``apidiscovery.k8s.io``
v2 and v2beta1) discovery; OpenAPI v3 (root and per group-version) and v2 with the real 1.33 schemas.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from kymaprov.kubeapi import crds, schemas
from kymaprov.kubeapi.resources import BUILTIN, GROUP_VERSIONS, Registry, ResourceType, resources_of

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


def _api_group(registry: Registry, group: str) -> dict[str, Any]:
    versions = [
        {"groupVersion": _group_version(group, v), "version": v} for v in registry.group_versions[group]
    ]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list(registry: Registry = BUILTIN) -> dict[str, Any]:
    groups = [_api_group(registry, g) for g in registry.group_versions if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str, registry: Registry = BUILTIN) -> dict[str, Any] | None:
    if not group or group not in registry.group_versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_api_group(registry, group)}


def api_resource_list(group: str, version: str, registry: Registry = BUILTIN) -> dict[str, Any] | None:
    kinds = registry.resources_of(group, version)
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


def aggregated(core: bool, version: str = "v2", registry: Registry = BUILTIN) -> dict[str, Any]:
    """``APIGroupDiscoveryList`` for ``/api`` (core only) or ``/apis`` (every named group)."""
    items = []
    for group, versions in registry.group_versions.items():
        if bool(group) == core:
            continue
        items.append(
            {
                "metadata": {"name": group, "creationTimestamp": None},
                "versions": [
                    {
                        "version": v,
                        "resources": [_aggregated_resource(rt) for rt in registry.resources_of(group, v)],
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


# --- OpenAPI ----------------------------------------------------------------------------------------
#
# Both versions come from the 1.33 definitions (``schemas.definitions()``): JSON-Schema ``$defs`` become
# OpenAPI schemas (``#/$defs/X`` refs -> ``#/components/schemas/X`` or ``#/definitions/X``; the
# ``["string", "null"]`` unions collapse to ``"string"``; IntOrString and Quantity become the strings
# kube-apiserver publishes). Paths carry ``x-kubernetes-group-version-kind`` and
# ``x-kubernetes-action`` per operation, and PATCH its media types and ``fieldValidation``, which is
# what ``kubectl apply``/``create -f``/``explain`` read. Documents are built once and cached.

_PATCH_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
_META = "io.k8s.apimachinery.pkg.apis.meta.v1"
_ALWAYS = (f"{_META}.Status", f"{_META}.DeleteOptions", f"{_META}.Patch", f"{_META}.WatchEvent")
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


def _openapi_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _convert(schema: Any, ref_prefix: str, v3: bool) -> Any:
    """A JSON-Schema ``$defs`` entry as an OpenAPI (v3 or v2) schema."""
    if isinstance(schema, list):
        return [_convert(item, ref_prefix, v3) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$ref":
            continue
        if key == "type" and isinstance(value, list):
            kinds = [t for t in value if t != "null"]
            value = kinds[0] if len(kinds) == 1 else kinds
        if key == "enum" and schema.get("type") in (["string", "null"], "string") and len(value) == 1:
            continue  # kubernetes-validate pins apiVersion and kind; kube's documents do not
        if key == "oneOf":
            continue
        if key in ("properties", "patternProperties"):
            out[key] = {k: _convert(v, ref_prefix, v3) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "allOf", "anyOf", "not"):
            out[key] = _convert(value, ref_prefix, v3)
        else:
            out[key] = value
    if "oneOf" in schema:  # IntOrString and Quantity
        types = {t for option in schema["oneOf"] for t in (option.get("type") or ())} - {"null"}
        out["type"] = "string"
        if "integer" in types:
            out["format"] = "int-or-string"
            out["x-kubernetes-int-or-string"] = True
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = ref_prefix + ref.removeprefix(schemas.REF_PREFIX)
        if not out:
            return {"$ref": target}
        if v3:  # siblings of a $ref are ignored in OpenAPI 3.0: kube wraps it in allOf
            return {"allOf": [{"$ref": target}], **out}
        return {"$ref": target, **out}
    return out


def _closure(names: list[str]) -> list[str]:
    """The definitions ``names`` refer to, transitively, in a stable order."""
    defs = schemas.definitions()
    seen: dict[str, None] = {}
    stack = list(reversed(names))
    while stack:
        name = stack.pop()
        if name in seen or name not in defs:
            continue
        seen[name] = None
        text = json.dumps(defs[name])
        for part in text.split('"$ref": "' + schemas.REF_PREFIX)[1:]:
            stack.append(part.split('"', 1)[0])
    return sorted(seen)


def _kind_schemas(group: str, version: str) -> list[str]:
    names = []
    for rt in resources_of(group, version):
        for kind in (rt.kind, f"{rt.kind}List"):
            name = schemas.definition_name(rt.group, rt.version, kind)
            if name:
                names.append(name)
        for sub in rt.subresources:
            name = schemas.definition_name(
                rt.group if sub.group is None else sub.group,
                rt.version if sub.version is None else sub.version,
                sub.kind,
            )
            if name:
                names.append(name)
    return names


def _parameters(v3: bool, *names: str) -> list[dict[str, Any]]:
    params = []
    for name in names:
        typ = "boolean" if name in ("force", "watch", "allowWatchBookmarks") else "string"
        if name in ("limit", "timeoutSeconds", "gracePeriodSeconds"):
            typ = "integer"
        param: dict[str, Any] = {"name": name, "in": "query", "uniqueItems": True}
        if v3:
            param["schema"] = {"type": typ, "uniqueItems": True}
        else:
            param["type"] = typ
        params.append(param)
    return params


_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "pretty")
_LIST_PARAMS = (
    "allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "resourceVersion",
    "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch", "pretty",
)  # fmt: skip


def _operation(
    v3: bool,
    ref_prefix: str,
    action: str,
    gvk: dict[str, str],
    response: str,
    request: str | None,
    params: tuple[str, ...],
    op_id: str,
    patch_types: tuple[str, ...] = _PATCH_TYPES,
) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": op_id, "tags": [gvk["group"] or "core_" + gvk["version"]]}
    parameters = _parameters(v3, *params)
    code = "201" if action == "post" else "200"
    schema = {"$ref": ref_prefix + response}
    if request is not None:
        body_schema = {"$ref": ref_prefix + request}
        media = list(patch_types) if action == "patch" else ["*/*"]
        if v3:
            op["requestBody"] = {"content": {m: {"schema": body_schema} for m in media}, "required": True}
        else:
            parameters.insert(0, {"name": "body", "in": "body", "required": True, "schema": body_schema})
            op["consumes"] = media
    if v3:
        op["responses"] = {
            code: {"description": "OK", "content": {"application/json": {"schema": schema}}},
            "401": {"description": "Unauthorized"},
        }
    else:
        op["produces"] = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
        op["schemes"] = ["https"]
        op["responses"] = {
            code: {"description": "OK", "schema": schema},
            "401": {"description": "Unauthorized"},
        }
    if parameters:
        op["parameters"] = parameters
    op["x-kubernetes-action"] = action
    op["x-kubernetes-group-version-kind"] = gvk
    return op


def _paths(group: str, version: str, v3: bool, ref_prefix: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for rt in resources_of(group, version):
        paths.update(_resource_paths(rt, v3, ref_prefix))
    return paths


def _resource_paths(rt: ResourceType, v3: bool, ref_prefix: str) -> dict[str, Any]:
    """The operations of one resource and its subresources, as kube-apiserver's document lists them."""
    paths: dict[str, Any] = {}
    group, version = rt.group, rt.version
    prefix = "/" + _openapi_path(group, version)
    status = f"{_META}.Status"
    kind_def = _definition(rt, rt.kind)
    if kind_def is not None:
        list_def = _definition(rt, f"{rt.kind}List") or kind_def
        patch_types = _CUSTOM_PATCH_TYPES if rt.custom is not None else _PATCH_TYPES
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        base = (
            f"{prefix}/namespaces/{{namespace}}/{rt.resource}" if rt.namespaced else f"{prefix}/{rt.resource}"
        )
        name = rt.kind + ("Namespaced" if rt.namespaced else "")
        op_base = f"{_openapi_path(group, version).replace('/', '_').replace('.', '_')}_{name}"

        def op(action: str, response: str, request: str | None, params: tuple[str, ...], verb: str) -> Any:
            return _operation(
                v3, ref_prefix, action, gvk, response, request, params, f"{verb}{op_base}", patch_types
            )

        collection: dict[str, Any] = {}
        if "list" in rt.verbs:
            collection["get"] = op("list", list_def, None, _LIST_PARAMS, "list")
        if "create" in rt.verbs:
            collection["post"] = op("post", kind_def, kind_def, _WRITE_PARAMS, "create")
        if "deletecollection" in rt.verbs:
            collection["delete"] = op(
                "deletecollection", status, f"{_META}.DeleteOptions", _LIST_PARAMS, "deletecollection"
            )
        if collection:
            paths[base] = collection
        if rt.namespaced and "list" in rt.verbs:
            paths[f"{prefix}/{rt.resource}"] = {"get": op("list", list_def, None, _LIST_PARAMS, "listAll")}
        item: dict[str, Any] = {}
        if "get" in rt.verbs:
            item["get"] = op("get", kind_def, None, ("pretty",), "read")
        if "update" in rt.verbs:
            item["put"] = op("put", kind_def, kind_def, _WRITE_PARAMS, "replace")
        if "patch" in rt.verbs:
            item["patch"] = op("patch", kind_def, f"{_META}.Patch", (*_WRITE_PARAMS, "force"), "patch")
        if "delete" in rt.verbs:
            item["delete"] = op(
                "delete", status, f"{_META}.DeleteOptions", ("dryRun", "gracePeriodSeconds"), "delete"
            )
        if item:
            paths[f"{base}/{{name}}"] = item
        for sub in rt.subresources:
            sub_def = _definition(rt, sub.kind, sub.group, sub.version)
            if sub_def is None or sub.name not in ("status", "scale", "token"):
                continue
            title = sub.name.capitalize()
            entry: dict[str, Any] = {}
            if "get" in sub.verbs:
                entry["get"] = op("get", sub_def, None, ("pretty",), f"read{title}")
            if "update" in sub.verbs:
                entry["put"] = op("put", sub_def, sub_def, _WRITE_PARAMS, f"replace{title}")
            if "patch" in sub.verbs:
                entry["patch"] = op(
                    "patch", sub_def, f"{_META}.Patch", (*_WRITE_PARAMS, "force"), f"patch{title}"
                )
            if "create" in sub.verbs:
                entry["post"] = op("post", sub_def, sub_def, _WRITE_PARAMS, f"create{title}")
            paths[f"{base}/{{name}}/{sub.name}"] = entry
    return paths


_CUSTOM_PATCH_TYPES = tuple(t for t in _PATCH_TYPES if t != "application/strategic-merge-patch+json")


def _definition(
    rt: ResourceType, kind: str, group: str | None = None, version: str | None = None
) -> str | None:
    """The schema name of ``kind`` as served with ``rt`` (its own kind, its list, a subresource's)."""
    group = rt.group if group is None else group
    version = rt.version if version is None else version
    if rt.custom is not None and (group, version) == (rt.group, rt.version):
        if kind == f"{rt.kind}List":
            return crds.definition_name(rt, rt.custom.list_kind)
        return crds.definition_name(rt) if kind == rt.kind else None
    return schemas.definition_name(group, version, kind)


def _schemas(names: list[str], ref_prefix: str, v3: bool) -> dict[str, Any]:
    defs = schemas.definitions()
    return {name: _convert(defs[name], ref_prefix, v3) for name in _closure(names)}


@functools.cache
def openapi_document(group: str, version: str) -> dict[str, Any] | None:
    """``/openapi/v3/<api|apis/group>/<version>``: its paths and every schema they use."""
    if not resources_of(group, version):
        return None
    ref_prefix = "#/components/schemas/"
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
        "paths": _paths(group, version, True, ref_prefix),
        "components": {
            "schemas": _schemas([*_kind_schemas(group, version), *_ALWAYS], ref_prefix, True),
            "securitySchemes": {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"}},
        },
    }


@functools.cache
def openapi_bytes(group: str, version: str) -> bytes | None:
    """The v3 document serialised once; big documents are not re-encoded per request."""
    doc = openapi_document(group, version)
    return None if doc is None else json.dumps(doc, separators=(",", ":")).encode()


@functools.cache
def openapi_hash(group: str, version: str) -> str:
    data = openapi_bytes(group, version) or b""
    return hashlib.sha512(data).hexdigest()[:128].upper()


def openapi_root(registry: Registry = BUILTIN) -> dict[str, Any]:
    paths = {}
    for group, versions in registry.group_versions.items():
        for version in versions:
            path = _openapi_path(group, version)
            if group in GROUP_VERSIONS:
                digest = openapi_hash(group, version)
            else:
                data = custom_openapi_bytes(registry, group, version) or b""
                digest = hashlib.sha512(data).hexdigest()[:128].upper()
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}


def openapi_for(registry: Registry, group: str, version: str) -> bytes | None:
    """``/openapi/v3/<api|apis/group>/<version>`` of a runtime: built-in or of its CRDs."""
    if group in GROUP_VERSIONS:
        return openapi_bytes(group, version)
    return custom_openapi_bytes(registry, group, version)


_CUSTOM_ALWAYS = (*_ALWAYS, f"{_META}.ObjectMeta", f"{_META}.ListMeta")
_SCALE = "io.k8s.api.autoscaling.v1.Scale"
_custom_cache: dict[str, bytes] = {}
_CUSTOM_CACHE_SIZE = 256


def _custom_key(kinds: list[ResourceType]) -> str:
    return hashlib.sha256("|".join(rt.custom.fingerprint for rt in kinds if rt.custom).encode()).hexdigest()


def custom_openapi_bytes(registry: Registry, group: str, version: str) -> bytes | None:
    """A CRD group-version's v3 document, cached by the CRDs' content (identical CRDs share one)."""
    kinds = registry.custom_of(group, version)
    if not kinds:
        return None
    key = _custom_key(kinds)
    cached = _custom_cache.get(key)
    if cached is not None:
        return cached
    ref_prefix = "#/components/schemas/"
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {}
    names = list(_CUSTOM_ALWAYS)
    for rt in kinds:
        paths.update(_resource_paths(rt, True, ref_prefix))
        components.update(crds.openapi_definitions(rt, ref_prefix, True))
        if rt.subresource("scale") is not None:
            names.append(_SCALE)
    components.update(_schemas(names, ref_prefix, True))
    document = {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"}},
        },
    }
    data = json.dumps(document, separators=(",", ":")).encode()
    if len(_custom_cache) >= _CUSTOM_CACHE_SIZE:
        _custom_cache.clear()
    _custom_cache[key] = data
    return data


def openapi_v2_with_custom(registry: Registry) -> dict[str, Any]:
    """``/openapi/v2`` of a runtime with CRDs: the built-in document plus its custom resources."""
    base = openapi_v2_document()
    if not registry.custom:
        return base
    ref_prefix = "#/definitions/"
    paths = dict(base["paths"])
    definitions = dict(base["definitions"])
    for rt in registry.custom:
        paths.update(_resource_paths(rt, False, ref_prefix))
        definitions.update(crds.openapi_definitions(rt, ref_prefix, False))
    return {**base, "paths": paths, "definitions": dict(sorted(definitions.items()))}


@functools.cache
def openapi_v2_document() -> dict[str, Any]:
    """``/openapi/v2``: Swagger 2.0 with every served path and ``definitions``.

    Exposed for the protobuf encoder (``openapi_v2_proto.encode``) that kubectl's requests need.
    """
    ref_prefix = "#/definitions/"
    paths: dict[str, Any] = {}
    names: list[str] = list(_ALWAYS)
    for group, versions in GROUP_VERSIONS.items():
        for version in versions:
            paths.update(_paths(group, version, False, ref_prefix))
            names += _kind_schemas(group, version)
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
        "paths": paths,
        "definitions": _schemas(names, ref_prefix, False),
        "securityDefinitions": {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"}},
        "security": [{"BearerToken": []}],
    }


@functools.cache
def openapi_v2_bytes() -> bytes:
    return json.dumps(openapi_v2_document(), separators=(",", ":")).encode()
