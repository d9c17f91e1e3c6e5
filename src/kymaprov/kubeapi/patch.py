"""The three PATCH flavours Kubernetes accepts: JSON merge patch, JSON patch and strategic merge.

Strategic merge covers what kubectl and the Python client send for built-in kinds: lists merged by
their merge key (containers by ``name``, container ports by ``containerPort`` ...), ``null`` deletes,
``$patch: replace|delete|merge``, ``$setElementOrder``, ``$deleteFromPrimitiveList`` and ``$retainKeys``.
Merge keys come from a small table instead of the OpenAPI schema.
"""

from __future__ import annotations

import copy
from typing import Any

from kymaprov.kubeapi import bodies
from kymaprov.kubeapi.errors import BadRequest, Unprocessable

MAX_COPY_BYTES = bodies.MAX_DECODED_BYTES  # kube-apiserver's JSONPatchMaxCopyBytes (3 MiB)

_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "secrets": "name",  # ServiceAccount.secrets
}
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_PRIMITIVE_MERGE_LISTS = ("finalizers",)


def merge_key(path: list[str]) -> str | None:
    """The merge key of the list at ``path`` (field names from the root), if it is merged by key."""
    field = path[-1]
    if field == "ports":
        return "containerPort" if any(p in _CONTAINER_LISTS for p in path[:-1]) else "port"
    return _MERGE_KEYS.get(field)


# --- RFC 7386 merge patch -------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- RFC 6902 JSON patch --------------------------------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise BadRequest(f"invalid JSON pointer: {path!r}")
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], path: str) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        node = _child(node, part, path)
    return node, parts[-1]


def _child(node: Any, part: str, path: str) -> Any:
    if isinstance(node, dict):
        if part not in node:
            raise Unprocessable(f'doc is missing path: "{path}": missing value')
        return node[part]
    if isinstance(node, list):
        index = _index(node, part, path, allow_end=False)
        return node[index]
    raise Unprocessable(f'doc is missing path: "{path}": missing value')


def _index(node: list[Any], part: str, path: str, *, allow_end: bool) -> int:
    if part == "-" and allow_end:
        return len(node)
    if not part.isdigit():
        raise Unprocessable(f'invalid array index in path "{path}"')
    index = int(part)
    if index > len(node) or (index == len(node) and not allow_end):
        raise Unprocessable(f'array index out of bounds in path "{path}"')
    return index


def _get(doc: Any, path: str) -> Any:
    node = doc
    for part in _pointer(path):
        node = _child(node, part, path)
    return node


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        raise Unprocessable("cannot remove the whole document")
    parent, last = _parent(doc, parts, path)
    if isinstance(parent, dict):
        if last not in parent:
            raise Unprocessable(f'doc is missing path: "{path}": missing value')
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, path, allow_end=False))
    raise Unprocessable(f'doc is missing path: "{path}": missing value')


def _add(doc: Any, path: str, value: Any, *, replace: bool = False) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent, last = _parent(doc, parts, path)
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise Unprocessable(f'doc is missing key: "{path}": missing value')
        parent[last] = value
    elif isinstance(parent, list):
        if replace:
            parent[_index(parent, last, path, allow_end=False)] = value
        else:
            parent.insert(_index(parent, last, path, allow_end=True), value)
    else:
        raise Unprocessable(f'doc is missing path: "{path}": missing value')
    return doc


