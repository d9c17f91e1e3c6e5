"""Decode the protobuf request bodies kubectl 1.32+ sends from its typed clients.

The body is the ``k8s\\0`` magic plus a ``runtime.Unknown`` envelope whose ``raw`` field is the
proto2 encoding of the object (``k8s.io/api/.../generated.proto``). Field numbers never change, so a
hand-written table per kind, over a small wire-format reader, converts the kinds those commands send
(``create namespace|serviceaccount|configmap|secret|deployment|service|job|cronjob|ingress|pdb|
priorityclass|quota|role...|token``, ``auth can-i``, ``auth whoami``) to the JSON the rest of the
server speaks. ``encode_reply`` writes replies back in the same form for clients that ask for it,
but only when the table covers every field of the object (checked by decoding the bytes again).

gogo-protobuf writes every non-pointer scalar, so zero values are dropped unless a field is a pointer
in Go (marked ``keep``), where zero is meaningful (``replicas: 0``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Union

from kymaprov.kubeapi.errors import BadRequest, UnsupportedMediaType
from kymaprov.kubeapi.times import parse_rfc3339, rfc3339

MAGIC = b"k8s\x00"


@dataclass(frozen=True)
class F:
    """One field: JSON name, type (a scalar name or a nested schema), repeated, keep zero values."""

    name: str
    type: Union[str, dict[int, F]]  # noqa: UP007 - recursive alias needs the string form
    repeated: bool = False
    keep: bool = False
    inline: bool = False  # a Go embedded struct: its fields sit in the parent's JSON object


Schema = dict[int, F]


# --- wire format ----------------------------------------------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise ValueError("varint too long")


def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    pos = 0
    value: Any
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated field")
            value, pos = data[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _scalar(kind: str, wire: int, value: Any) -> Any:
    if kind == "string":
        return bytes(value).decode()
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode()
    if kind == "int":
        return _signed(int(value))
    if kind == "bool":
        return bool(value)
    if kind in ("map", "bmap", "qmap"):
        entry = dict((n, v) for n, _, v in _fields(value))
        key = bytes(entry.get(1, b"")).decode()
        raw = entry.get(2, b"")
        if kind == "map":
            return key, bytes(raw).decode()
        if kind == "bmap":
            return key, base64.b64encode(bytes(raw)).decode()
        quantity = dict((n, v) for n, _, v in _fields(raw))
        return key, bytes(quantity.get(1, b"")).decode()
    if kind == "intstr":
        parts = dict((n, v) for n, _, v in _fields(value))
        return bytes(parts.get(3, b"")).decode() if parts.get(1, 0) == 1 else _signed(int(parts.get(2, 0)))
    if kind == "time":  # metav1.Time: no bytes is the zero time (JSON null), as Go's Unmarshal reads it
        if not bytes(value):
            return None
        parts = dict((n, v) for n, _, v in _fields(value))
        return rfc3339(_signed(int(parts.get(1, 0))))
    if kind == "rawjson":  # metav1.FieldsV1: the JSON document as bytes
        parts = dict((n, v) for n, _, v in _fields(value))
        return json.loads(bytes(parts.get(1, b"{}")))
    raise ValueError(f"unknown field type {kind}")


def _empty(value: Any) -> bool:
    return value in ("", 0, False, None) or value == {} or value == []


def decode_message(data: bytes, schema: Schema) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, wire, value in _fields(data):
        spec = schema.get(number)
        if spec is None:
            continue
        if isinstance(spec.type, dict):
            item: Any = decode_message(bytes(value), spec.type)
            if spec.inline:
                out.update(item)
                continue
        elif spec.repeated and spec.type == "int" and wire == 2:  # packed
            out.setdefault(spec.name, []).extend(_signed(v) for v in _packed(bytes(value)))
            continue
        else:
            item = _scalar(spec.type, wire, value)
        if isinstance(spec.type, str) and spec.type.endswith("map"):
            key, mapped = item
            out.setdefault(spec.name, {})[key] = mapped
        elif spec.repeated:
            out.setdefault(spec.name, []).append(item)
        elif spec.keep or not _empty(item):
            out[spec.name] = item
    return out


def _packed(data: bytes) -> list[int]:
    values, pos = [], 0
    while pos < len(data):
        value, pos = _varint(data, pos)
        values.append(value)
    return values


# --- schemas (field numbers from k8s.io/api generated.proto) --------------------------------------

S, N, B = "string", "int", "bool"

OWNER_REFERENCE: Schema = {
    1: F("kind", S),
    3: F("name", S),
    4: F("uid", S),
    5: F("apiVersion", S),
    6: F("controller", B, keep=True),
    7: F("blockOwnerDeletion", B, keep=True),
}
MANAGED_FIELDS: Schema = {
    1: F("manager", S),
    2: F("operation", S),
    3: F("apiVersion", S),
    4: F("time", "time"),
    6: F("fieldsType", S),
    7: F("fieldsV1", "rawjson"),
    8: F("subresource", S),
}
OBJECT_META: Schema = {
    1: F("name", S),
    2: F("generateName", S),
    3: F("namespace", S),
    5: F("uid", S),
    6: F("resourceVersion", S),
    7: F("generation", N),
    8: F("creationTimestamp", "time"),
    9: F("deletionTimestamp", "time"),
    10: F("deletionGracePeriodSeconds", N, keep=True),
    11: F("labels", "map"),
    12: F("annotations", "map"),
    13: F("ownerReferences", OWNER_REFERENCE, repeated=True),
    14: F("finalizers", S, repeated=True),
    17: F("managedFields", MANAGED_FIELDS, repeated=True),
}
LABEL_SELECTOR: Schema = {
    1: F("matchLabels", "map"),
    2: F(
        "matchExpressions",
        {1: F("key", S), 2: F("operator", S), 3: F("values", S, repeated=True)},
        repeated=True,
    ),
}
LOCAL_REF: Schema = {1: F("name", S)}
OBJECT_REF: Schema = {
    1: F("kind", S),
    2: F("namespace", S),
    3: F("name", S),
    4: F("uid", S),
    5: F("apiVersion", S),
    6: F("resourceVersion", S),
    7: F("fieldPath", S),
}
KEY_REF: Schema = {
    1: F("localObjectReference", LOCAL_REF, inline=True),
    2: F("key", S),
    3: F("optional", B, keep=True),
}
FIELD_REF: Schema = {1: F("apiVersion", S), 2: F("fieldPath", S)}
ENV_VAR: Schema = {
    1: F("name", S),
    2: F("value", S),
    3: F(
        "valueFrom",
        {1: F("fieldRef", FIELD_REF), 3: F("configMapKeyRef", KEY_REF), 4: F("secretKeyRef", KEY_REF)},
    ),
}
CONTAINER_PORT: Schema = {
    1: F("name", S),
    2: F("hostPort", N),
    3: F("containerPort", N, keep=True),
    4: F("protocol", S),
    5: F("hostIP", S),
}
RESOURCES: Schema = {1: F("limits", "qmap"), 2: F("requests", "qmap")}
VOLUME_MOUNT: Schema = {
    1: F("name", S),
    2: F("readOnly", B),
    3: F("mountPath", S),
    4: F("subPath", S),
    5: F("mountPropagation", S),
    6: F("subPathExpr", S),
}
SECCOMP_PROFILE: Schema = {1: F("type", S), 2: F("localhostProfile", S)}
# PodSecurityContext and SecurityContext are pointers in Go: an empty one must still be sent (``{}`` in
# JSON is not nil), or clients comparing templates (kubectl's EqualIgnoreHash) see a difference
POD_SECURITY_CONTEXT: Schema = {
    2: F("runAsUser", N, keep=True),
    3: F("runAsNonRoot", B, keep=True),
    4: F("supplementalGroups", N, repeated=True),
    5: F("fsGroup", N, keep=True),
    6: F("runAsGroup", N, keep=True),
    9: F("fsGroupChangePolicy", S),
    10: F("seccompProfile", SECCOMP_PROFILE),
}
SECURITY_CONTEXT: Schema = {
    1: F("capabilities", {1: F("add", S, repeated=True), 2: F("drop", S, repeated=True)}),
    2: F("privileged", B, keep=True),
    4: F("runAsUser", N, keep=True),
    5: F("runAsNonRoot", B, keep=True),
    6: F("readOnlyRootFilesystem", B, keep=True),
    7: F("allowPrivilegeEscalation", B, keep=True),
    8: F("runAsGroup", N, keep=True),
    11: F("seccompProfile", SECCOMP_PROFILE),
}
CONTAINER: Schema = {
    1: F("name", S),
    2: F("image", S),
    3: F("command", S, repeated=True),
    4: F("args", S, repeated=True),
    5: F("workingDir", S),
    6: F("ports", CONTAINER_PORT, repeated=True),
    7: F("env", ENV_VAR, repeated=True),
    8: F("resources", RESOURCES),
    9: F("volumeMounts", VOLUME_MOUNT, repeated=True),
    13: F("terminationMessagePath", S),
    14: F("imagePullPolicy", S),
    15: F("securityContext", SECURITY_CONTEXT),
    16: F("stdin", B),
    17: F("stdinOnce", B),
    18: F("tty", B),
    20: F("terminationMessagePolicy", S),
    24: F("restartPolicy", S),
}
POD_SPEC: Schema = {
    2: F("containers", CONTAINER, repeated=True),
    3: F("restartPolicy", S),
    4: F("terminationGracePeriodSeconds", N),
    5: F("activeDeadlineSeconds", N),
    6: F("dnsPolicy", S),
    7: F("nodeSelector", "map"),
    8: F("serviceAccountName", S),
    9: F("serviceAccount", S),
    10: F("nodeName", S),
    11: F("hostNetwork", B),
    14: F("securityContext", POD_SECURITY_CONTEXT),
    15: F("imagePullSecrets", LOCAL_REF, repeated=True),
    16: F("hostname", S),
    17: F("subdomain", S),
    19: F("schedulerName", S),
    20: F("initContainers", CONTAINER, repeated=True),
    21: F("automountServiceAccountToken", B, keep=True),
    24: F("priorityClassName", S),
}
POD_TEMPLATE: Schema = {1: F("metadata", OBJECT_META), 2: F("spec", POD_SPEC)}
DEPLOYMENT_SPEC: Schema = {
    1: F("replicas", N, keep=True),
    2: F("selector", LABEL_SELECTOR),
    3: F("template", POD_TEMPLATE),
    4: F(
        "strategy",
        {
            1: F("type", S),
            2: F("rollingUpdate", {1: F("maxUnavailable", "intstr"), 2: F("maxSurge", "intstr")}),
        },
    ),
    5: F("minReadySeconds", N),
    6: F("revisionHistoryLimit", N, keep=True),
    7: F("paused", B),
    9: F("progressDeadlineSeconds", N, keep=True),
}
SERVICE_PORT: Schema = {
    1: F("name", S),
    2: F("protocol", S),
    3: F("port", N, keep=True),
    4: F("targetPort", "intstr"),
    5: F("nodePort", N),
    6: F("appProtocol", S),
}
SERVICE_SPEC: Schema = {
    1: F("ports", SERVICE_PORT, repeated=True),
    2: F("selector", "map"),
    3: F("clusterIP", S),
    4: F("type", S),
    5: F("externalIPs", S, repeated=True),
    7: F("sessionAffinity", S),
    11: F("externalName", S),
}
JOB_SPEC: Schema = {
    1: F("parallelism", N, keep=True),
    2: F("completions", N, keep=True),
    3: F("activeDeadlineSeconds", N, keep=True),
    4: F("selector", LABEL_SELECTOR),
    5: F("manualSelector", B, keep=True),
    6: F("template", POD_TEMPLATE),
    7: F("backoffLimit", N, keep=True),
    8: F("ttlSecondsAfterFinished", N, keep=True),
    9: F("completionMode", S),
    10: F("suspend", B, keep=True),
}
CRON_JOB_SPEC: Schema = {
    1: F("schedule", S),
    2: F("startingDeadlineSeconds", N, keep=True),
    3: F("concurrencyPolicy", S),
    4: F("suspend", B, keep=True),
    5: F("jobTemplate", {1: F("metadata", OBJECT_META), 2: F("spec", JOB_SPEC)}),
    6: F("successfulJobsHistoryLimit", N, keep=True),
    7: F("failedJobsHistoryLimit", N, keep=True),
    8: F("timeZone", S),
}
INGRESS_BACKEND: Schema = {
    4: F("service", {1: F("name", S), 2: F("port", {1: F("name", S), 2: F("number", N)})}),
}
INGRESS_SPEC: Schema = {
    1: F("defaultBackend", INGRESS_BACKEND),
    2: F("tls", {1: F("hosts", S, repeated=True), 2: F("secretName", S)}, repeated=True),
    3: F(
        "rules",
        {
            1: F("host", S),
            2: F(
                "ingressRuleValue",
                {
                    1: F(
                        "http",
                        {
                            1: F(
                                "paths",
                                {1: F("path", S), 2: F("backend", INGRESS_BACKEND), 3: F("pathType", S)},
                                repeated=True,
                            )
                        },
                    )
                },
                inline=True,
            ),
        },
        repeated=True,
    ),
    4: F("ingressClassName", S),
}
POLICY_RULE: Schema = {
    1: F("verbs", S, repeated=True),
    2: F("apiGroups", S, repeated=True),
    3: F("resources", S, repeated=True),
    4: F("resourceNames", S, repeated=True),
    5: F("nonResourceURLs", S, repeated=True),
}
SUBJECT: Schema = {1: F("kind", S), 2: F("apiGroup", S), 3: F("name", S), 4: F("namespace", S)}
ROLE_REF: Schema = {1: F("apiGroup", S), 2: F("kind", S), 3: F("name", S)}
AGGREGATION: Schema = {1: F("clusterRoleSelectors", LABEL_SELECTOR, repeated=True)}

NAMESPACE_CONDITION: Schema = {
    1: F("type", S),
    2: F("status", S),
    4: F("lastTransitionTime", "time"),
    5: F("reason", S),
    6: F("message", S),
}
DEPLOYMENT_STATUS: Schema = {
    1: F("observedGeneration", N),
    2: F("replicas", N),
    3: F("updatedReplicas", N),
    4: F("availableReplicas", N),
    5: F("unavailableReplicas", N),
    6: F(
        "conditions",
        {
            1: F("type", S),
            2: F("status", S),
            4: F("reason", S),
            5: F("message", S),
            6: F("lastUpdateTime", "time"),
            7: F("lastTransitionTime", "time"),
        },
        repeated=True,
    ),
    7: F("readyReplicas", N),
    8: F("collisionCount", N, keep=True),
    9: F("terminatingReplicas", N, keep=True),
}
LIST_META: Schema = {
    1: F("selfLink", S),
    2: F("resourceVersion", S),
    3: F("continue", S),
    4: F("remainingItemCount", N, keep=True),
}
STATUS: Schema = {  # meta.v1 Status, the body of every error
    1: F("metadata", LIST_META),
    2: F("status", S),
    3: F("message", S),
    4: F("reason", S),
    5: F(
        "details",
        {
            1: F("name", S),
            2: F("group", S),
            3: F("kind", S),
            4: F("causes", {1: F("reason", S), 2: F("message", S), 3: F("field", S)}, repeated=True),
            5: F("retryAfterSeconds", N),
            6: F("uid", S),
        },
    ),
    6: F("code", N),
}

KINDS: dict[str, Schema] = {
    "Namespace": {
        1: F("metadata", OBJECT_META),
        2: F("spec", {1: F("finalizers", S, repeated=True)}),
        3: F("status", {1: F("phase", S), 2: F("conditions", NAMESPACE_CONDITION, repeated=True)}),
    },
    "ServiceAccount": {
        1: F("metadata", OBJECT_META),
        2: F("secrets", OBJECT_REF, repeated=True),
        3: F("automountServiceAccountToken", B, keep=True),
        4: F("imagePullSecrets", LOCAL_REF, repeated=True),
    },
    "ConfigMap": {
        1: F("metadata", OBJECT_META),
        2: F("data", "map"),
        3: F("binaryData", "bmap"),
        4: F("immutable", B, keep=True),
    },
    "Secret": {
        1: F("metadata", OBJECT_META),
        2: F("data", "bmap"),
        3: F("type", S),
        4: F("stringData", "map"),
        5: F("immutable", B, keep=True),
    },
    "Pod": {1: F("metadata", OBJECT_META), 2: F("spec", POD_SPEC)},
    "Service": {1: F("metadata", OBJECT_META), 2: F("spec", SERVICE_SPEC)},
    "Deployment": {
        1: F("metadata", OBJECT_META),
        2: F("spec", DEPLOYMENT_SPEC),
        3: F("status", DEPLOYMENT_STATUS),
    },
    "Job": {1: F("metadata", OBJECT_META), 2: F("spec", JOB_SPEC)},
    "CronJob": {1: F("metadata", OBJECT_META), 2: F("spec", CRON_JOB_SPEC)},
    "Ingress": {1: F("metadata", OBJECT_META), 2: F("spec", INGRESS_SPEC)},
    "PodDisruptionBudget": {
        1: F("metadata", OBJECT_META),
        2: F(
            "spec",
            {
                1: F("minAvailable", "intstr"),
                2: F("selector", LABEL_SELECTOR),
                3: F("maxUnavailable", "intstr"),
                4: F("unhealthyPodEvictionPolicy", S),
            },
        ),
    },
    "PriorityClass": {
        1: F("metadata", OBJECT_META),
        2: F("value", N, keep=True),
        3: F("globalDefault", B),
        4: F("description", S),
        5: F("preemptionPolicy", S),
    },
    "ResourceQuota": {
        1: F("metadata", OBJECT_META),
        2: F(
            "spec",
            {
                1: F("hard", "qmap"),
                2: F("scopes", S, repeated=True),
                3: F(
                    "scopeSelector",
                    {
                        1: F(
                            "matchExpressions",
                            {1: F("scopeName", S), 2: F("operator", S), 3: F("values", S, repeated=True)},
                            repeated=True,
                        )
                    },
                ),
            },
        ),
    },
    "Role": {1: F("metadata", OBJECT_META), 2: F("rules", POLICY_RULE, repeated=True)},
    "ClusterRole": {
        1: F("metadata", OBJECT_META),
        2: F("rules", POLICY_RULE, repeated=True),
        3: F("aggregationRule", AGGREGATION),
    },
    "RoleBinding": {
        1: F("metadata", OBJECT_META),
        2: F("subjects", SUBJECT, repeated=True),
        3: F("roleRef", ROLE_REF),
    },
    "ClusterRoleBinding": {
        1: F("metadata", OBJECT_META),
        2: F("subjects", SUBJECT, repeated=True),
        3: F("roleRef", ROLE_REF),
    },
    "TokenRequest": {
        1: F("metadata", OBJECT_META),
        2: F(
            "spec",
            {
                1: F("audiences", S, repeated=True),
                3: F(
                    "boundObjectRef",
                    {1: F("kind", S), 2: F("apiVersion", S), 3: F("name", S), 4: F("uid", S)},
                ),
                4: F("expirationSeconds", N, keep=True),
            },
        ),
        3: F("status", {1: F("token", S), 2: F("expirationTimestamp", "time")}),
    },
    "SelfSubjectAccessReview": {
        1: F("metadata", OBJECT_META),
        2: F(
            "spec",
            {
                1: F(
                    "resourceAttributes",
                    {
                        1: F("namespace", S),
                        2: F("verb", S),
                        3: F("group", S),
                        4: F("version", S),
                        5: F("resource", S),
                        6: F("subresource", S),
                        7: F("name", S),
                    },
                ),
                2: F("nonResourceAttributes", {1: F("path", S), 2: F("verb", S)}),
            },
        ),
        3: F(
            "status",
            {1: F("allowed", B, keep=True), 2: F("reason", S), 3: F("evaluationError", S), 4: F("denied", B)},
        ),
    },
    "SelfSubjectRulesReview": {1: F("metadata", OBJECT_META), 2: F("spec", {1: F("namespace", S)})},
    "SelfSubjectReview": {1: F("metadata", OBJECT_META)},
}


def decode_request(body: bytes, expected_kind: str) -> dict[str, Any]:
    """The JSON form of a protobuf request body; 415 for kinds without a table, 400 for bad bytes."""
    if not body.startswith(MAGIC):
        raise BadRequest("provided protobuf body does not start with the 'k8s\\x00' prefix")
    try:
        envelope = dict((n, v) for n, _, v in _fields(body[len(MAGIC) :]))
        type_meta = dict((n, v) for n, _, v in _fields(bytes(envelope.get(1, b""))))
        api_version = bytes(type_meta.get(1, b"")).decode()
        kind = bytes(type_meta.get(2, b"")).decode() or expected_kind
        schema = KINDS.get(kind)
        if schema is None:
            raise UnsupportedMediaType(
                f"the body of the request was in an unknown format - accepted media types include: "
                f"application/json, application/yaml (protobuf is not supported for {kind})"
            )
        obj = decode_message(bytes(envelope.get(2, b"")), schema)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"unable to decode the protobuf request body: {exc}") from exc
    result: dict[str, Any] = {}
    if api_version:
        result["apiVersion"] = api_version
    result["kind"] = kind
    result.update(obj)
    return result


# --- encoding replies -----------------------------------------------------------------------------


def _put_varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s are ten-byte two's complement, as Go writes them
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _put_varint(number << 3 | wire)


def _delimited(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _put_varint(len(payload)) + payload


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not an integer: {value!r}")
    return value


def _text(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"not a string: {value!r}")
    return value.encode()


def _encode_scalar(number: int, kind: str, value: Any) -> bytes:
    if kind == "string":
        return _delimited(number, _text(value))
    if kind == "bytes":
        return _delimited(number, base64.b64decode(_text(value), validate=True))
    if kind == "int":
        return _key(number, 0) + _put_varint(_int(value))
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"not a boolean: {value!r}")
        return _key(number, 0) + _put_varint(int(value))
    if kind == "intstr":
        if isinstance(value, str):
            return _delimited(number, _key(1, 0) + b"\x01" + _delimited(3, value.encode()))
        return _delimited(number, _key(1, 0) + b"\x00" + _key(2, 0) + _put_varint(_int(value)))
    if kind == "time":
        seconds = parse_rfc3339(value) if isinstance(value, str) else None
        if seconds is None:
            raise ValueError(f"not a timestamp: {value!r}")
        return _delimited(number, _key(1, 0) + _put_varint(int(seconds)))
    if kind == "rawjson":
        return _delimited(number, _delimited(1, json.dumps(value, separators=(",", ":")).encode()))
    raise ValueError(f"unknown field type {kind}")


def _encode_map(number: int, kind: str, value: Any) -> bytes:
    if not isinstance(value, dict):
        raise ValueError(f"not a map: {value!r}")
    out = b""
    for key in sorted(value):  # gogo-protobuf writes map entries in key order
        raw = value[key]
        if kind == "map":
            payload = _text(raw)
        elif kind == "bmap":
            payload = base64.b64decode(_text(raw), validate=True)
        else:  # resource.Quantity: its string form
            payload = _delimited(1, _text(raw))
        out += _delimited(number, _delimited(1, _text(key)) + _delimited(2, payload))
    return out


def encode_message(obj: dict[str, Any], schema: Schema) -> bytes:
    """The proto2 bytes of ``obj``; ValueError for a value of the wrong type. Keys without a field are
    skipped here - ``encode_reply`` catches them by decoding the bytes again."""
    out = b""
    for number in sorted(schema):
        spec = schema[number]
        if spec.inline and isinstance(spec.type, dict):
            out += _delimited(number, encode_message(obj, spec.type))
            continue
        value = obj.get(spec.name)
        if value is None:
            continue
        values = value if spec.repeated else [value]
        if spec.repeated and not isinstance(value, list):
            raise ValueError(f"{spec.name} is not a list")
        for item in values:
            if isinstance(spec.type, dict):
                if not isinstance(item, dict):
                    raise ValueError(f"{spec.name} is not an object")
                out += _delimited(number, encode_message(item, spec.type))
            elif spec.type.endswith("map"):
                out += _encode_map(number, spec.type, item)
            else:
                out += _encode_scalar(number, spec.type, item)
    return out


def _list_schema(item: Schema) -> Schema:
    return {1: F("metadata", LIST_META), 2: F("items", item, repeated=True)}


def _schema_for(kind: str) -> Schema | None:
    if kind == "Status":
        return STATUS
    if kind.endswith("List") and kind[: -len("List")] in KINDS:
        return _list_schema(KINDS[kind[: -len("List")]])
    return KINDS.get(kind)


def _pruned(value: Any) -> Any:
    """Go's view of a value: zero scalars, empty maps and lists are the same as absent."""
    if isinstance(value, dict):
        items = ((k, _pruned(v)) for k, v in value.items())
        return {k: v for k, v in items if not _empty(v)}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _untyped(item: Any) -> Any:
    if isinstance(item, dict):
        return {k: v for k, v in item.items() if k not in ("apiVersion", "kind")}
    return item


def encode_reply(obj: Any) -> bytes | None:
    """``obj`` as kube-apiserver writes it in protobuf (``k8s\\0`` + ``runtime.Unknown``), or None when
    no table covers it fully - then the caller answers JSON or 406, never a lossy message."""
    if not isinstance(obj, dict) or not isinstance(obj.get("kind"), str):
        return None
    schema = _schema_for(obj["kind"])
    if schema is None:
        return None
    try:
        raw = encode_message(obj, schema)
        expected = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
        if schema is not STATUS and obj["kind"] not in KINDS:  # a list: its items carry no TypeMeta
            items = expected.get("items")
            if isinstance(items, list):
                expected["items"] = [_untyped(item) for item in items]
        if _pruned(decode_message(raw, schema)) != _pruned(expected):
            return None
        type_meta = _delimited(1, _text(obj.get("apiVersion", ""))) + _delimited(2, _text(obj["kind"]))
    except (ValueError, TypeError, UnicodeError, RecursionError):
        return None
    unknown = _delimited(1, type_meta) + _delimited(2, raw) + _delimited(3, b"") + _delimited(4, b"")
    return MAGIC + unknown
