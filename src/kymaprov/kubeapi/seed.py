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
    for name in NAMESPACE_NAMES:
        store.create(NAMESPACES, "", {"metadata": {"name": name}}, known_valid=True)
    for role, rules in CLUSTER_ROLE_RULES.items():
        store.create(
            CLUSTER_ROLES,
            "",
            {"metadata": {"name": role, "labels": _BOOTSTRAP}, "rules": rules},
            known_valid=True,
        )
    for role, groups in CLUSTER_ROLE_BINDINGS_SEED.items():
        store.create(
            CLUSTER_ROLE_BINDINGS,
            "",
            {
                "metadata": {"name": role, "labels": _BOOTSTRAP},
                "roleRef": {"apiGroup": RBAC_API, "kind": "ClusterRole", "name": role},
                "subjects": [{"apiGroup": RBAC_API, "kind": "Group", "name": g} for g in groups],
            },
            known_valid=True,
        )
    for index in range(max(shape.nodes, 1)):
        worker = store.create(NODES, "", nodes.node(shape, cluster_id, index, store.now), known_valid=True)
        store.create(LEASES, nodes.LEASE_NAMESPACE, nodes.lease(worker, store.now), known_valid=True)
    seed_kyma(store)


def seed_kyma(store: ObjectStore) -> None:
    """Kyma as KEB leaves a new runtime: the Kyma CRD and CR ``default`` with the default modules,
    whose CRDs and manager Deployments are installed; the Kyma controller reports their state."""
    kyma_crd = store.create(CRDS, "", kymamodules.KYMA_CRD, known_valid=True)
    for name in kymamodules.DEFAULT_MODULES:
        module = kymamodules.MODULES[name]
        for definition in module.crds:
            store.create(CRDS, "", definition, known_valid=True)
        for deployment, image in module.deployments:
            store.create(
                DEPLOYMENTS,
                kymamodules.KYMA_NAMESPACE,
                kymamodules.deployment(name, deployment, image),
                known_valid=True,
            )
    kymas = next(rt for rt in crds.custom_types(kyma_crd) if rt.version == kymamodules.KYMA_VERSION)
    store.create(kymas, kymamodules.KYMA_NAMESPACE, kymamodules.kyma())  # decoding applies its defaults
