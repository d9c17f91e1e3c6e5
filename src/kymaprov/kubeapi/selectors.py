"""Label and field selectors, parsed as ``apimachinery/pkg/labels`` and ``fields`` parse them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kymaprov.kubeapi.errors import BadRequest

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[-A-Za-z0-9_.]*"
_EXISTS = re.compile(rf"^(!?)\s*({_KEY})$")
_SET = re.compile(rf"^({_KEY})\s+(in|notin)\s*\((.*)\)$")
_EQUALITY = re.compile(rf"^({_KEY})\s*(==|=|!=)\s*({_VALUE})$")
_NUMERIC = re.compile(rf"^({_KEY})\s*(<|>)\s*(-?\d+)$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # exists, !exists, =, !=, in, notin, <, >
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, Any]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        try:
            number = int(str(value))
        except ValueError:
            return False
        limit = int(self.values[0])
        return present and (number < limit if self.op == "<" else number > limit)


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def parse_label_selector(text: str | None) -> list[Requirement]:
    if not text or not text.strip():
        return []
    requirements = []
    for part in _split_top_level(text):
        if m := _SET.match(part):
            values = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            requirements.append(Requirement(m.group(1), m.group(2), values))
        elif m := _EQUALITY.match(part):
            op = "=" if m.group(2) == "==" else m.group(2)
            requirements.append(Requirement(m.group(1), op, (m.group(3),)))
        elif m := _NUMERIC.match(part):
            requirements.append(Requirement(m.group(1), m.group(2), (m.group(3),)))
        elif m := _EXISTS.match(part):
            requirements.append(Requirement(m.group(2), "!exists" if m.group(1) else "exists"))
        else:
            raise BadRequest(f"unable to parse requirement: found '{part}', expected: selector requirement")
    return requirements


def from_map(labels: Any) -> list[Requirement]:
    """A Service's or ReplicationController's selector (a plain map of equalities)."""
    if not isinstance(labels, dict):
        return []
    return [Requirement(str(k), "=", (str(v),)) for k, v in sorted(labels.items())]


_SELECTOR_OPS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}


def from_label_selector(selector: Any) -> list[Requirement] | None:
    """A ``metav1.LabelSelector`` (``matchLabels`` and ``matchExpressions``) as requirements; None for
    a selector that matches nothing (null, or an operator kube would refuse), as
    ``LabelSelectorAsSelector`` treats them."""
    if not isinstance(selector, dict):
        return None
    requirements = from_map(selector.get("matchLabels") or {})
    for expression in selector.get("matchExpressions") or []:
        if not isinstance(expression, dict):
            return None
        op = _SELECTOR_OPS.get(str(expression.get("operator")))
        if op is None:
            return None
        values = tuple(str(v) for v in expression.get("values") or [])
        requirements.append(Requirement(str(expression.get("key", "")), op, values))
    return requirements


def labels_match(requirements: list[Requirement], obj: dict[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(r.matches(labels) for r in requirements)


# --- field selectors ------------------------------------------------------------------------------

_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
_EXTRA_FIELDS: dict[str, tuple[str, ...]] = {
    "pods": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "namespaces": ("status.phase",),
    "secrets": ("type",),
    "events": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
}


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    equal: bool
    value: str

    def matches(self, obj: dict[str, Any]) -> bool:
        actual = field_value(obj, self.field)
        return (actual == self.value) == self.equal


def field_value(obj: dict[str, Any], field: str) -> str:
    node: Any = obj
    if field == "source":
        node = (obj.get("source") or {}).get("component")
    else:
        for part in field.split("."):
            node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def parse_field_selector(text: str | None, resource: str) -> list[FieldRequirement]:
    if not text or not text.strip():
        return []
    allowed = _COMMON_FIELDS + _EXTRA_FIELDS.get(resource, ())
    requirements = []
    for part in _split_top_level(text):
        for op, equal in (("!=", False), ("==", True), ("=", True)):
            if op in part:
                field, _, value = part.partition(op)
                requirements.append(FieldRequirement(field.strip(), equal, value.strip()))
                break
        else:
            raise BadRequest(f"invalid selector: '{text}'; can't understand '{part}'")
        if requirements[-1].field not in allowed:
            raise BadRequest(f"field label not supported: {requirements[-1].field}")
    return requirements


def fields_match(requirements: list[FieldRequirement], obj: dict[str, Any]) -> bool:
    return all(r.matches(obj) for r in requirements)


Matcher = Callable[[dict[str, Any]], bool]


def matcher(label_selector: str | None, field_selector: str | None, resource: str) -> Matcher | None:
    """One predicate for both selectors, None when they select everything (a list then need not
    parse its objects); raises BadRequest on a malformed selector."""
    labels = parse_label_selector(label_selector)
    fields = parse_field_selector(field_selector, resource)
    if not labels and not fields:
        return None
    return lambda obj: labels_match(labels, obj) and fields_match(fields, obj)
