"""CustomResourceDefinitions (``apiextensions.k8s.io/v1``), as ``apiextensions-apiserver`` serves them.

- **Validation** of a CRD (``pkg/apis/apiextensions/validation``): names, group, scope, versions with
  exactly one storage version, structural schemas (``structural.py``), subresources, printer columns.
- **Status**: the naming and establishing controllers' work, done as the CRD is written (there are no
  controllers here): ``NamesAccepted`` and ``Established`` True, ``acceptedNames``, ``storedVersions``.
- **The runtime's registry** (``registry``): the built-ins plus a ``ResourceType`` per served version of
  each established CRD. It is read from the database, so every replica sees a CRD at once; it is cached
  per runtime and rebuilt when the CRDs' newest resourceVersion or their count changes (one indexed
  query per request that needs it).
- **Deletion**: a deleted CRD takes all its custom resources with it, in every namespace.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from kymaprov.kubeapi import structural, validation
from kymaprov.kubeapi.errors import NotFound
from kymaprov.kubeapi.models import equals, objects
from kymaprov.kubeapi.resources import (
    BUILTIN,
    CRDS,
    CRUD_VERBS,
    STATUS_VERBS,
    CustomInfo,
    Registry,
    ResourceType,
    Subresource,
)
from kymaprov.kubeapi.validation import Cause
from kymaprov.lru import LRU

if TYPE_CHECKING:
    from kymaprov.kubeapi.objects import ObjectStore

GROUP = CRDS.group
APPROVAL = "api-approved.kubernetes.io"
_SCALE_VERBS = ("get", "patch", "update")
_COLUMN_TYPES = ("integer", "number", "string", "boolean", "date")
_PROTECTED = ("k8s.io", "kubernetes.io")


def _go(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else str(value)


def _required(path: str, detail: str = "") -> Cause:
    return (path, "FieldValueRequired", "Required value" + (f": {detail}" if detail else ""))


def _invalid(path: str, value: Any, detail: str) -> Cause:
    return (path, "FieldValueInvalid", f"Invalid value: {_go(value)}: {detail}")


def _dns1035(path: str, value: Any) -> list[Cause]:
    if not isinstance(value, str) or not validation.DNS_1035.fullmatch(value) or len(value) > 63:
        return [_invalid(path, value, validation.DNS_1035_MSG)]
    return []


def _kind_name(path: str, value: Any) -> list[Cause]:
    if not value:
        return [_required(path)]
    if not isinstance(value, str) or not validation.DNS_1035.fullmatch(value.lower()):
        return [
            _invalid(
                path, value, "may have mixed case, but should otherwise match: [a-z]([-a-z0-9]*[a-z0-9])?"
            )
        ]
    return []


# --- defaulting and validation ----------------------------------------------------------------------


def default(crd: dict[str, Any]) -> None:
    """``SetDefaults_CustomResourceDefinition``: singular, listKind, conversion strategy."""
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return
    names = spec.get("names")
    if isinstance(names, dict) and isinstance(names.get("kind"), str) and names["kind"]:
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
    spec.setdefault("conversion", {"strategy": "None"})


def validate(crd: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    """The 422 causes of a CRD (v1), in the order ``ValidateCustomResourceDefinition`` finds them."""
    causes: list[Cause] = []
    crd = copy.deepcopy(crd)
    default(crd)  # the defaulted object is what kube validates
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return [_required("spec")]
    meta = crd["metadata"]
    raw_names = spec.get("names")
    names: dict[str, Any] = raw_names if isinstance(raw_names, dict) else {}
    group = spec.get("group", "")
    plural = names.get("plural", "")
    if meta.get("name") != f"{plural}.{group}":
        causes.append(
            _invalid("metadata.name", meta.get("name", ""), 'must be spec.names.plural+"."+spec.group')
        )
    if not group:
        causes.append(_required("spec.group"))
    else:
        if "." not in group:
            causes.append(_invalid("spec.group", group, "should be a domain with at least one dot"))
        causes += [c for c in validation.name_causes("subdomain", group, "spec.group") if "." in group]
        protected = any(group == p or group.endswith("." + p) for p in _PROTECTED)
        if protected and not (meta.get("annotations") or {}).get(APPROVAL):
            causes.append(
                _required(
                    f"metadata.annotations[{APPROVAL}]",
                    f'protected groups must have approval annotation "{APPROVAL}", '
                    "see https://github.com/kubernetes/enhancements/pull/1111",
                )
            )
    scope = spec.get("scope")
    if not scope:
        causes.append(_required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        causes.append(
            ("spec.scope", "FieldValueNotSupported",
             f'Unsupported value: {_go(scope)}: supported values: "Cluster", "Namespaced"')
        )  # fmt: skip
    causes += _names(names)
    causes += _versions(spec)
    if old is not None:
        old_spec = old.get("spec") or {}
        for field in ("group", "scope"):
            if spec.get(field) != old_spec.get(field):
                causes.append(validation.immutable(f"spec.{field}", _go(spec.get(field))))
        versions = {v.get("name") for v in spec.get("versions") or [] if isinstance(v, dict)}
        stored = (old.get("status") or {}).get("storedVersions") or []
        for index, name in enumerate(stored):
            if name not in versions:
                causes.append(
                    _invalid(f"status.storedVersions[{index}]", name, "must appear in spec.versions")
                )
    return causes


def _names(names: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    path = "spec.names"
    if not names.get("plural"):
        causes.append(_required(f"{path}.plural"))
    else:
        causes += _dns1035(f"{path}.plural", names["plural"])
    if names.get("singular"):
        causes += _dns1035(f"{path}.singular", names["singular"])
    for index, short in enumerate(names.get("shortNames") or []):
        causes += _dns1035(f"{path}.shortNames[{index}]", short)
    causes += _kind_name(f"{path}.kind", names.get("kind"))
    if names.get("kind"):
        causes += _kind_name(f"{path}.listKind", names.get("listKind"))
        if names.get("kind") == names.get("listKind"):
            causes.append(
                _invalid(
                    f"{path}.listKind", names["listKind"], "kind and listKind may not be the same or empty"
                )
            )
    for index, category in enumerate(names.get("categories") or []):
        causes += _dns1035(f"{path}.categories[{index}]", category)
    return causes


def _versions(spec: dict[str, Any]) -> list[Cause]:
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        return [_required("spec.versions", "must have exactly one version marked as storage version")]
    causes: list[Cause] = []
    seen: set[str] = set()
    storage = 0
    for index, version in enumerate(versions):
        path = f"spec.versions[{index}]"
        if not isinstance(version, dict):
            causes.append(_required(path))
            continue
        name = version.get("name")
        if not name:
            causes.append(_required(f"{path}.name"))
        else:
            causes += _dns1035(f"{path}.name", name)
            if name in seen:
                causes.append(
                    (
                        "spec.versions",
                        "FieldValueInvalid",
                        "Invalid value: ...: must contain unique version names",
                    )
                )
            seen.add(name)
        storage += bool(version.get("storage"))
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        schema_path = f"{path}.schema.openAPIV3Schema"
        if schema is None:
            causes.append(_required(schema_path, "schemas are required"))
        else:
            causes += structural.structural_causes(schema, schema_path)
        causes += _subresources(version.get("subresources") or {}, f"{path}.subresources")
        for column_index, column in enumerate(version.get("additionalPrinterColumns") or []):
            causes += _column(column, f"{path}.additionalPrinterColumns[{column_index}]")
    if storage != 1:
        causes.append(
            ("spec.versions", "FieldValueInvalid",
             "Invalid value: []apiextensions.CustomResourceDefinitionVersion{...}: "
             "must have exactly one version marked as storage version")
        )  # fmt: skip
    return causes


def _subresources(subresources: dict[str, Any], path: str) -> list[Cause]:
    scale = subresources.get("scale")
    if not isinstance(scale, dict):
        return []
    causes: list[Cause] = []
    spec_path = scale.get("specReplicasPath")
    if not spec_path:
        causes.append(_required(f"{path}.scale.specReplicasPath"))
    elif not str(spec_path).startswith(".spec."):
        causes.append(
            _invalid(f"{path}.scale.specReplicasPath", spec_path, "should be a json path under .spec")
        )
    status_path = scale.get("statusReplicasPath")
    if not status_path:
        causes.append(_required(f"{path}.scale.statusReplicasPath"))
    elif not str(status_path).startswith(".status."):
        causes.append(
            _invalid(f"{path}.scale.statusReplicasPath", status_path, "should be a json path under .status")
        )
    selector = scale.get("labelSelectorPath")
    if selector and not str(selector).startswith((".spec.", ".status.")):
        causes.append(
            _invalid(
                f"{path}.scale.labelSelectorPath",
                selector,
                "should be a json path under either .spec or .status",
            )
        )
    return causes


def _column(column: Any, path: str) -> list[Cause]:
    if not isinstance(column, dict):
        return [_required(path)]
    causes: list[Cause] = []
    if not column.get("name"):
        causes.append(_required(f"{path}.name"))
    kind = column.get("type")
    if not kind:
        causes.append(_required(f"{path}.type"))
    elif kind not in _COLUMN_TYPES:
        supported = ", ".join(f'"{t}"' for t in _COLUMN_TYPES)
        causes.append(
            (
                f"{path}.type",
                "FieldValueNotSupported",
                f"Unsupported value: {_go(kind)}: supported values: {supported}",
            )
        )
    if not column.get("jsonPath"):
        causes.append(_required(f"{path}.jsonPath"))
    return causes


# --- status: what the naming and establishing controllers write --------------------------------------


def _condition(kind: str, reason: str, message: str, now_text: str, old: list[Any]) -> dict[str, Any]:
    previous = next((c for c in old if isinstance(c, dict) and c.get("type") == kind), None)
    since = previous.get("lastTransitionTime") if previous and previous.get("status") == "True" else None
    return {
        "type": kind,
        "status": "True",
        "lastTransitionTime": since or now_text,
        "reason": reason,
        "message": message,
    }


def controller_status(crd: dict[str, Any], old: dict[str, Any] | None, now_text: str) -> None:
    """Names accepted and the CRD established at once; the storage version recorded as stored."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    status = dict(crd.get("status") or (old or {}).get("status") or {})
    previous = status.get("conditions") or []
    accepted = {
        k: names[k]
        for k in ("plural", "singular", "shortNames", "kind", "listKind", "categories")
        if k in names
    }
    storage = next(
        (v["name"] for v in spec.get("versions") or [] if isinstance(v, dict) and v.get("storage")), None
    )
    stored = list(((old or {}).get("status") or {}).get("storedVersions") or [])
    if storage and storage not in stored:
        stored.append(storage)
    status["conditions"] = [
        _condition("NamesAccepted", "NoConflicts", "no conflicts found", now_text, previous),
        _condition(
            "Established", "InitialNamesAccepted", "the initial names have been accepted", now_text, previous
        ),
    ]
    status["acceptedNames"] = accepted
    status["storedVersions"] = stored
    crd["status"] = status


