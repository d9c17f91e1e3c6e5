"""``ClusterApiRuntimes``: runtimes made by Cluster API on a management cluster, from a ClusterClass.

Each runtime is one ``Cluster`` (``cluster.x-k8s.io/v1beta1``) with a managed topology: the plan's
ClusterClass and Kubernetes version, the control plane's replicas, one MachineDeployment of the
configured worker class (its size as the cluster autoscaler's min/max annotations, or fixed replicas),
the plan's region, machine type, zones and node CIDR as ClusterClass variables, and the pod and service
CIDRs as ``clusterNetwork``. Cluster API's controllers do the rest; kymaprov follows ``status.phase``
and the conditions, and reaches the new cluster through the ``<name>-kubeconfig`` Secret they write.

The Cluster's name is derived from the runtime's id, so a step repeated after a crash finds the Cluster
it made instead of making a second: the backend keeps no state of its own.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kymaprov.backends.base import DONE, ClusterAccess, ClusterShape, Progress
from kymaprov.backends.kubeclient import KubeClient, KubeClientError
from kymaprov.backends.kubeconfig import KubeconfigError, parse_access

log = logging.getLogger(__name__)

GROUP_VERSION = "cluster.x-k8s.io/v1beta1"
RUNTIME_ID = "kyma-project.io/runtime-id"  # the label KIM puts on what it makes for a runtime
MANAGED_BY = "kymaprov.io/backend"
AUTOSCALER_MIN = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size"
AUTOSCALER_MAX = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"
WORKERS = "worker"  # the one MachineDeployment's name in the topology

# the settings a plan may override (``plans: {aws: {...}}``) and the backend-wide defaults
_SETTINGS: dict[str, Any] = {
    "clusterClass": {"type": "string", "minLength": 1},
    "classNamespace": {"type": "string", "minLength": 1},
    "kubernetesVersion": {"type": "string", "pattern": r"^v\d+\.\d+\.\d+"},
    "controlPlaneReplicas": {"type": "integer", "minimum": 1},
    "workerClass": {"type": "string", "minLength": 1},
    "autoscaler": {"type": "boolean"},
    "variables": {"type": "object"},
    "shapeVariables": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            key: {"type": ["string", "null"], "minLength": 1}
            for key in ("region", "machineType", "zones", "nodesCIDR")
        },
    },
}
# the plan's parameters as ClusterClass variables: each named as here unless ``shapeVariables`` renames
# it or (null) leaves it out, for a ClusterClass that does not declare it
SHAPE_VARIABLES = {
    "region": "region",
    "machineType": "machineType",
    "zones": "zones",
    "nodesCIDR": "nodesCIDR",
}
SCHEMA: dict[str, Any] = {
    "additionalProperties": False,
    "required": ["kubeconfig", "namespace", "kubernetesVersion"],
    "properties": {
        "type": {},
        "kubeconfig": {"type": "string", "minLength": 1},
        "context": {"type": "string", "minLength": 1},
        "namespace": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
        "pollSeconds": {"type": "number", "exclusiveMinimum": 0},
        **_SETTINGS,
        "plans": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": _SETTINGS,
            },
        },
    },
}


@dataclass(frozen=True)
class ClassSettings:
    """How one plan's Clusters are made."""

    cluster_class: str
    kubernetes_version: str
    class_namespace: str | None = None
    control_plane_replicas: int = 1
    worker_class: str = "default-worker"
    autoscaler: bool = True
    variables: dict[str, Any] = field(default_factory=dict)  # fixed ClusterClass variables
    shape_variables: dict[str, str] = field(default_factory=lambda: dict(SHAPE_VARIABLES))


@dataclass(frozen=True)
class ClusterApiConfig:
    management: ClusterAccess
    namespace: str
    plans: dict[str, ClassSettings]  # by plan name; "" is the default for plans not listed
    poll_seconds: float = 10.0

    def settings(self, plan: str) -> ClassSettings | None:
        return self.plans.get(plan) or self.plans.get("")


