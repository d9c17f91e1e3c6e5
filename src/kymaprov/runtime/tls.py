"""TLS for the one port that serves every cluster: a default certificate plus per-cluster SNI.

``ssl`` can only load keys from files, so PEMs pass through a private temporary directory that is
removed as soon as the context holds them.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import tempfile

SNI_SUFFIX = ".clusters.kymaprov.local"


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