def established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(
        c.get("type") == "Established" and c.get("status") == "True"
        for c in conditions
        if isinstance(c, dict)
    )


# --- the runtime's registry --------------------------------------------------------------------------


def custom_types(crd: dict[str, Any]) -> list[ResourceType]:
    """One ``ResourceType`` per served version of an established CRD."""
    if not established(crd):
        return []
    spec = crd["spec"]
    names = (crd.get("status") or {}).get("acceptedNames") or spec["names"]
    fingerprint = hashlib.sha256(
        json.dumps([crd["metadata"].get("uid"), spec, names], sort_keys=True).encode()
    ).hexdigest()
    built = []
    for version in spec.get("versions") or []:
        if not version.get("served"):
            continue
        subresources = version.get("subresources") or {}
        subs = []
        if "scale" in subresources:
            subs.append(Subresource("scale", "Scale", _SCALE_VERBS, "autoscaling", "v1"))
        if "status" in subresources:
            subs.append(Subresource("status", names["kind"], STATUS_VERBS))
        info = CustomInfo(
            crd=crd["metadata"]["name"],
            crd_uid=crd["metadata"].get("uid", ""),
            schema=(version.get("schema") or {}).get("openAPIV3Schema") or {},
            columns=tuple(version.get("additionalPrinterColumns") or ()),
            scale=subresources.get("scale"),
            list_kind=names.get("listKind") or names["kind"] + "List",
            fingerprint=f"{fingerprint}/{version['name']}",
        )
        built.append(
            ResourceType(
                spec["group"],
                version["name"],
                names["plural"],
                names["kind"],
                spec.get("scope") == "Namespaced",
                names.get("singular") or names["kind"].lower(),
                tuple(names.get("shortNames") or ()),
                tuple(names.get("categories") or ()),
                verbs=CRUD_VERBS,
                subresources=tuple(subs),
                has_generation=True,
                custom=info,
            )
        )
    return built


