"""``GardenerRuntimes``: each runtime is a Gardener ``Shoot`` in one project of a garden cluster.

This is what KIM does for KEB, through the garden's Kubernetes API only:

- create writes a ``Shoot`` (``core.gardener.cloud/v1beta1``) named from the runtime id, so a repeated
  or resumed create finds the Shoot it made instead of making a second one;
- status follows ``status.lastOperation`` (``type``, ``state``, ``progress``, ``description``) and
  ``status.lastErrors``, and waits for Gardener to observe the latest spec (``observedGeneration``);
- access posts an ``AdminKubeconfigRequest`` to the ``shoots/<name>/adminkubeconfig`` subresource
  and keeps the answer until 60 % of its lifetime has passed (as KIM rotates its kubeconfigs);
- update rewrites the first worker pool (machine type, minimum, maximum);
- delete sets ``confirmation.gardener.cloud/deletion: "true"``, then deletes; Gardener removes the
  Shoot once the cluster is gone.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kymaprov.backends.base import DONE, ClusterAccess, ClusterShape, Progress
from kymaprov.backends.kubeclient import KubeClient, KubeClientError
from kymaprov.backends.kubeconfig import KubeconfigError, load_access, parse_access

log = logging.getLogger(__name__)

API = "/apis/core.gardener.cloud/v1beta1"
CONFIRM_DELETION = "confirmation.gardener.cloud/deletion"
RUNTIME_LABEL = "kymaprov.io/runtime-id"
NAME_ANNOTATION = "kymaprov.io/runtime-name"
PROVIDERS = ("aws", "azure", "gcp", "openstack")

_NAME = {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}
_PROVIDER: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "credentialsBindingName": _NAME,
        "secretBindingName": _NAME,
        "cloudProfile": _NAME,
        "machineTypes": {"type": "object", "additionalProperties": {"type": "string", "minLength": 1}},
        "shootSpec": {"type": "object"},
    },
    # credentialsBindingName (Gardener's current field) unless the older secretBindingName is given
    "if": {"not": {"required": ["secretBindingName"]}},
    "then": {"required": ["credentialsBindingName"]},
}
# the ``then`` of a ``type: gardener`` backend in the runtimes configuration's schema
SCHEMA: dict[str, Any] = {
    "additionalProperties": False,
    "required": ["kubeconfig", "project", "providers"],
    "properties": {
        "type": {},
        "kubeconfig": {"type": "string", "minLength": 1},
        "context": {"type": "string", "minLength": 1},
        "project": _NAME,
        "namespace": _NAME,
        "kubernetesVersion": {"type": "string", "pattern": r"^\d+\.\d+(\.\d+)?$"},
        "purpose": {"enum": ["evaluation", "development", "testing", "production"]},
        "kubeconfigExpirationSeconds": {"type": "integer", "minimum": 600, "maximum": 31536000},
        "providers": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"enum": list(PROVIDERS)},
            "additionalProperties": _PROVIDER,
        },
    },
}


@dataclass(frozen=True)
class GardenerSpec:
    """A ``type: gardener`` backend of the runtimes configuration, checked."""

    garden: ClusterAccess
    namespace: str  # the project's namespace, garden-<project> unless given
    providers: dict[str, dict[str, Any]]
    kubernetes_version: str | None = None
    purpose: str | None = None
    kubeconfig_expiration_seconds: int = 86400


def load_spec(raw: dict[str, Any], base: Path) -> GardenerSpec:
    """A schema-valid backend entry, checked; ``KubeconfigError`` if the garden's kubeconfig is unusable."""
    kubeconfig = (base / Path(raw["kubeconfig"]).expanduser()).resolve()
    garden = load_access(kubeconfig, raw.get("context"))
    return GardenerSpec(
        garden=garden,
        namespace=raw.get("namespace") or f"garden-{raw['project']}",
        providers=dict(raw["providers"]),
        kubernetes_version=raw.get("kubernetesVersion"),
        purpose=raw.get("purpose"),
        kubeconfig_expiration_seconds=int(raw.get("kubeconfigExpirationSeconds", 86400)),
    )