def class_settings(spec: dict[str, Any], plans: list[str]) -> dict[str, ClassSettings]:
    """Each plan's settings (the backend's, overridden by the plan's); a plan without a ClusterClass
    raises ValueError naming it, "" stands for every plan not named."""
    result: dict[str, ClassSettings] = {}
    for plan in ["", *plans]:
        own: dict[str, Any] = (spec.get("plans") or {}).get(plan, {}) if plan else {}
        merged = {
            **spec,
            **own,
            "variables": {**(spec.get("variables") or {}), **(own.get("variables") or {})},
            "shapeVariables": {
                **SHAPE_VARIABLES,
                **(spec.get("shapeVariables") or {}),
                **(own.get("shapeVariables") or {}),
            },
        }
        if not merged.get("clusterClass"):
            if plan:
                raise ValueError(f"plans/{plan}: no clusterClass (set it here or for the whole backend)")
            continue
        result[plan] = ClassSettings(
            cluster_class=merged["clusterClass"],
            kubernetes_version=merged["kubernetesVersion"],
            class_namespace=merged.get("classNamespace"),
            control_plane_replicas=merged.get("controlPlaneReplicas", 1),
            worker_class=merged.get("workerClass", "default-worker"),
            autoscaler=merged.get("autoscaler", True),
            variables=merged["variables"],
            shape_variables={k: v for k, v in merged["shapeVariables"].items() if v is not None},
        )
    return result


def cluster_name(cluster_id: str) -> str:
    """The Cluster's name: the runtime's id, so every attempt of a create names the same Cluster."""
    return f"kyma-{cluster_id}"[:63].rstrip("-")


