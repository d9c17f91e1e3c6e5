"""Per-kind defaulting and validation: what admission, defaulters and controllers do in a real cluster.

Only what clients notice: pods are ``Pending``, namespaces ``Active``, Secret ``stringData`` lands in
``data``, Services get a cluster IP, Deployments look rolled out at once (there is no scheduler), and
the 422s clients most often hit (names, required fields, immutable ``roleRef``).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from kymaprov.runtime.errors import Invalid
from kymaprov.runtime.resources import RBAC, ResourceType

Cause = tuple[str, str, str]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def _name_causes(rt: ResourceType, name: str) -> list[Cause]:
    field = "metadata.name"
    causes: list[Cause] = []
    if rt.group == RBAC:  # a path segment; NUL and the length are refused because no row holds them
        if name in (".", "..") or "/" in name or "%" in name:
            message = f"Invalid value: \"{name}\": may not contain '/' or '%'"
            causes.append((field, "FieldValueInvalid", message))
        if "\x00" in name:
            causes.append((field, "FieldValueInvalid", f'Invalid value: "{name}": may not contain NUL'))
        ok, msg, limit = True, "", 253
    elif rt.resource == "namespaces":
        ok, msg, limit = bool(_DNS_LABEL.fullmatch(name)), _LABEL_MSG, 63
    elif rt.resource == "services":
        ok, msg, limit = bool(_DNS_1035.fullmatch(name)), _1035_MSG, 63
    else:
        ok, msg, limit = bool(_DNS_SUBDOMAIN.fullmatch(name)), _SUBDOMAIN_MSG, 253
    if len(name) > limit:
        causes.append(
            (field, "FieldValueInvalid", f'Invalid value: "{name}": must be no more than {limit} characters')
        )
    if not ok:
        causes.append((field, "FieldValueInvalid", f'Invalid value: "{name}": {msg}'))
    return causes


def validate(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Raise ``Invalid`` (422) with every problem found, as the real validators aggregate them."""
    meta = obj["metadata"]
    name = meta.get("name", "")
    causes: list[Cause] = []
    if not name:
        causes.append(
            ("metadata.name", "FieldValueRequired", "Required value: name or generateName is required")
        )
    elif old is None:
        causes += _name_causes(rt, name)
    causes += _KIND_VALIDATORS.get(rt.resource, _no_checks)(obj, old)
    if causes:
        raise Invalid(rt.kind, rt.group, name, causes)


