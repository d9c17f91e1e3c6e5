"""What a new cluster starts with: system namespaces (each gets its ``default`` ServiceAccount), the
standard roles and bindings (discovery for every authenticated user, as real clusters grant), the
worker Nodes of its shape with their Leases, and a few Kyma pods (on those nodes)."""

from __future__ import annotations

import hashlib
from typing import Any

from kymaprov.kubeapi import nodes
from kymaprov.kubeapi.controllers.podstatus import pod_state
from kymaprov.kubeapi.nodes import WorkerPool
from kymaprov.kubeapi.objects import ObjectStore
from kymaprov.kubeapi.resources import (
    CLUSTER_ROLE_BINDINGS,
    CLUSTER_ROLES,
    LEASES,
    NAMESPACES,
    NODES,
    PODS,
)
from kymaprov.kubeapi.times import rfc3339

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

STARTED_BEFORE_SECONDS = 5
_KYMA_PODS = (
    ("btp-manager-controller-manager", "europe-docker.pkg.dev/kyma-project/prod/btp-manager:1.2.11"),
    (
        "sap-btp-operator-controller-manager",
        "europe-docker.pkg.dev/kyma-project/prod/sap-btp-service-operator:v0.6.8",
    ),
)


def seed_cluster(store: ObjectStore, cluster_id: str, shape: WorkerPool) -> None:
    for name in NAMESPACE_NAMES:
        store.create(NAMESPACES, "", {"metadata": {"name": name}})
    for role, rules in CLUSTER_ROLE_RULES.items():
        store.create(CLUSTER_ROLES, "", {"metadata": {"name": role, "labels": _BOOTSTRAP}, "rules": rules})
    for role, groups in CLUSTER_ROLE_BINDINGS_SEED.items():
        store.create(
            CLUSTER_ROLE_BINDINGS,
            "",
            {
                "metadata": {"name": role, "labels": _BOOTSTRAP},
                "roleRef": {"apiGroup": RBAC_API, "kind": "ClusterRole", "name": role},
                "subjects": [{"apiGroup": RBAC_API, "kind": "Group", "name": g} for g in groups],
            },
        )
    workers = []
    for index in range(max(shape.nodes, 1)):
        worker = store.create(NODES, "", nodes.node(shape, cluster_id, index, store.now))
        store.create(LEASES, nodes.LEASE_NAMESPACE, nodes.lease(worker, store.now))
        workers.append(worker)
    for index, (name, image) in enumerate(_KYMA_PODS):
        host = workers[index % len(workers)]
        created = store.create(PODS, "kyma-system", _kyma_pod(cluster_id, name, image, host))
        # as the kubelet stand-in reports it, started before the cluster was handed over
        created["status"]["startTime"] = rfc3339(store.now - STARTED_BEFORE_SECONDS)
        ip = f"100.64.{index % len(workers)}.{10 + index}"  # in the node's podCIDR
        created["status"] = pod_state(
            created, host["status"]["addresses"][0]["address"], ip, [], store.now
        ).status
        store.update(PODS, "kyma-system", created["metadata"]["name"], created, "status")


def _kyma_pod(cluster_id: str, app: str, image: str, host: dict[str, Any]) -> dict[str, Any]:
    digest = hashlib.sha256(f"{cluster_id}/{app}".encode()).hexdigest()
    return {
        "metadata": {
            "name": f"{app}-{digest[:10]}-{digest[10:15]}",
            "labels": {"app.kubernetes.io/name": app, "pod-template-hash": digest[:10]},
        },
        "spec": {
            "containers": [{"name": "manager", "image": image}],
            "serviceAccountName": "default",
            "nodeName": host["metadata"]["name"],
        },
    }