# The recently served runtimes only: a Kyma runtime's registry is ~150 KB (its CRDs' types and schemas)
_cache: LRU[str, tuple[tuple[int, int], Registry]] = LRU(64)


def registry(store: ObjectStore) -> Registry:
    """The resources ``store``'s runtime serves, read from the database (one cheap query when cached)."""
    row = store.conn.execute(
        sa.select(sa.func.max(objects.c.resource_version), sa.func.count()).where(
            equals(objects.c.cluster_id, store.cluster_id),
            objects.c.api_group == GROUP,
            objects.c.resource == CRDS.resource,
        )
    ).one()
    key = (int(row[0] or 0), int(row[1]))
    if key[1] == 0:
        return BUILTIN
    cached = _cache.get(store.cluster_id)
    if cached is not None and cached[0] == key:
        return cached[1]
    items, _ = store.list_objects(CRDS, None)
    builtin_groups = set(BUILTIN.group_versions)
    custom = [rt for crd in items for rt in custom_types(crd) if rt.group not in builtin_groups]
    built = Registry(custom)
    _cache.put(store.cluster_id, (key, built))
    return built


def check_served(store: ObjectStore, rt: ResourceType) -> None:
    """Refuse a create whose CRD went away (or was replaced) since the request looked it up."""
    info = rt.custom
    if info is None:
        return
    crd = store.find(CRDS, "", info.crd)
    if crd is None or crd["metadata"].get("uid") != info.crd_uid or not established(crd):
        raise NotFound.path()