def _no_checks(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    return []


def _containers(spec: Any, prefix: str) -> list[Cause]:
    if not isinstance(spec, dict):
        return [(prefix, "FieldValueRequired", "Required value")]
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return [(f"{prefix}.containers", "FieldValueRequired", "Required value")]
    causes: list[Cause] = []
    for i, container in enumerate(containers):
        if not isinstance(container, dict) or not container.get("name"):
            causes.append((f"{prefix}.containers[{i}].name", "FieldValueRequired", "Required value"))
        elif not container.get("image"):
            causes.append((f"{prefix}.containers[{i}].image", "FieldValueRequired", "Required value"))
    return causes


def _pod(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    return _containers(obj.get("spec"), "spec")


def _deployment(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [("spec", "FieldValueRequired", "Required value")]
    causes: list[Cause] = []
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or replicas < 0:
        causes.append(
            (
                "spec.replicas",
                "FieldValueInvalid",
                f"Invalid value: {replicas}: must be greater than or equal to 0",
            )
        )
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        causes.append(("spec.selector", "FieldValueRequired", "Required value"))
    template = spec.get("template")
    if not isinstance(template, dict):
        causes.append(("spec.template", "FieldValueRequired", "Required value"))
        return causes
    causes += _containers(template.get("spec"), "spec.template.spec")
    match = (selector or {}).get("matchLabels") if isinstance(selector, dict) else None
    labels = (template.get("metadata") or {}).get("labels") or {}
    if isinstance(match, dict) and any(labels.get(k) != v for k, v in match.items()):
        causes.append(
            (
                "spec.template.metadata.labels",
                "FieldValueInvalid",
                f"Invalid value: {_go_map(labels)}: `selector` does not match template `labels`",
            )
        )
    return causes


def _go_map(labels: dict[str, Any]) -> str:
    return "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items())) + "}"


def _role_binding(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
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


def _secret(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    causes: list[Cause] = []
    for key, value in (obj.get("data") or {}).items():
        if not isinstance(value, str):
            causes.append((f"data[{key}]", "FieldValueInvalid", "Invalid value: must be a base64 string"))
            continue
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            causes.append((f"data[{key}]", "FieldValueInvalid", "Invalid value: illegal base64 data"))
    if old is not None and old.get("type", "Opaque") != obj.get("type", "Opaque"):
        causes.append(
            ("type", "FieldValueInvalid", f'Invalid value: "{obj.get("type")}": field is immutable')
        )
    return causes


_KIND_VALIDATORS = {
    "pods": _pod,
    "deployments": _deployment,
    "rolebindings": _role_binding,
    "clusterrolebindings": _role_binding,
    "secrets": _secret,
}


# --- defaults -------------------------------------------------------------------------------------


def apply_defaults(rt: ResourceType, obj: dict[str, Any], rv: int) -> None:
    """Fill what the apiserver and its controllers would, in place, on create and update."""
    fill = _DEFAULTERS.get(rt.resource)
    if fill is not None:
        fill(obj, rv)


def keep_allocated(rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> None:
    """Values the apiserver allocated on create survive an update that leaves them out."""
    if rt.resource == "services":
        spec, old_spec = new.setdefault("spec", {}), old.get("spec") or {}
        for field in ("clusterIP", "clusterIPs"):
            if field not in spec and field in old_spec:
                spec[field] = old_spec[field]


def _namespace(obj: dict[str, Any], rv: int) -> None:
    meta = obj["metadata"]
    meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


def _pod_defaults(obj: dict[str, Any], rv: int) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    for container in spec.get("containers") or []:
        if isinstance(container, dict):
            _container_defaults(container)
    status = obj.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", "BestEffort")


def _container_defaults(container: dict[str, Any]) -> None:
    image = str(container.get("image", ""))
    tagged = ":" in image.rsplit("/", 1)[-1] or "@" in image
    latest = not tagged or image.endswith(":latest")
    container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def _service(obj: dict[str, Any], rv: int) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    if "clusterIP" not in spec:
        spec["clusterIP"] = f"10.96.{(rv // 250) % 250}.{rv % 250 + 1}"
    spec.setdefault("clusterIPs", [spec["clusterIP"]])
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
    obj.setdefault("status", {}).setdefault("loadBalancer", {})


def _secret_defaults(obj: dict[str, Any], rv: int) -> None:
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def _deployment_defaults(obj: dict[str, Any], rv: int) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
    template_spec = (spec.get("template") or {}).get("spec")
    if isinstance(template_spec, dict):
        template_spec.setdefault("restartPolicy", "Always")
        template_spec.setdefault("dnsPolicy", "ClusterFirst")
        template_spec.setdefault("schedulerName", "default-scheduler")
        template_spec.setdefault("terminationGracePeriodSeconds", 30)
        template_spec.setdefault("securityContext", {})
        for container in template_spec.get("containers") or []:
            if isinstance(container, dict):
                _container_defaults(container)


def _role(obj: dict[str, Any], rv: int) -> None:
    if obj.get("rules") is None and "aggregationRule" not in obj:
        obj["rules"] = []


_DEFAULTERS = {
    "namespaces": _namespace,
    "pods": _pod_defaults,
    "services": _service,
    "secrets": _secret_defaults,
    "deployments": _deployment_defaults,
    "roles": _role,
    "clusterroles": _role,
}


def rolled_out_status(obj: dict[str, Any], now_text: str) -> dict[str, Any]:
    """The status a Deployment reaches once its controller is done; there is no scheduler here."""
    replicas = int((obj.get("spec") or {}).get("replicas", 1))
    generation = int(obj["metadata"].get("generation", 1))
    name = obj["metadata"]["name"]
    status: dict[str, Any] = {"observedGeneration": generation}
    if replicas:
        status.update(
            replicas=replicas, updatedReplicas=replicas, readyReplicas=replicas, availableReplicas=replicas
        )
    status["conditions"] = [
        {
            "type": "Available",
            "status": "True",
            "lastUpdateTime": now_text,
            "lastTransitionTime": now_text,
            "reason": "MinimumReplicasAvailable",
            "message": "Deployment has minimum availability.",
        },
        {
            "type": "Progressing",
            "status": "True",
            "lastUpdateTime": now_text,
            "lastTransitionTime": now_text,
            "reason": "NewReplicaSetAvailable",
            "message": f'ReplicaSet "{name}" has successfully progressed.',
        },
    ]
    return status
