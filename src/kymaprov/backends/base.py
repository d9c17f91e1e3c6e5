"""The contract between the Provisioning Service and whatever runs Kyma runtimes.

A backend creates, updates and deletes clusters (what Gardener and KIM do for KEB), reporting progress
as it goes (a real cluster takes minutes), and returns admin access to the cluster's Kubernetes API.
Everything else, bindings included, goes through that Kubernetes API, so the embedded runtime and a
real cluster are interchangeable.

The service asks the backend for access each time it calls a runtime (``access``) rather than keeping
the answer: where a runtime's API is reachable can depend on which replica asks (the embedded API is
served by every replica, each on its own listener) and may change while the runtime lives.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from kymaprov.backends.shape import ClusterShape

__all__ = ["DONE", "ClusterAccess", "ClusterShape", "Progress", "RuntimeBackend"]


class Loopback(Protocol):
    """A runtime's Kubernetes API in this process: a request in, its status and decoded JSON body out."""

    def call(
        self,
        request: tuple[str, str, dict[str, str]],
        token: str,
        body: bytes,
        content_type: str,
        user_agent: str,
    ) -> tuple[int, Any]: ...


@dataclass(frozen=True)
class ClusterAccess:
    """Admin access to one runtime's Kubernetes API."""

    server: str  # the URL kubeconfigs name, e.g. https://kube.example.com/clusters/<id>
    ca_data: str  # base64 of the PEM CA bundle, as in certificate-authority-data
    token: str  # admin bearer token ("" when a client certificate authenticates)
    tls_server_name: str | None = None  # SNI / verification name when it differs from the URL host
    # where the service itself reaches the API when that differs from ``server`` (e.g. this replica's
    # own listener while ``server`` is a load balancer); None: ``server``
    direct_server: str | None = None
    # a client certificate instead of (or with) the token, base64 PEM as in client-certificate-data
    client_cert_data: str | None = None
    client_key_data: str | None = None
    # the API served by this process, called directly (``kubeapi/loopback.py``) instead of over HTTPS
    loopback: Loopback | None = field(default=None, compare=False, repr=False)

    def record(self) -> dict[str, Any]:
        """The fields worth storing (not the in-process ``loopback``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "loopback"}

    @property
    def service_url(self) -> str:
        """The URL the Provisioning Service calls."""
        return self.direct_server or self.server


@dataclass(frozen=True)
class Progress:
    """Where a backend's create, update or delete stands.

    ``done``: finished (then ``message`` is informational); else ``message`` says what is happening
    and ``retry_after`` (seconds) when to ask again; ``failed``: the reason it cannot finish, for the
    operation's ``stateMessage``.
    """

    done: bool
    message: str = ""
    retry_after: float = 10.0
    failed: str | None = None


DONE = Progress(done=True)


class RuntimeBackend(Protocol):
    """A backend's calls are idempotent: the lifecycle repeats one whose result it could not record."""

    def create(self, cluster_id: str, name: str, shape: ClusterShape) -> Progress:
        """Start creating the cluster (workers as ``shape`` says), or report the creation under way."""
        ...

    def status(self, cluster_id: str) -> Progress:
        """Progress of the cluster's latest create, update or delete (done once it finished)."""
        ...

    def update(self, cluster_id: str, shape: ClusterShape) -> Progress:
        """Start changing the cluster's workers to ``shape``, or report the change under way."""
        ...

    def delete(self, cluster_id: str) -> Progress:
        """Start deleting the cluster and everything in it; done at once if it is gone."""
        ...

    def access(self, cluster_id: str) -> ClusterAccess | None:
        """Admin access to an existing cluster as of now, from this process; None if there is none."""
        ...

    def reset(self) -> None:
        """Delete every cluster and all it holds (``POST /admin/reset``, which deletes every environment)."""
        ...
