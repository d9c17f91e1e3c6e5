"""What a new cluster starts with: system namespaces (each gets its ``default`` ServiceAccount), the
standard roles and bindings (discovery for every authenticated user, as real clusters grant), the
worker Nodes of its shape with their Leases, and Kyma with its default modules (``kymamodules``)."""

from __future__ import annotations

from typing import Any

from kymaprov.kubeapi import crds, kymamodules, nodes
from kymaprov.kubeapi.nodes import WorkerPool
from kymaprov.kubeapi.objects import ObjectStore
from kymaprov.kubeapi.resources import (
    CLUSTER_ROLE_BINDINGS,
    CLUSTER_ROLES,
    CRDS,
    DEPLOYMENTS,
    LEASES,
    NAMESPACES,
    NODES,
    ResourceType,
)

NAMESPACE_NAMES = ("default", "kube-system", "kube-public", "kube-node-lease", "kyma-system")
RBAC_API = "rbac.authorization.k8s.io"
_BOOTSTRAP = {"kubernetes.io/bootstrapping": "rbac-defaults"}
_READ = ["get", "list", "watch"]
_WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_WORKLOADS = [
    "pods",
    "pods/status",
    "configmaps",
    "services",
    "services/status",
    "serviceaccounts",
    "events",
    "deployments",
    "deployments/status",
]

CLUSTER_ROLE_RULES: dict[str, list[dict[str, Any]]] = {
    "cluster-admin": [
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
        {"nonResourceURLs": ["*"], "verbs": ["*"]},
    ],
    "admin": [
        {"apiGroups": ["", "apps"], "resources": [*_WORKLOADS, "secrets"], "verbs": _READ + _WRITE},
        {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["namespaces", "namespaces/status"], "verbs": _READ},
        {"apiGroups": [RBAC_API], "resources": ["roles", "rolebindings"], "verbs": _READ + _WRITE},
    ],
    "edit": [
        {"apiGroups": ["", "apps"], "resources": [*_WORKLOADS, "secrets"], "verbs": _READ + _WRITE},
        {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["namespaces", "namespaces/status"], "verbs": _READ},
    ],
    "view": [
        {"apiGroups": ["", "apps"], "resources": _WORKLOADS, "verbs": _READ},
        {"apiGroups": [""], "resources": ["namespaces", "namespaces/status"], "verbs": _READ},
    ],
    "system:discovery": [
        {
            "nonResourceURLs": [
                "/api",
                "/api/*",
                "/apis",
                "/apis/*",
                "/healthz",
                "/livez",
                "/openapi",
                "/openapi/*",
                "/readyz",
                "/version",
                "/version/",
            ],
            "verbs": ["get"],
        }
    ],
    "system:public-info-viewer": [
        {"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}
    ],
    "system:basic-user": [
        {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
        {
            "apiGroups": ["authorization.k8s.io"],
            "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            "verbs": ["create"],
        },
    ],
}

CLUSTER_ROLE_BINDINGS_SEED: dict[str, list[str]] = {  # binding = role name -> groups
    "cluster-admin": ["system:masters"],
    "system:discovery": ["system:authenticated"],
    "system:public-info-viewer": ["system:authenticated", "system:unauthenticated"],
    "system:basic-user": ["system:authenticated"],
}


def seed_cluster(store: ObjectStore, cluster_id: str, shape: WorkerPool) -> None:
    """A new runtime's objects, made in the transaction that creates it: the namespaces through
    ``create`` (each gets its ``default`` ServiceAccount), the rest in two ``seed`` batches (a Lease
    names its Node's uid)."""
    for name in NAMESPACE_NAMES:
        store.create(NAMESPACES, "", {"metadata": {"name": name}})
    rbac = [
        (CLUSTER_ROLES, "", {"metadata": {"name": role, "labels": _BOOTSTRAP}, "rules": rules})
        for role, rules in CLUSTER_ROLE_RULES.items()
    ] + [
        (
            CLUSTER_ROLE_BINDINGS,
            "",
            {
                "metadata": {"name": role, "labels": _BOOTSTRAP},
                "roleRef": {"apiGroup": RBAC_API, "kind": "ClusterRole", "name": role},
                "subjects": [{"apiGroup": RBAC_API, "kind": "Group", "name": g} for g in groups],
            },
        )
        for role, groups in CLUSTER_ROLE_BINDINGS_SEED.items()
    ]
    workers = [(NODES, "", nodes.node(shape, cluster_id, i, store.now)) for i in range(max(shape.nodes, 1))]
    made = store.seed([*rbac, *workers])
    leases = [(LEASES, nodes.LEASE_NAMESPACE, nodes.lease(node, store.now)) for node in made[len(rbac) :]]
    seed_kyma(store, leases)


def seed_kyma(store: ObjectStore, first: list[tuple[ResourceType, str, dict[str, Any]]]) -> None:
    """Kyma as KEB leaves a new runtime: the Kyma CRD and CR ``default`` with the default modules,
    whose CRDs and manager Deployments are installed; the Kyma controller reports their state.
    ``first``: more seed objects for the same batch."""
    batch: list[tuple[ResourceType, str, dict[str, Any]]] = [*first, (CRDS, "", kymamodules.KYMA_CRD)]
    for name in kymamodules.DEFAULT_MODULES:
        module = kymamodules.MODULES[name]
        batch += [(CRDS, "", definition) for definition in module.crds]
        batch += [
            (DEPLOYMENTS, kymamodules.KYMA_NAMESPACE, kymamodules.deployment(name, deployment, image))
            for deployment, image in module.deployments
        ]
    kyma_crd = store.seed(batch)[len(first)]
    kymas = next(rt for rt in crds.custom_types(kyma_crd) if rt.version == kymamodules.KYMA_VERSION)
    store.create(kymas, kymamodules.KYMA_NAMESPACE, kymamodules.kyma())  # decoding applies its defaults
