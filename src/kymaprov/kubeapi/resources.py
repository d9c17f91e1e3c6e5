"""The resource registry: which kinds exist, their scope, verbs and subresources.

Built at import from Kubernetes 1.33's published definitions (``kinds.py``), not written per kind.
One table drives discovery (legacy and aggregated), OpenAPI, URL parsing and the object store; what a
kind *does* (defaulting, validation, status, immutable fields) is its strategy in ``strategies.py``.

A runtime sees the built-ins plus the resources of its own established CustomResourceDefinitions: a
``Registry`` (``crds.registry(store)`` builds one per runtime from the database).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kymaprov.kubeapi.kinds import CATEGORIES, SHORT_NAMES, load_kinds

CRUD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
STATUS_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class Subresource:
    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str | None = None  # when the response kind lives in another group (TokenRequest)
    version: str | None = None


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    resource: str
    kind: str
    namespaced: bool
    singular: str
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = CRUD_VERBS
    subresources: tuple[Subresource, ...] = ()
    stored: bool = True  # False for virtual kinds (reviews) that are only ever created
    returns_deleted_object: bool = False  # DELETE answers the object rather than a Status
    has_generation: bool = False
    sealed: bool = False  # stored encrypted (Kubernetes' encryption at rest); reads decrypt
    custom: CustomInfo | None = field(default=None, compare=False)  # served from a CRD

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    def subresource(self, name: str) -> Subresource | None:
        return next((s for s in self.subresources if s.name == name), None)

    @property
    def has_status(self) -> bool:
        return self.subresource("status") is not None


@dataclass(frozen=True, eq=False)
class CustomInfo:
    """What a CustomResourceDefinition says about one served version of its resource."""

    crd: str  # the CRD's name (``<plural>.<group>``)
    crd_uid: str
    schema: dict[str, Any]  # the version's openAPIV3Schema ({} when it has none)
    columns: tuple[dict[str, Any], ...]  # additionalPrinterColumns
    scale: dict[str, Any] | None  # the scale subresource's paths
    list_kind: str
    fingerprint: str  # changes whenever anything above does


# connect subresources, which the published resource definitions leave out (kube lists them)
_CONNECT = {
    ("", "pods"): (
        Subresource("attach", "PodAttachOptions", ("create", "get")),
        Subresource("exec", "PodExecOptions", ("create", "get")),
        Subresource("portforward", "PodPortForwardOptions", ("create", "get")),
    )
}


def _build() -> tuple[ResourceType, ...]:
    """The registry from the 1.33 definitions (``kinds.py``); the behaviour of a kind is its strategy."""
    built = []
    for info in load_kinds():
        key = (info.group, info.plural)
        subresources = _CONNECT.get(key, ()) + tuple(
            Subresource(
                sub.name,
                sub.kind,
                sub.verbs,
                None if (sub.group, sub.version) == (info.group, info.version) else sub.group,
                None if (sub.group, sub.version) == (info.group, info.version) else sub.version,
            )
            for sub in info.subresources
        )
        subresources = tuple(sorted(subresources, key=lambda s: s.name))
        built.append(
            ResourceType(
                info.group,
                info.version,
                info.plural,
                info.kind,
                info.namespaced,
                info.kind.lower(),
                SHORT_NAMES.get(key, ()),
                CATEGORIES.get(key, ()),
                verbs=info.verbs,
                subresources=subresources,
                stored=info.verbs != ("create",),
                returns_deleted_object=key in _RETURNS_DELETED,
                has_generation=key in _GENERATION or (info.group != "" and key not in _NO_GENERATION),
                sealed=key == ("", "secrets"),
            )
        )
    return tuple(built)


RBAC = "rbac.authorization.k8s.io"
# stores with ReturnDeletedObject (pkg/registry/core/*/storage): DELETE answers the object
_RETURNS_DELETED = {("", "pods"), ("", "services"), ("", "serviceaccounts"), ("", "namespaces")}
# core kinds whose strategies set metadata.generation (other groups' kinds all do, but these)
_GENERATION = {("", "pods"), ("", "replicationcontrollers")}
_NO_GENERATION = {
    (RBAC, "roles"), (RBAC, "clusterroles"), (RBAC, "rolebindings"), (RBAC, "clusterrolebindings"),
    ("coordination.k8s.io", "leases"), ("events.k8s.io", "events"),
    ("scheduling.k8s.io", "priorityclasses"), ("storage.k8s.io", "storageclasses"),
    ("storage.k8s.io", "csidrivers"), ("storage.k8s.io", "csinodes"),
    ("storage.k8s.io", "csistoragecapacities"), ("node.k8s.io", "runtimeclasses"),
    ("authentication.k8s.io", "selfsubjectreviews"), ("authentication.k8s.io", "tokenreviews"),
    ("discovery.k8s.io", "endpointslices"), ("apps", "controllerrevisions"),
}  # fmt: skip

RESOURCES: tuple[ResourceType, ...] = _build()

_KUBE_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key of Kubernetes' version priority: GA, then beta, then alpha (each newest first), then the
    rest alphabetically (``apimachinery/pkg/version.CompareKubeAwareVersionStrings``)."""
    match = _KUBE_VERSION.match(version)
    if match is None:
        return (3, 0, 0, version)
    major, stage, minor = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0), "")


