"""TLS for the one port that serves every cluster: a default certificate plus per-cluster SNI.

``ssl`` can only load keys from files, so PEMs pass through a private temporary directory that is
removed as soon as the context holds them.

The cluster a connection's SNI names is also handed to the app (``CLUSTER_STATE`` in the ASGI scope's
``state``), so a client that sends ``tls-server-name`` but drops the server URL's path, as
``kubectl proxy`` does, still reaches its cluster.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import ssl
import tempfile
from collections.abc import MutableMapping
from typing import Any

SNI_SUFFIX = ".clusters.kymaprov.local"
CLUSTER_STATE = "kymaprov.sni_cluster"
_SSL_ATTRIBUTE = "_kymaprov_sni_cluster"


def server_name(cluster_id: str) -> str:
    return f"{cluster_id}{SNI_SUFFIX}"


def cluster_of(name: str | None) -> str | None:
    if name and name.endswith(SNI_SUFFIX):
        return name[: -len(SNI_SUFFIX)] or None
    return None


def split_hosts(hosts: list[str]) -> tuple[list[str], list[str]]:
    """Partition host names into (DNS names, IP addresses), dropping duplicates, keeping order."""
    dns: list[str] = []
    ips: list[str] = []
    for host in hosts:
        host = host.strip("[]")
        try:
            ip = str(ipaddress.ip_address(host))
        except ValueError:
            if host and host not in dns:
                dns.append(host)
            continue
        if ip not in ips:
            ips.append(ip)
    return dns, ips


def server_context(cert_pem: str, key_pem: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    with tempfile.TemporaryDirectory(prefix="kymaprov-tls-") as directory:
        cert_path = os.path.join(directory, "tls.crt")
        key_path = os.path.join(directory, "tls.key")
        for path, data in ((cert_path, cert_pem), (key_path, key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(data)
        context.load_cert_chain(cert_path, key_path)
    return context


def remember_cluster(ssl_object: Any, cluster_id: str) -> None:
    """Note on the connection's ``SSLObject`` (from the SNI callback) which cluster it named."""
    setattr(ssl_object, _SSL_ATTRIBUTE, cluster_id)


def with_sni_cluster(base: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class, extended to put the connection's SNI cluster in each request's
    ``scope["state"]`` (uvicorn copies the protocol's ``app_state`` into every request's scope)."""

    class SniClusterProtocol(base):  # type: ignore[valid-type, misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            cluster_id = getattr(transport.get_extra_info("ssl_object"), _SSL_ATTRIBUTE, None)
            state = getattr(self, "app_state", None)
            if cluster_id and isinstance(state, dict):
                self.app_state = {**state, CLUSTER_STATE: cluster_id}
            super().connection_made(transport)

    return SniClusterProtocol


def sni_cluster(scope: MutableMapping[str, Any]) -> str | None:
    """The cluster the request's connection named by SNI, if any."""
    state = scope.get("state")
    cluster_id = state.get(CLUSTER_STATE) if isinstance(state, dict) else None
    return cluster_id if isinstance(cluster_id, str) else None
