"""Field validators shared by the strategies, with kube-apiserver's messages (``apimachinery``'s
``validation`` package and ``pkg/apis/*/validation``). Each returns causes ``(field, reason, message)``
for ``errors.Invalid``; strategies aggregate them as the real validators do."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

Cause = tuple[str, str, str]

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS_1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)

# name rule -> (pattern, message, length limit); "path" only refuses what cannot be a path segment
NAME_RULES: dict[str, tuple[re.Pattern[str] | None, str, int]] = {
    "subdomain": (DNS_SUBDOMAIN, SUBDOMAIN_MSG, 253),
    "label": (DNS_LABEL, LABEL_MSG, 63),
    "dns1035": (DNS_1035, DNS_1035_MSG, 63),
    "path": (None, "", 253),
}


def name_causes(rule: str, name: str, field: str = "metadata.name") -> list[Cause]:
    pattern, message, limit = NAME_RULES[rule]
    causes: list[Cause] = []
    if pattern is None:  # a path segment; NUL and the length are refused because no row holds them
        if name in (".", "..") or "/" in name or "%" in name:
            causes.append(
                (field, "FieldValueInvalid", f"Invalid value: \"{name}\": may not contain '/' or '%'")
            )
        if "\x00" in name:
            causes.append((field, "FieldValueInvalid", f'Invalid value: "{name}": may not contain NUL'))
    if len(name) > limit:
        causes.append(
            (field, "FieldValueInvalid", f'Invalid value: "{name}": must be no more than {limit} characters')
        )
    if pattern is not None and not pattern.fullmatch(name):
        causes.append((field, "FieldValueInvalid", f'Invalid value: "{name}": {message}'))
    return causes


def go_value(value: Any) -> str:
    """A value as Go's ``%#v`` roughly prints it in ``Invalid value:`` messages."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}:{go_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(go_value(v) for v in value) + "]"
    return str(value)


def go_map(labels: dict[str, Any]) -> str:
    return "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items())) + "}"


def label_selector_text(selector: Any) -> str:
    if not isinstance(selector, dict):
        return "nil"
    labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions")
    exprs = "[]v1.LabelSelectorRequirement(nil)" if not expressions else go_value(expressions)
    match = go_map(labels) if labels else "map[string]string(nil)"
    return f"v1.LabelSelector{{MatchLabels:{match}, MatchExpressions:{exprs}}}"


def immutable(field: str, value_text: str) -> Cause:
    return (field, "FieldValueInvalid", f"Invalid value: {value_text}: field is immutable")


def containers(spec: Any, prefix: str) -> list[Cause]:
    """``ValidatePodSpec``'s container checks clients hit most: required, names as DNS-1123 labels,
    unique names, an image, and ports in range."""
    if not isinstance(spec, dict):
        return [(prefix, "FieldValueRequired", "Required value")]
    items = spec.get("containers")
    if not isinstance(items, list) or not items:
        return [(f"{prefix}.containers", "FieldValueRequired", "Required value")]
    causes: list[Cause] = []
    seen: set[str] = set()
    for group in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(group) or []):
            path = f"{prefix}.{group}[{i}]"
            if not isinstance(container, dict):
                continue
            name = container.get("name")
            if not name:
                causes.append((f"{path}.name", "FieldValueRequired", "Required value"))
            elif not isinstance(name, str):
                pass
            elif name in seen:
                causes.append((f"{path}.name", "FieldValueDuplicate", f'Duplicate value: "{name}"'))
            else:
                seen.add(name)
                causes += name_causes("label", name, f"{path}.name")
            if not container.get("image"):
                causes.append((f"{path}.image", "FieldValueRequired", "Required value"))
            for j, port in enumerate(container.get("ports") or []):
                number = port.get("containerPort") if isinstance(port, dict) else None
                if isinstance(number, int) and not 1 <= number <= 65535:
                    causes.append(
                        (
                            f"{path}.ports[{j}].containerPort",
                            "FieldValueInvalid",
                            f"Invalid value: {number}: must be between 1 and 65535, inclusive",
                        )
                    )
    return causes


