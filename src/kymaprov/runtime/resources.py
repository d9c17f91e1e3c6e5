"""The resource registry: which kinds exist, their scope, verbs and subresources.

Built at import from Kubernetes 1.33's published definitions (``kinds.py``), not written per kind.
One table drives discovery (legacy and aggregated), OpenAPI, URL parsing and the object store; what a
kind *does* (defaulting, validation, status, immutable fields) is its strategy in ``strategies.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from kymaprov.runtime.kinds import CATEGORIES, SHORT_NAMES, load_kinds

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


def _build() -> tuple[ResourceType, ...]:
    """The registry from the 1.33 definitions (``kinds.py``); the behaviour of a kind is its strategy."""
    built = []
    for info in load_kinds():
        key = (info.group, info.plural)
        subresources = tuple(
            Subresource(
                sub.name,
                sub.kind,
                sub.verbs,
                None if (sub.group, sub.version) == (info.group, info.version) else sub.group,
                None if (sub.group, sub.version) == (info.group, info.version) else sub.version,
            )
            for sub in info.subresources
        )
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

_BY_KEY = {(r.group, r.version, r.resource): r for r in RESOURCES}

# group -> versions, in the order discovery lists them (core first; the newest, preferred, version first)
GROUP_VERSIONS: dict[str, list[str]] = {}
for _r in RESOURCES:
    versions = GROUP_VERSIONS.setdefault(_r.group, [])
    if _r.version not in versions:
        versions.append(_r.version)
        versions.sort(key=lambda v: -int(v[1:]))


def lookup(group: str, version: str, resource: str) -> ResourceType | None:
    return _BY_KEY.get((group, version, resource))


def resources_of(group: str, version: str) -> list[ResourceType]:
    return [r for r in RESOURCES if r.group == group and r.version == version]


def by_resource(group: str, resource: str) -> ResourceType | None:
    """The preferred version of ``group/resource`` (RBAC and access reviews name no version)."""
    for version in GROUP_VERSIONS.get(group, []):
        rt = _BY_KEY.get((group, version, resource))
        if rt is not None:
            return rt
    return None


NAMESPACES = _BY_KEY[("", "v1", "namespaces")]
PODS = _BY_KEY[("", "v1", "pods")]
SERVICE_ACCOUNTS = _BY_KEY[("", "v1", "serviceaccounts")]
SECRETS = _BY_KEY[("", "v1", "secrets")]
CLUSTER_ROLES = _BY_KEY[(RBAC, "v1", "clusterroles")]
CLUSTER_ROLE_BINDINGS = _BY_KEY[(RBAC, "v1", "clusterrolebindings")]
ROLES = _BY_KEY[(RBAC, "v1", "roles")]
ROLE_BINDINGS = _BY_KEY[(RBAC, "v1", "rolebindings")]
DEPLOYMENTS = _BY_KEY[("apps", "v1", "deployments")]
