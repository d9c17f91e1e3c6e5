"""Decoding request bodies into values that are safe to process, store and serve back.

YAML anchors and aliases let a few hundred bytes describe gigabytes ("billion laughs"), so YAML is
composed into its node graph first (aliases are shared nodes there, nothing is expanded yet) and its
expanded size is computed with memoisation. A document is refused, as go-yaml v2 (kube-apiserver's
YAML decoder) refuses it, when aliases make up too much of it, and whatever the format, a decoded
body larger than ``MAX_DECODED_BYTES`` is refused, so a small body never becomes a huge object.
Every decoded value then passes ``strictjson.check``: what is stored can always be served as JSON.
"""

from __future__ import annotations

from typing import Any

import yaml

from kymaprov import strictjson
from kymaprov.kubeapi.errors import BadRequest, RequestEntityTooLarge, Unprocessable

MAX_DECODED_BYTES = 3 * 1024 * 1024  # kube-apiserver's request body limit; etcd stores at most 1.5 MiB

_SATURATED = 1 << 62  # expanded sizes beyond this are all "too large"; keeps the sums small integers
ALIASING = "yaml: document contains excessive aliasing"


def _allowed_alias_ratio(decoded: int) -> float:
    """go-yaml v2 ``allowedAliasRatio``: 99% of a small document may come from aliases, 10% of a huge one."""
    low, high = 400_000, 4_000_000
    if decoded <= low:
        return 0.99
    if decoded >= high:
        return 0.10
    return 0.99 - 0.89 * (decoded - low) / (high - low)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return []


def _expansion(root: yaml.Node) -> tuple[int, int, int]:
    """(expanded node count, distinct node count, expanded JSON bytes, roughly) of a node graph.

    Iterative post-order walk with memoisation by node identity, so shared (aliased) nodes are
    measured once however often they are used; a node that contains itself is refused.
    """
    counts: dict[int, tuple[int, int]] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            open_nodes.discard(key)
            count, size = 1, 2 + len(children)  # brackets and separators (":" or ",")
            if isinstance(node, yaml.ScalarNode):
                size = len(node.value) + 2
            for child in children:
                child_count, child_size = counts[id(child)]
                count, size = min(count + child_count, _SATURATED), min(size + child_size, _SATURATED)
            counts[key] = (count, size)
            continue
        if key in counts:
            continue
        if key in open_nodes:
            raise BadRequest("error converting YAML to JSON: yaml: an anchor's value contains itself")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in counts)
    expanded, size = counts[id(root)]
    return expanded, len(counts), size


class _Loader(yaml.SafeLoader):
    """YAML as sigs.k8s.io/yaml turns it into JSON: timestamps stay strings, scalar keys become strings."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = super().construct_mapping(node, deep)
        return {_json_key(key): value for key, value in mapping.items()}

    def construct_timestamp(self, node: yaml.ScalarNode) -> str:
        return str(self.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_timestamp)


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return {float("inf"): ".inf", float("-inf"): "-.inf"}.get(key, ".nan" if key != key else repr(key))
    raise BadRequest(
        f"error converting YAML to JSON: unsupported map key of type: {type(key).__name__}, key: {key!r}"
    )


def load_yaml(raw: bytes) -> Any:
    """One YAML document, alias expansion bounded, converted to JSON values; 400 otherwise."""
    loader = _Loader(raw)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded, distinct, size = _expansion(node)
        aliased = expanded - distinct
        if aliased > 100 and expanded > 1000 and aliased / expanded > _allowed_alias_ratio(expanded):
            raise BadRequest(f"error converting YAML to JSON: {ALIASING}")
        if aliased and size > MAX_DECODED_BYTES:
            raise BadRequest(f"error converting YAML to JSON: {ALIASING}")
        value = loader.construct_document(node)
    except (yaml.YAMLError, RecursionError, ValueError) as exc:  # ValueError: an int of over 4300 digits
        raise BadRequest(f"error converting YAML to JSON: {exc}") from exc
    finally:
        loader.dispose()
    return value


def checked(value: Any) -> Any:
    """``value`` if it is valid JSON for every client and at most ``MAX_DECODED_BYTES`` once encoded."""
    try:
        strictjson.check(value, allow_nul=True)
    except strictjson.InvalidJSON as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from exc
    _bounded(value, "the decoded body")
    return value


def checked_result(value: Any) -> Any:
    """``checked`` for a patched object: a valid patch may still build what no body may be (a 422)."""
    try:
        strictjson.check(value, allow_nul=True)
    except strictjson.InvalidJSON as exc:
        raise Unprocessable(f"the patched object is not valid JSON: {exc}") from exc
    _bounded(value, "the patched object")
    return value


def _bounded(value: Any, what: str) -> None:
    if encoded_size(value, MAX_DECODED_BYTES) > MAX_DECODED_BYTES:
        raise RequestEntityTooLarge(f"Request entity too large: {what} exceeds {MAX_DECODED_BYTES} bytes")


def encoded_size(value: Any, limit: int) -> int:
    """A lower bound of the size of ``value`` as compact JSON, counted only until it exceeds ``limit``.

    A lower bound, so a JSON body within the request limit is never refused by it.
    """
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, dict):
            total += 1 + max(len(item), 1)
            for key, child in item.items():
                total += len(key) + 3
                stack.append(child)
        elif isinstance(item, list):
            total += 1 + max(len(item), 1)
            stack.extend(item)
        else:
            total += 1
    return total


def go_type(value: Any) -> str:
    """The JSON type Go's decoder names in its messages (``cannot unmarshal <type> into ...``)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "null"