def pod_template(spec: dict[str, Any], prefix: str = "spec") -> list[Cause]:
    """A workload's ``selector`` and ``template``: containers, and the selector must match the labels."""
    causes: list[Cause] = []
    replicas = spec.get("replicas", 1)
    if isinstance(replicas, int) and replicas < 0:
        causes.append(
            (
                f"{prefix}.replicas",
                "FieldValueInvalid",
                f"Invalid value: {replicas}: must be greater than or equal to 0",
            )
        )
    selector = spec.get("selector")
    empty = not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    )
    if empty:
        causes.append((f"{prefix}.selector", "FieldValueRequired", "Required value"))
    template = spec.get("template")
    if not isinstance(template, dict):
        causes.append((f"{prefix}.template", "FieldValueRequired", "Required value"))
        return causes
    causes += containers(template.get("spec"), f"{prefix}.template.spec")
    match = selector.get("matchLabels") if isinstance(selector, dict) else None
    labels = (template.get("metadata") or {}).get("labels") or {}
    if isinstance(match, dict) and any(labels.get(k) != v for k, v in match.items()):
        causes.append(
            (
                f"{prefix}.template.metadata.labels",
                "FieldValueInvalid",
                f"Invalid value: {go_map(labels)}: `selector` does not match template `labels`",
            )
        )
    return causes


def role_binding(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    ref = obj.get("roleRef")
    causes: list[Cause] = []
    if not isinstance(ref, dict) or not ref.get("name"):
        causes.append(("roleRef.name", "FieldValueRequired", "Required value"))
    elif ref.get("kind") not in ("Role", "ClusterRole"):
        causes.append(
            (
                "roleRef.kind",
                "FieldValueNotSupported",
                f'Unsupported value: "{ref.get("kind")}": supported values: "Role", "ClusterRole"',
            )
        )
    if old is not None and old.get("roleRef") != ref:
        causes.append(
            ("roleRef", "FieldValueInvalid", f"Invalid value: {_ref_text(ref)}: cannot change roleRef")
        )
    subjects = obj.get("subjects") or []
    if not isinstance(subjects, list):
        subjects = []
    for i, subject in enumerate(subjects):
        kind = subject.get("kind") if isinstance(subject, dict) else None
        if kind not in ("ServiceAccount", "User", "Group"):
            causes.append(
                (
                    f"subjects[{i}].kind",
                    "FieldValueNotSupported",
                    f'Unsupported value: "{kind}": supported values: "ServiceAccount", "User", "Group"',
                )
            )
        elif not subject.get("name"):
            causes.append((f"subjects[{i}].name", "FieldValueRequired", "Required value"))
    return causes


def _ref_text(ref: Any) -> str:
    if not isinstance(ref, dict):
        return "null"
    group, kind, name = ref.get("apiGroup", ""), ref.get("kind", ""), ref.get("name", "")
    return f'rbac.RoleRef{{APIGroup:"{group}", Kind:"{kind}", Name:"{name}"}}'


def base64_data(obj: dict[str, Any], field: str = "data") -> list[Cause]:
    causes: list[Cause] = []
    for key, value in (obj.get(field) or {}).items():
        if not isinstance(value, str):
            causes.append((f"{field}[{key}]", "FieldValueInvalid", "Invalid value: must be a base64 string"))
            continue
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            causes.append((f"{field}[{key}]", "FieldValueInvalid", "Invalid value: illegal base64 data"))
    return causes


def immutable_data(obj: dict[str, Any], old: dict[str, Any], fields: tuple[str, ...]) -> list[Cause]:
    """``immutable: true`` Secrets and ConfigMaps: data and the flag itself are frozen."""
    if not old.get("immutable"):
        return []
    causes: list[Cause] = []
    if not obj.get("immutable"):
        causes.append(
            ("immutable", "FieldValueForbidden", "Forbidden: field is immutable when `immutable` is set")
        )
    for field in fields:
        if (obj.get(field) or {}) != (old.get(field) or {}):
            causes.append(
                (field, "FieldValueForbidden", "Forbidden: field is immutable when `immutable` is set")
            )
    return causes
