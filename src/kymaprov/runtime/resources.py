"""The resource registry: which kinds exist, their scope, verbs and subresources.

One table drives discovery (legacy and aggregated), OpenAPI, URL parsing and the object store, so a
kind added here is served everywhere at once.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def _status(kind: str) -> Subresource:
    return Subresource("status", kind, STATUS_VERBS)


_SCALE = Subresource("scale", "Scale", STATUS_VERBS, "autoscaling", "v1")
RBAC = "rbac.authorization.k8s.io"

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "configmaps", "ConfigMap", True, "configmap", ("cm",)),
    ResourceType("", "v1", "events", "Event", True, "event", ("ev",)),
    ResourceType(
        "", "v1", "namespaces", "Namespace", False, "namespace", ("ns",),
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
        subresources=(_status("Namespace"),),
        returns_deleted_object=True,
    ),
    ResourceType(
        "", "v1", "pods", "Pod", True, "pod", ("po",), ("all",),
        subresources=(_status("Pod"),),
        returns_deleted_object=True,
        has_generation=True,
    ),
    ResourceType("", "v1", "secrets", "Secret", True, "secret", sealed=True),
    ResourceType(
        "", "v1", "serviceaccounts", "ServiceAccount", True, "serviceaccount", ("sa",),
        subresources=(Subresource("token", "TokenRequest", ("create",), "authentication.k8s.io", "v1"),),
        returns_deleted_object=True,
    ),
    ResourceType(
        "", "v1", "services", "Service", True, "service", ("svc",), ("all",),
        subresources=(_status("Service"),),
        returns_deleted_object=True,
    ),
    ResourceType(
        "apps", "v1", "deployments", "Deployment", True, "deployment", ("deploy",), ("all",),
        subresources=(_status("Deployment"), _SCALE),
        has_generation=True,
    ),
    ResourceType(RBAC, "v1", "clusterrolebindings", "ClusterRoleBinding", False, "clusterrolebinding"),
    ResourceType(RBAC, "v1", "clusterroles", "ClusterRole", False, "clusterrole"),
    ResourceType(RBAC, "v1", "rolebindings", "RoleBinding", True, "rolebinding"),
    ResourceType(RBAC, "v1", "roles", "Role", True, "role"),
    ResourceType(
        "authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False,
        "selfsubjectreview", verbs=("create",), stored=False,
    ),
    ResourceType(
        "authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False,
        "selfsubjectaccessreview", verbs=("create",), stored=False,
    ),
    ResourceType(
        "authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", False,
        "selfsubjectrulesreview", verbs=("create",), stored=False,
    ),
)  # fmt: skip

_BY_KEY = {(r.group, r.version, r.resource): r for r in RESOURCES}

# group -> versions, in the order discovery lists them (core first)
GROUP_VERSIONS: dict[str, list[str]] = {}
for _r in RESOURCES:
    versions = GROUP_VERSIONS.setdefault(_r.group, [])
    if _r.version not in versions:
        versions.append(_r.version)


def lookup(group: str, version: str, resource: str) -> ResourceType | None:
    return _BY_KEY.get((group, version, resource))


def resources_of(group: str, version: str) -> list[ResourceType]:
    return [r for r in RESOURCES if r.group == group and r.version == version]


def by_resource(group: str, resource: str) -> ResourceType | None:
    """The served version of ``group/resource`` (RBAC and access reviews name no version)."""
    return next((r for r in RESOURCES if r.group == group and r.resource == resource), None)


NAMESPACES = _BY_KEY[("", "v1", "namespaces")]
PODS = _BY_KEY[("", "v1", "pods")]
SERVICE_ACCOUNTS = _BY_KEY[("", "v1", "serviceaccounts")]
SECRETS = _BY_KEY[("", "v1", "secrets")]
CLUSTER_ROLES = _BY_KEY[(RBAC, "v1", "clusterroles")]
CLUSTER_ROLE_BINDINGS = _BY_KEY[(RBAC, "v1", "clusterrolebindings")]
ROLES = _BY_KEY[(RBAC, "v1", "roles")]
ROLE_BINDINGS = _BY_KEY[(RBAC, "v1", "rolebindings")]
DEPLOYMENTS = _BY_KEY[("apps", "v1", "deployments")]