def json_patch(target: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise BadRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(target)
    copied = 0
    for op in ops:
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            raise BadRequest("invalid JSON patch operation")
        kind = op["op"]
        path = op.get("path")
        if not isinstance(path, str):
            raise BadRequest(f'missing or invalid "path" in "{kind}" operation')
        if kind in ("add", "replace", "test") and "value" not in op:
            raise BadRequest(f'missing value for "{kind}" operation')
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "replace":
            doc = _add(doc, path, copy.deepcopy(op["value"]), replace=True)
        elif kind == "remove":
            _remove(doc, path)
        elif kind in ("move", "copy"):
            source = op.get("from")
            if not isinstance(source, str):
                raise BadRequest(f'missing or invalid "from" in "{kind}" operation')
            if kind == "move":
                value = _remove(doc, source)
            else:  # copies can double a document per operation: bounded as JSONPatchMaxCopyBytes does
                value = _get(doc, source)
                copied += bodies.encoded_size(value, MAX_COPY_BYTES)
                if copied > MAX_COPY_BYTES:
                    raise Unprocessable(
                        f"Unable to complete the copy, the accumulated size increase of copy is {copied}, "
                        f"exceeding the limit {MAX_COPY_BYTES}"
                    )
                value = copy.deepcopy(value)
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op["value"]:
                raise Unprocessable(f"testing value {path} failed: test failed")
        else:
            raise BadRequest(f"Unexpected kind: {kind}")
    return doc


# --- strategic merge patch ------------------------------------------------------------------------

_DIRECTIVE = "$patch"
_RETAIN = "$retainKeys"
_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


def strategic_merge(original: Any, patch: Any, path: list[str] | None = None) -> Any:
    """Apply a strategic merge patch to ``original`` (a dict); returns a new object."""
    if not isinstance(patch, dict):
        raise BadRequest("strategic merge patch must be a JSON object")
    return _merge_map(copy.deepcopy(original) if isinstance(original, dict) else {}, patch, path or [])


def _merge_map(original: dict[str, Any], patch: dict[str, Any], path: list[str]) -> Any:
    directive = patch.get(_DIRECTIVE)
    if directive == "replace":
        return _strip_directives({k: v for k, v in patch.items() if k != _DIRECTIVE})
    if directive == "delete":
        return None
    if directive not in (None, "merge"):
        raise BadRequest(f"Unknown patch type: {directive}")
    retain = patch.get(_RETAIN)
    orders: dict[str, Any] = {}
    for key, value in patch.items():
        if key in (_DIRECTIVE, _RETAIN):
            continue
        if key.startswith(_ORDER):
            orders[key[len(_ORDER) :]] = value
            continue
        if key.startswith(_DELETE_PRIMITIVE):
            field = key[len(_DELETE_PRIMITIVE) :]
            current = original.get(field)
            if isinstance(current, list) and isinstance(value, list):
                original[field] = [item for item in current if item not in value]
            continue
        if value is None:
            original.pop(key, None)
            continue
        current = original.get(key)
        if isinstance(value, dict):
            merged = _merge_map(current if isinstance(current, dict) else {}, value, [*path, key])
            if merged is None:
                original.pop(key, None)
            else:
                original[key] = merged
        elif isinstance(value, list):
            original[key] = _merge_list(current if isinstance(current, list) else [], value, [*path, key])
        else:
            original[key] = value
    for field, order in orders.items():
        if isinstance(original.get(field), list) and isinstance(order, list):
            original[field] = _reorder(original[field], order, merge_key([*path, field]))
    if isinstance(retain, list):
        for key in [k for k in original if k not in retain]:
            del original[key]
    return original


def _merge_list(original: list[Any], patch: list[Any], path: list[str]) -> list[Any]:
    key = merge_key(path)
    if key is None:
        if path[-1] in _PRIMITIVE_MERGE_LISTS:
            return original + [item for item in patch if item not in original]
        return [_strip_directives(item) for item in patch if not _is_directive_item(item)]
    if any(isinstance(i, dict) and i.get(_DIRECTIVE) == "replace" for i in patch):
        return [_strip_directives(i) for i in patch if not _is_directive_item(i)]
    result = list(original)
    for item in patch:
        if not isinstance(item, dict):
            raise BadRequest(f"the list {'.'.join(path)} must contain objects merged by {key!r}")
        if key not in item:
            raise BadRequest(f"map: {item} does not contain declared merge key: {key}")
        index = next(
            (i for i, o in enumerate(result) if isinstance(o, dict) and o.get(key) == item[key]), None
        )
        if item.get(_DIRECTIVE) == "delete":
            if index is not None:
                del result[index]
            continue
        if index is None:
            result.append(_strip_directives(item))
        else:
            merged = _merge_map(result[index], item, path)
            if merged is None:
                del result[index]
            else:
                result[index] = merged
    return result


def _reorder(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    def ident(item: Any) -> Any:
        return item.get(key) if key and isinstance(item, dict) else item

    wanted = [o.get(key) if key and isinstance(o, dict) else o for o in order]
    position = {json_key: i for i, json_key in enumerate(map(repr, wanted))}
    return sorted(items, key=lambda item: position.get(repr(ident(item)), len(position)))


def _is_directive_item(item: Any) -> bool:
    return isinstance(item, dict) and _DIRECTIVE in item and len(item) == 1


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if k not in (_DIRECTIVE, _RETAIN) and not k.startswith((_ORDER, _DELETE_PRIMITIVE))
        }
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value
