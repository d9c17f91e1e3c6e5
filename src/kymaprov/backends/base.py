"""The contract between the Provisioning Service and whatever runs Kyma runtimes.

A backend creates and deletes clusters (what Gardener and KIM do for KEB) and returns admin access to
the cluster's Kubernetes API. Everything else, bindings included, goes through that Kubernetes API,
so the embedded runtime and a real cluster are interchangeable.

The service asks the backend for access each time it calls a runtime (``access``) rather than keeping
the answer: where a runtime's API is reachable can depend on which replica asks (the embedded API is
served by every replica, each on its own listener) and may change while the runtime lives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kymaprov.backends.shape import ClusterShape

__all__ = ["ClusterAccess", "ClusterShape", "RuntimeBackend"]


@dataclass(frozen=True)
class ClusterAccess:
    """Admin access to one runtime's Kubernetes API."""

    server: str  # the URL kubeconfigs name, e.g. https://kube.example.com/clusters/<id>
    ca_data: str  # base64 of the PEM CA bundle, as in certificate-authority-data
    token: str  # admin bearer token
    tls_server_name: str | None = None  # SNI / verification name when it differs from the URL host
    # where the service itself reaches the API when that differs from ``server`` (e.g. this replica's
    # own listener while ``server`` is a load balancer); None: ``server``
    direct_server: str | None = None

    @property
    def service_url(self) -> str:
        """The URL the Provisioning Service calls."""
        return self.direct_server or self.server


class RuntimeBackend(Protocol):
    def create_cluster(self, cluster_id: str, name: str, shape: ClusterShape | None = None) -> ClusterAccess:
        """Create the cluster (its workers as ``shape`` says; None: ``DEFAULT_SHAPE``), or return the
        existing one's access (idempotent)."""
        ...

    def delete_cluster(self, cluster_id: str) -> None:
        """Delete the cluster and everything in it; a no-op if it is gone (idempotent)."""
        ...

    def access(self, cluster_id: str) -> ClusterAccess | None:
        """Admin access to an existing cluster as of now, from this process; None if there is none."""
        ...
