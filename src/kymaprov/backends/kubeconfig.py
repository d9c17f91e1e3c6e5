"""Admin access to an existing cluster, read from its kubeconfig file (kind's, k3d's, a lab's).

The current context (or a named one) gives the server, the CA (inline or a file) and the credentials:
a bearer token (inline or ``tokenFile``) or a client certificate (inline or files). Exec plugins and
auth providers are not run: a pool member needs static credentials the service can use unattended.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from kymaprov.backends.base import ClusterAccess


class KubeconfigError(ValueError):
    """A kubeconfig that cannot give admin access; the message names the file and what is missing."""


def _named(config: dict[str, Any], section: str, name: str, source: object) -> dict[str, Any]:
    for entry in config.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(section[:-1])
            if isinstance(value, dict):
                return value
    raise KubeconfigError(f"{source}: no {section[:-1]} named {name!r}")


def _data(entry: dict[str, Any], key: str, base: Path | None, source: object) -> str | None:
    """``<key>-data`` (base64) or the file ``<key>`` (relative to the kubeconfig), as base64."""
    if entry.get(f"{key}-data"):
        return str(entry[f"{key}-data"])
    if entry.get(key):
        if base is None:
            raise KubeconfigError(f"{source}: {key} names a file; only inline {key}-data is usable here")
        path = base / str(entry[key])
        try:
            return base64.b64encode(path.read_bytes()).decode()
        except OSError as exc:
            raise KubeconfigError(f"cannot read {key} {path}: {exc.strerror}") from exc
    return None


def load_access(path: Path, context: str | None = None) -> ClusterAccess:
    """The access ``path``'s context (default: its current context) gives."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise KubeconfigError(f"cannot read kubeconfig {path}: {exc.strerror}") from exc
    return parse_access(text, path, path.parent, context)


def parse_access(
    text: str, path: object, base: Path | None = None, context: str | None = None
) -> ClusterAccess:
    """The access a kubeconfig's text gives; ``path`` names it in errors, ``base`` is where the files it
    names are (None: one received over the network, e.g. Gardener's, which must be self-contained)."""
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KubeconfigError(f"{path}: not YAML: {exc}") from exc
    if not isinstance(config, dict):
        raise KubeconfigError(f"{path}: not a kubeconfig")
    name = context or config.get("current-context")
    if not name:
        raise KubeconfigError(f"{path}: no current-context and no context given")
    ctx = _named(config, "contexts", str(name), path)
    cluster = _named(config, "clusters", str(ctx.get("cluster")), path)
    user = _named(config, "users", str(ctx.get("user")), path)
    if not cluster.get("server"):
        raise KubeconfigError(f"{path}: cluster {ctx.get('cluster')!r} has no server")
    ca = _data(cluster, "certificate-authority", base, path)
    if ca is None:
        raise KubeconfigError(f"{path}: cluster {ctx.get('cluster')!r} has no certificate-authority")
    token = str(user.get("token") or "")
    if not token and user.get("tokenFile"):
        if base is None:
            raise KubeconfigError(f"{path}: tokenFile names a file; only an inline token is usable here")
        try:
            token = (base / str(user["tokenFile"])).read_text().strip()
        except OSError as exc:
            raise KubeconfigError(f"cannot read tokenFile of {path}: {exc.strerror}") from exc
    cert = _data(user, "client-certificate", base, path)
    key = _data(user, "client-key", base, path)
    if not token and not (cert and key):
        user_name = ctx.get("user")
        raise KubeconfigError(f"{path}: user {user_name!r} has neither a token nor a client certificate")
    return ClusterAccess(
        server=str(cluster["server"]).rstrip("/"),
        ca_data=ca,
        token=token,
        tls_server_name=cluster.get("tls-server-name") or None,
        client_cert_data=cert,
        client_key_data=key,
    )