def delete_custom_resources(store: ObjectStore, crd: dict[str, Any]) -> None:
    """Every custom resource of a deleted CRD goes with it, each its own delete and DELETED event."""
    spec = crd.get("spec") or {}
    group, plural = spec.get("group"), (spec.get("names") or {}).get("plural")
    if not group or not plural:
        return
    store.remove_all(group, plural)


# --- scale ---------------------------------------------------------------------------------------------


def _path(json_path: str) -> list[str]:
    return [p for p in json_path.strip(".").split(".") if p]


def get_path(obj: dict[str, Any], json_path: str) -> Any:
    value: Any = obj
    for key in _path(json_path):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def set_path(obj: dict[str, Any], json_path: str, new: Any) -> None:
    keys = _path(json_path)
    target = obj
    for key in keys[:-1]:
        child = target.get(key)
        if not isinstance(child, dict):
            child = target[key] = {}
        target = child
    target[keys[-1]] = new


def scale_of(obj: dict[str, Any], scale: dict[str, Any]) -> dict[str, Any]:
    """The ``autoscaling/v1`` Scale of a custom resource, from the CRD's replica paths."""
    meta = obj["metadata"]
    replicas = get_path(obj, scale.get("specReplicasPath", ""))
    status: dict[str, Any] = {"replicas": get_path(obj, scale.get("statusReplicasPath", "")) or 0}
    selector = scale.get("labelSelectorPath")
    if selector and isinstance(get_path(obj, selector), str):
        status["selector"] = get_path(obj, selector)
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": replicas} if isinstance(replicas, int) else {},
        "status": status,
    }


# --- OpenAPI -----------------------------------------------------------------------------------------

_META = "io.k8s.apimachinery.pkg.apis.meta.v1"
API_VERSION_DESCRIPTION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
    "recognized schemas to the latest internal value, and may reject unrecognized values. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"
)
KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this "
    "from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)
METADATA_DESCRIPTION = (
    "Standard object's metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)


def definition_name(rt: ResourceType, kind: str = "") -> str:
    """kube's name for a custom kind's schema: the group reversed, the version, the kind
    (``widgets.example.com`` v1 -> ``com.example.v1.Widget``)."""
    group = ".".join(reversed(rt.group.split(".")))
    return f"{group}.{rt.version}.{kind or rt.kind}"


def _ref(target: str, ref_prefix: str, v3: bool, description: str) -> dict[str, Any]:
    if v3:
        return {"allOf": [{"$ref": ref_prefix + target}], "description": description}
    return {"$ref": ref_prefix + target, "description": description}


def openapi_definitions(rt: ResourceType, ref_prefix: str, v3: bool) -> dict[str, Any]:
    """The kind's and its list's schemas as kube-apiserver publishes a CRD's (``builder.go``)."""
    assert rt.custom is not None
    schema = structural.openapi_schema(rt.custom.schema)
    properties = dict(schema.get("properties") or {})
    properties["apiVersion"] = {"description": API_VERSION_DESCRIPTION, "type": "string"}
    properties["kind"] = {"description": KIND_DESCRIPTION, "type": "string"}
    properties["metadata"] = _ref(f"{_META}.ObjectMeta", ref_prefix, v3, METADATA_DESCRIPTION)
    kind_schema = {
        **schema,
        "type": "object",
        "properties": dict(sorted(properties.items())),
        "x-kubernetes-group-version-kind": [{"group": rt.group, "kind": rt.kind, "version": rt.version}],
    }
    list_kind = rt.custom.list_kind
    list_schema = {
        "description": f"{list_kind} is a list of {rt.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"description": API_VERSION_DESCRIPTION, "type": "string"},
            "items": {
                "description": f"List of {rt.resource}. More info: "
                "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md",
                "type": "array",
                "items": {"$ref": ref_prefix + definition_name(rt)},
            },
            "kind": {"description": KIND_DESCRIPTION, "type": "string"},
            "metadata": _ref(f"{_META}.ListMeta", ref_prefix, v3, METADATA_DESCRIPTION),
        },
        "x-kubernetes-group-version-kind": [{"group": rt.group, "kind": list_kind, "version": rt.version}],
    }
    return {definition_name(rt): kind_schema, definition_name(rt, list_kind): list_schema}