def shoot_name(cluster_id: str) -> str:
    """Short and DNS-safe (Gardener limits project plus shoot name), fixed for a runtime id."""
    return "kp" + hashlib.sha256(cluster_id.encode()).hexdigest()[:7]


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` written into it, objects merged key by key."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class GardenerRuntimes:
    """A ``RuntimeBackend`` over one Gardener project."""

    def __init__(
        self, name: str, spec: GardenerSpec, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        """``monotonic`` times the renewal of admin kubeconfigs: they expire in the garden's (real) time,
        not in the service clock's."""
        self.name = name
        self.spec = spec
        self._monotonic = monotonic
        self._shoots = f"{API}/namespaces/{spec.namespace}/shoots"
        self._lock = threading.Lock()
        self._access: dict[str, tuple[ClusterAccess, float]] = {}  # shoot -> (access, when to renew it)

    def _garden(self) -> KubeClient:
        return KubeClient(self.spec.garden, timeout=30.0)

    def _where(self, name: str) -> str:
        return f"shoot {self.spec.namespace}/{name}"

    def _get(self, kube: KubeClient, name: str) -> dict[str, Any] | None:
        try:
            return kube.get(f"{self._shoots}/{name}")
        except KubeClientError as exc:
            if exc.status == 404:
                return None
            raise

    # --- the Shoot --------------------------------------------------------------------------------

    def shoot(self, cluster_id: str, name: str, shape: ClusterShape) -> dict[str, Any]:
        """The Shoot for a runtime of ``shape``: the provider's ``shootSpec`` from the configuration as
        the base, the plan's fields written over it."""
        provider = self.spec.providers[shape.provider]
        base = copy.deepcopy(provider.get("shootSpec") or {})
        workers = (base.get("provider") or {}).get("workers") or [{}]
        worker = _merged(
            workers[0],
            {
                "name": workers[0].get("name", "cpu-worker-0"),
                "machine": {"type": self._machine_type(shape)},
                "minimum": shape.nodes,
                "maximum": shape.max_nodes,
                "maxSurge": workers[0].get("maxSurge", len(shape.zones)),
                "maxUnavailable": workers[0].get("maxUnavailable", 0),
                "zones": list(shape.zones),
            },
        )
        binding = (
            {"credentialsBindingName": provider["credentialsBindingName"]}
            if provider.get("credentialsBindingName")
            else {"secretBindingName": provider["secretBindingName"]}
        )
        spec = _merged(
            base,
            {
                "cloudProfile": {
                    "kind": "CloudProfile",
                    "name": provider.get("cloudProfile", shape.provider),
                },
                "region": shape.region,
                **binding,
                "provider": {"type": shape.provider, "workers": [worker, *workers[1:]]},
                "networking": {
                    "type": (base.get("networking") or {}).get("type", "calico"),
                    "nodes": shape.nodes_cidr,
                    "pods": shape.pods_cidr,
                    "services": shape.services_cidr,
                },
            },
        )
        if self.spec.kubernetes_version:
            spec = _merged(spec, {"kubernetes": {"version": self.spec.kubernetes_version}})
        if self.spec.purpose:
            spec["purpose"] = self.spec.purpose
        return {
            "apiVersion": "core.gardener.cloud/v1beta1",
            "kind": "Shoot",
            "metadata": {
                "name": shoot_name(cluster_id),
                "namespace": self.spec.namespace,
                "labels": {RUNTIME_LABEL: cluster_id},
                "annotations": {NAME_ANNOTATION: name},
            },
            "spec": spec,
        }

    def _machine_type(self, shape: ClusterShape) -> str:
        names: dict[str, str] = self.spec.providers[shape.provider].get("machineTypes") or {}
        return names.get(shape.machine_type, shape.machine_type)

    # --- RuntimeBackend ---------------------------------------------------------------------------

    def create(self, cluster_id: str, name: str, shape: ClusterShape) -> Progress:
        if shape.provider not in self.spec.providers:
            configured = ", ".join(sorted(self.spec.providers))
            return Progress(
                False,
                failed=f"The Gardener backend {self.name!r} has no credentials for provider "
                f"{shape.provider!r} (configured: {configured})",
            )
        body = self.shoot(cluster_id, name, shape)
        shoot = body["metadata"]["name"]
        try:
            with self._garden() as kube:
                existing = self._get(kube, shoot)
                if existing is None:
                    kube.create(self._shoots, body)  # 409: created concurrently, which is as good
                    log.info("gardener %s: %s created for %s", self.name, self._where(shoot), cluster_id)
                elif (existing["metadata"].get("labels") or {}).get(RUNTIME_LABEL) != cluster_id:
                    return Progress(
                        False, failed=f"{self._where(shoot)} exists and belongs to another runtime"
                    )
        except KubeClientError as exc:
            if exc.status in (400, 403, 422):
                return Progress(False, failed=f"Gardener refused {self._where(shoot)}: {exc.message}")
            return Progress(False, f"The garden cluster is not reachable, retrying: {exc}", retry_after=10)
        return DONE

    def status(self, cluster_id: str) -> Progress:
        shoot = shoot_name(cluster_id)
        try:
            with self._garden() as kube:
                body = self._get(kube, shoot)
        except KubeClientError as exc:
            return Progress(False, f"The garden cluster is not reachable, retrying: {exc}", retry_after=10)
        if body is None:
            return Progress(True, f"{self._where(shoot)} does not exist")
        return self._progress(shoot, body)

    def _progress(self, shoot: str, body: dict[str, Any]) -> Progress:
        meta, status = body["metadata"], body.get("status") or {}
        operation = status.get("lastOperation") or {}
        errors = "; ".join(str(e.get("description", "")) for e in status.get("lastErrors") or [] if e)
        kind, state = str(operation.get("type", "")), str(operation.get("state", ""))
        percent, description = operation.get("progress", 0), str(operation.get("description", ""))
        where = self._where(shoot)
        if meta.get("deletionTimestamp"):
            if kind == "Delete" and state == "Failed":
                return Progress(False, failed=f"Gardener failed to delete {where}: {errors or description}")
            if kind != "Delete":
                return Progress(False, f"Waiting for Gardener to start deleting {where}", retry_after=10)
            return Progress(False, f"Gardener is deleting {where}: {percent}% {description}".rstrip())
        if not operation or int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
            return Progress(False, f"Waiting for Gardener to pick up {where}", retry_after=10)
        verb = {"Create": "creating", "Reconcile": "reconciling", "Restore": "restoring"}.get(kind, kind)
        if state == "Succeeded":
            return Progress(True, f"{where}: {kind} succeeded")
        if state in ("Failed", "Aborted"):
            return Progress(False, failed=f"Gardener failed {verb} {where}: {errors or description}")
        message = f"Gardener is {verb} {where}: {percent}% {description}".rstrip()
        if state == "Error":  # Gardener retries an erroneous operation itself
            message += f" (error, retrying: {errors})" if errors else " (error, retrying)"
        return Progress(False, message, retry_after=10)

    def update(self, cluster_id: str, shape: ClusterShape) -> Progress:
        """Rewrite the first worker pool (machine type, minimum, maximum); status follows the reconcile."""
        shoot = shoot_name(cluster_id)
        try:
            with self._garden() as kube:
                body = self._get(kube, shoot)
                if body is None:
                    return Progress(False, failed=f"{self._where(shoot)} does not exist")
                workers = copy.deepcopy(body["spec"]["provider"]["workers"])
                wanted = {"minimum": shape.nodes, "maximum": shape.max_nodes}
                workers[0] = _merged(workers[0], {"machine": {"type": self._machine_type(shape)}, **wanted})
                if workers != body["spec"]["provider"]["workers"]:
                    version = body["metadata"]["resourceVersion"]
                    patch = {
                        "metadata": {"resourceVersion": version},
                        "spec": {"provider": {"workers": workers}},
                    }
                    kube.merge_patch(f"{self._shoots}/{shoot}", patch)
                    log.info("gardener %s: %s workers patched", self.name, self._where(shoot))
        except KubeClientError as exc:
            if exc.status in (400, 403, 422):
                return Progress(
                    False, failed=f"Gardener refused the update of {self._where(shoot)}: {exc.message}"
                )
            return Progress(False, f"Updating {self._where(shoot)}, retrying: {exc}", retry_after=10)
        return DONE

    def delete(self, cluster_id: str) -> Progress:
        """Confirm the deletion, then delete; done once Gardener has removed the Shoot (the router
        forgets the cluster's backend when this is done, so the waiting happens here)."""
        shoot = shoot_name(cluster_id)
        path = f"{self._shoots}/{shoot}"
        try:
            with self._garden() as kube:
                body = self._get(kube, shoot)
                if body is not None and not body["metadata"].get("deletionTimestamp"):
                    annotations = body["metadata"].get("annotations") or {}
                    if annotations.get(CONFIRM_DELETION) != "true":
                        kube.merge_patch(path, {"metadata": {"annotations": {CONFIRM_DELETION: "true"}}})
                    kube.delete(path)
                    log.info("gardener %s: %s deleted", self.name, self._where(shoot))
                    body = self._get(kube, shoot)
        except KubeClientError as exc:
            return Progress(False, f"Deleting {self._where(shoot)}, retrying: {exc}", retry_after=10)
        if body is None:
            self._forget(shoot)
            return DONE
        return self._progress(shoot, body)

    def access(self, cluster_id: str) -> ClusterAccess | None:
        shoot = shoot_name(cluster_id)
        with self._lock:
            held = self._access.get(shoot)
        if held is not None and self._monotonic() < held[1]:
            return held[0]
        seconds = self.spec.kubeconfig_expiration_seconds
        request = {
            "apiVersion": "authentication.gardener.cloud/v1alpha1",
            "kind": "AdminKubeconfigRequest",
            "spec": {"expirationSeconds": seconds},
        }
        try:
            with self._garden() as kube:
                answer = kube.create(f"{self._shoots}/{shoot}/adminkubeconfig", request, exist_ok=False)
        except KubeClientError as exc:
            if exc.status == 404:
                return None
            log.warning("gardener %s: no admin kubeconfig for %s: %s", self.name, self._where(shoot), exc)
            return held[0] if held is not None else None
        try:
            text = base64.b64decode(str((answer.get("status") or {}).get("kubeconfig") or "")).decode()
            access = parse_access(text, f"the admin kubeconfig of {self._where(shoot)}")
        except (ValueError, KubeconfigError) as exc:
            log.warning("gardener %s: unusable admin kubeconfig: %s", self.name, exc)
            return None
        with self._lock:
            self._access[shoot] = (access, self._monotonic() + 0.6 * seconds)
        return access

    def _forget(self, shoot: str) -> None:
        with self._lock:
            self._access.pop(shoot, None)

    def reset(self) -> None:
        """Delete every Shoot kymaprov made in the project (``POST /admin/reset``)."""
        try:
            with self._garden() as kube:
                for item in kube.list(self._shoots, RUNTIME_LABEL):
                    self.delete(str(item["metadata"]["labels"][RUNTIME_LABEL]))
        except KubeClientError as exc:
            log.warning("gardener %s: reset could not list the project's shoots: %s", self.name, exc)