class Registry:
    """The resources one runtime serves: the built-ins, then its CRDs' (by group, then version)."""

    def __init__(self, custom: Iterable[ResourceType] = ()) -> None:
        self.custom = tuple(custom)
        self.resources = RESOURCES + self.custom
        self._by_key = {(r.group, r.version, r.resource): r for r in RESOURCES}
        for r in self.custom:
            self._by_key.setdefault((r.group, r.version, r.resource), r)
        # group -> versions, in discovery's order (core first; the preferred version first)
        self.group_versions: dict[str, list[str]] = {}
        for r in (*RESOURCES, *sorted(self.custom, key=lambda r: r.group)):
            versions = self.group_versions.setdefault(r.group, [])
            if r.version not in versions:
                versions.append(r.version)
                versions.sort(key=version_priority)
        digest = hashlib.sha256()
        for r in self.custom:
            digest.update(r.custom.fingerprint.encode() if r.custom else b"")
        self.fingerprint = digest.hexdigest() if self.custom else ""

    def lookup(self, group: str, version: str, resource: str) -> ResourceType | None:
        return self._by_key.get((group, version, resource))

    def resources_of(self, group: str, version: str) -> list[ResourceType]:
        return [r for r in self.resources if r.group == group and r.version == version]

    def custom_of(self, group: str, version: str) -> list[ResourceType]:
        return [r for r in self.custom if r.group == group and r.version == version]

    def by_resource(self, group: str, resource: str) -> ResourceType | None:
        """The preferred version of ``group/resource`` (RBAC and access reviews name no version)."""
        for version in self.group_versions.get(group, []):
            rt = self._by_key.get((group, version, resource))
            if rt is not None:
                return rt
        return None


BUILTIN = Registry()
GROUP_VERSIONS = BUILTIN.group_versions
_BY_KEY = BUILTIN._by_key


def lookup(group: str, version: str, resource: str) -> ResourceType | None:
    """A built-in resource (``Registry.lookup`` also knows a runtime's custom resources)."""
    return BUILTIN.lookup(group, version, resource)


def resources_of(group: str, version: str) -> list[ResourceType]:
    return BUILTIN.resources_of(group, version)


def by_resource(group: str, resource: str) -> ResourceType | None:
    """The preferred version of ``group/resource`` (RBAC and access reviews name no version)."""
    return BUILTIN.by_resource(group, resource)


NAMESPACES = _BY_KEY[("", "v1", "namespaces")]
NODES = _BY_KEY[("", "v1", "nodes")]
CONFIGMAPS = _BY_KEY[("", "v1", "configmaps")]
LEASES = _BY_KEY[("coordination.k8s.io", "v1", "leases")]
PODS = _BY_KEY[("", "v1", "pods")]
PDBS = _BY_KEY[("policy", "v1", "poddisruptionbudgets")]
SERVICE_ACCOUNTS = _BY_KEY[("", "v1", "serviceaccounts")]
SECRETS = _BY_KEY[("", "v1", "secrets")]
CLUSTER_ROLES = _BY_KEY[(RBAC, "v1", "clusterroles")]
CLUSTER_ROLE_BINDINGS = _BY_KEY[(RBAC, "v1", "clusterrolebindings")]
ROLES = _BY_KEY[(RBAC, "v1", "roles")]
ROLE_BINDINGS = _BY_KEY[(RBAC, "v1", "rolebindings")]
DEPLOYMENTS = _BY_KEY[("apps", "v1", "deployments")]
CRDS = _BY_KEY[("apiextensions.k8s.io", "v1", "customresourcedefinitions")]
