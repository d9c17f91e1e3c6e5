"""Settings for one kymaprov process; every flag has a ``KYMAPROV_*`` environment equivalent."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kymaprov.paths import default_data_dir


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    kube_port: int = 6443
    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str | None = field(default=None, repr=False)  # may carry a password
    provisioning_seconds: float = 5.0
    advertise_host: str | None = None
    public_url: str | None = None  # the API's URL behind a load balancer (shared by replicas)
    kube_public_url: str | None = None  # the embedded Kubernetes API's URL behind a load balancer
    secret_key: str | None = field(default=None, repr=False)  # base64 32 bytes; shared by replicas
    admin_token: str | None = field(default=None, repr=False)
    worker_interval: float = 0.2
    worker_threads: int = 4  # operations run at once: a step mostly waits on the database or a runtime
    min_request_timeout: int = 1800  # kube-apiserver's --min-request-timeout: the longest watch, seconds
    service_account_max_token_expiration: int = 86400  # longer TokenRequests are shortened to it

    @property
    def public_host(self) -> str:
        if self.advertise_host:
            return self.advertise_host
        return "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{_url_host(self.public_host)}:{self.port}"

    @property
    def kube_base_url(self) -> str:
        return f"https://{_url_host(self.public_host)}:{self.kube_port}"

    @property
    def kube_public_base_url(self) -> str:
        """What kubeconfigs name: the shared address when set, else this replica's."""
        if self.kube_public_url:
            return self.kube_public_url.rstrip("/")
        return self.kube_base_url

    @property
    def kube_local_url(self) -> str:
        """This process's own Kubernetes API listener, which the service itself calls."""
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"https://{_url_host(host)}:{self.kube_port}"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'kymaprov.db'}"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