def _condition(cluster: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in (cluster.get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == kind:
            return condition
    return None


def _is_true(cluster: dict[str, Any], kind: str) -> bool:
    condition = _condition(cluster, kind)
    return condition is not None and condition.get("status") == "True"


def _waiting_for(cluster: dict[str, Any]) -> list[str]:
    """What stands between the Cluster and a usable control plane, as Cluster API reports it."""
    status = cluster.get("status") or {}
    pending = []
    for kind, ready, what in (
        ("InfrastructureReady", status.get("infrastructureReady"), "infrastructure"),
        ("ControlPlaneInitialized", None, "control plane initialization"),
        ("ControlPlaneReady", status.get("controlPlaneReady"), "control plane"),
    ):
        if _is_true(cluster, kind) or ready is True:
            continue
        condition = _condition(cluster, kind) or {}
        detail = condition.get("message") or condition.get("reason")
        pending.append(f"{what} ({detail})" if detail else what)
    return pending


class ClusterApiRuntimes:
    """A ``RuntimeBackend`` making ``Cluster`` objects in one namespace of a management cluster."""

    def __init__(self, name: str, config: ClusterApiConfig) -> None:
        self.name = name
        self.config = config
        self._clusters = f"/apis/{GROUP_VERSION}/namespaces/{config.namespace}/clusters"
        self._secrets = f"/api/v1/namespaces/{config.namespace}/secrets"
        self._client: KubeClient | None = None

    @contextmanager
    def _kube(self) -> Iterator[KubeClient]:
        """One keep-alive client for the management cluster, shared by every call (``access`` runs
        for each call the service makes to a runtime)."""
        if self._client is None:
            self._client = KubeClient(self.config.management)
        yield self._client

    def _get(self, kube: KubeClient, cluster_id: str) -> dict[str, Any] | None:
        try:
            return kube.get(f"{self._clusters}/{cluster_name(cluster_id)}")
        except KubeClientError as exc:
            if exc.status == 404:
                return None
            raise

    def _wait(self, message: str) -> Progress:
        return Progress(False, message, retry_after=self.config.poll_seconds)

    def _unreachable(self, exc: KubeClientError) -> Progress:
        """A failed call: retried while it may pass (no connection, 5xx, 409, 429), else a failure."""
        if exc.status in (0, 409, 429) or exc.status >= 500:
            return self._wait(f"The Cluster API management cluster did not answer, retrying: {exc}")
        return Progress(False, failed=f"The Cluster API management cluster refused the request: {exc}")

    # --- the Cluster ----------------------------------------------------------------------------

    def _topology(self, settings: ClassSettings, shape: ClusterShape) -> dict[str, Any]:
        workers: dict[str, Any] = {"class": settings.worker_class, "name": WORKERS}
        if settings.autoscaler:  # the cluster autoscaler sizes it; Cluster API starts it at the minimum
            annotations = {AUTOSCALER_MIN: str(shape.nodes), AUTOSCALER_MAX: str(shape.max_nodes)}
            workers["metadata"] = {"annotations": annotations}
        else:
            workers["replicas"] = shape.nodes
        values = {
            "region": shape.region,
            "machineType": shape.machine_type,
            "zones": list(shape.zones),
            "nodesCIDR": shape.nodes_cidr,
        }
        variables = {name: values[key] for key, name in settings.shape_variables.items()}
        variables.update(settings.variables)
        topology: dict[str, Any] = {
            "class": settings.cluster_class,
            "version": settings.kubernetes_version,
            "controlPlane": {"replicas": settings.control_plane_replicas},
            "workers": {"machineDeployments": [workers]},
            "variables": [{"name": k, "value": v} for k, v in variables.items()],
        }
        if settings.class_namespace:
            topology["classNamespace"] = settings.class_namespace
        return topology

    def _cluster(
        self, cluster_id: str, name: str, settings: ClassSettings, shape: ClusterShape
    ) -> dict[str, Any]:
        return {
            "apiVersion": GROUP_VERSION,
            "kind": "Cluster",
            "metadata": {
                "name": cluster_name(cluster_id),
                "namespace": self.config.namespace,
                "labels": {RUNTIME_ID: cluster_id, MANAGED_BY: self.name},
                "annotations": {"kyma-project.io/runtime-name": name, "kyma-project.io/plan": shape.plan},
            },
            "spec": {
                "clusterNetwork": {
                    "pods": {"cidrBlocks": [shape.pods_cidr]},
                    "services": {"cidrBlocks": [shape.services_cidr]},
                },
                "topology": self._topology(settings, shape),
            },
        }

    # --- RuntimeBackend -------------------------------------------------------------------------

    def create(self, cluster_id: str, name: str, shape: ClusterShape) -> Progress:
        """Create the Cluster unless it exists (a repeated step): done once it is there."""
        settings = self.config.settings(shape.plan)
        if settings is None:
            return Progress(
                False,
                failed=f"The Cluster API backend {self.name!r} has no ClusterClass for plan {shape.plan!r}",
            )
        body = self._cluster(cluster_id, name, settings, shape)
        try:
            with self._kube() as kube:
                existing = self._get(kube, cluster_id)
                if existing is None:
                    kube.create(self._clusters, body, exist_ok=False)
                    log.info(
                        "cluster-api %s: Cluster %s created for %s",
                        self.name,
                        cluster_name(cluster_id),
                        cluster_id,
                    )
                elif (existing["metadata"].get("labels") or {}).get(RUNTIME_ID) != cluster_id:
                    return Progress(
                        False,
                        failed=f"A Cluster {self.config.namespace}/{cluster_name(cluster_id)} that is not "
                        "this runtime's already exists in the management cluster",
                    )
        except KubeClientError as exc:
            return self._unreachable(exc)
        return DONE

    def status(self, cluster_id: str) -> Progress:
        """Done when the control plane is ready, the latest spec observed and the kubeconfig written; done
        too once the Cluster is gone (a finished delete)."""
        name = cluster_name(cluster_id)
        try:
            with self._kube() as kube:
                cluster = self._get(kube, cluster_id)
                if cluster is None:
                    return DONE
                meta, status = cluster["metadata"], cluster.get("status") or {}
                phase = status.get("phase") or "Pending"
                if meta.get("deletionTimestamp"):
                    return self._wait(f"Cluster {name} is being deleted (phase {phase})")
                if status.get("failureReason") or status.get("failureMessage") or phase == "Failed":
                    reason = ": ".join(
                        str(s) for s in (status.get("failureReason"), status.get("failureMessage")) if s
                    )
                    return Progress(
                        False,
                        failed=f"Cluster API failed to provision Cluster {name}: {reason or 'phase Failed'}",
                    )
                pending = _waiting_for(cluster)
                observed = status.get("observedGeneration")
                if observed is not None and observed < meta.get("generation", 0):
                    pending.append("the latest change to be observed")
                elif (_condition(cluster, "TopologyReconciled") or {}).get("status") == "False":
                    condition = _condition(cluster, "TopologyReconciled") or {}
                    pending.append(f"topology ({condition.get('message') or condition.get('reason')})")
                if phase != "Provisioned" or pending:
                    return self._wait(
                        f"Cluster {name} is {phase}, waiting for {', '.join(pending) or 'phase Provisioned'}"
                    )
                if self._access(kube, cluster_id) is None:
                    return self._wait(f"Cluster {name} is {phase}, waiting for its {name}-kubeconfig Secret")
        except KubeClientError as exc:
            return self._unreachable(exc)
        return DONE

    def update(self, cluster_id: str, shape: ClusterShape) -> Progress:
        """Patch the topology's version, replicas and variables; ``status`` waits until Cluster API
        observed the change."""
        settings = self.config.settings(shape.plan)
        if settings is None:
            return Progress(
                False,
                failed=f"The Cluster API backend {self.name!r} has no ClusterClass for plan {shape.plan!r}",
            )
        topology = self._topology(settings, shape)
        patch = {
            "spec": {
                "topology": {k: topology[k] for k in ("version", "controlPlane", "workers", "variables")}
            }
        }
        try:
            with self._kube() as kube:
                if self._get(kube, cluster_id) is None:
                    return Progress(False, failed=f"Cluster {cluster_name(cluster_id)} no longer exists")
                kube.merge_patch(f"{self._clusters}/{cluster_name(cluster_id)}", patch)
        except KubeClientError as exc:
            return self._unreachable(exc)
        return DONE

    def delete(self, cluster_id: str) -> Progress:
        """Delete the Cluster (Cluster API deletes its machines and infrastructure first); done once gone."""
        name = cluster_name(cluster_id)
        try:
            with self._kube() as kube:
                cluster = self._get(kube, cluster_id)
                if cluster is None:
                    return DONE
                if not cluster["metadata"].get("deletionTimestamp"):
                    kube.delete(f"{self._clusters}/{name}")
                    log.info("cluster-api %s: Cluster %s deleted for %s", self.name, name, cluster_id)
                    cluster = self._get(kube, cluster_id)
                    if cluster is None:
                        return DONE
        except KubeClientError as exc:
            return self._unreachable(exc)
        phase = (cluster.get("status") or {}).get("phase") or "Deleting"
        return self._wait(f"Cluster {name} is being deleted (phase {phase})")

    def access(self, cluster_id: str) -> ClusterAccess | None:
        try:
            with self._kube() as kube:
                return self._access(kube, cluster_id)
        except KubeClientError as exc:
            log.warning("cluster-api %s: no access to %s: %s", self.name, cluster_id, exc)
            return None

    def _access(self, kube: KubeClient, cluster_id: str) -> ClusterAccess | None:
        """From the ``<name>-kubeconfig`` Secret (key ``value``) Cluster API writes for the cluster."""
        secret_name = f"{cluster_name(cluster_id)}-kubeconfig"
        try:
            secret = kube.get(f"{self._secrets}/{secret_name}")
        except KubeClientError as exc:
            if exc.status == 404:
                return None
            raise
        value = (secret.get("data") or {}).get("value")
        if not value:
            return None
        try:
            return parse_access(
                base64.b64decode(value).decode(), f"Secret {self.config.namespace}/{secret_name}"
            )
        except (KubeconfigError, ValueError) as exc:
            log.warning("cluster-api %s: unusable kubeconfig: %s", self.name, exc)
            return None

    def reset(self) -> None:
        """Delete every Cluster this backend made (``POST /admin/reset``); Cluster API tears them down."""
        try:
            with self._kube() as kube:
                for cluster in kube.list(self._clusters, f"{MANAGED_BY}={self.name}"):
                    kube.delete(f"{self._clusters}/{cluster['metadata']['name']}")
        except KubeClientError as exc:
            log.warning("cluster-api %s: reset could not delete every Cluster: %s", self.name, exc)
