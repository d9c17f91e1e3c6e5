"""The contract between the Provisioning Service and whatever runs Kyma runtimes.

A backend creates and deletes clusters (what Gardener and KIM do for KEB) and returns admin access to
the cluster's Kubernetes API. Everything else, bindings included, goes through that Kubernetes API,
so the embedded runtime and a real cluster are interchangeable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ClusterAccess:
    """Admin access to one runtime's Kubernetes API."""

    server: str  # e.g. https://127.0.0.1:6443/clusters/<id>
    ca_data: str  # base64 of the PEM CA bundle, as in certificate-authority-data
    token: str  # admin bearer token
    tls_server_name: str | None = None  # SNI / verification name when it differs from the URL host


class RuntimeBackend(Protocol):
    def create_cluster(self, cluster_id: str, name: str) -> ClusterAccess:
        """Create the cluster, or return the existing one's access (idempotent)."""
        ...

    def delete_cluster(self, cluster_id: str) -> None:
        """Delete the cluster and everything in it; a no-op if it is gone (idempotent)."""
        ...
