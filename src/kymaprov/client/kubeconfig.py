"""Kubeconfigs on the client side: read a binding's, write files owner-only, build an exec one, check access.

A Kyma binding's kubeconfig (KEB's template) has one cluster, one user with a ``token`` and one
context. ``exec_kubeconfig`` keeps the cluster and replaces the user by an exec credential plugin
(``client.authentication.k8s.io/v1``), so kubectl asks kymaprov for a token instead of holding one.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import yaml

from kymaprov.client.exceptions import ClientError

__all__ = [
    "EXEC_API_VERSION",
    "AccessCheckFailed",
    "KubeconfigError",
    "KubeconfigInfo",
    "binding_id_of",
    "check_access",
    "exec_kubeconfig",
    "parse_kubeconfig",
]

EXEC_API_VERSION = "client.authentication.k8s.io/v1"


class KubeconfigError(ClientError):
    """A kubeconfig the service returned cannot be read (exit 7)."""

    exit_code = 7


class AccessCheckFailed(ClientError):
    """The runtime's Kubernetes API refused or failed the access check (exit 8)."""

    exit_code = 8


@dataclass(frozen=True)
class KubeconfigInfo:
    """The current context of a kubeconfig: its cluster and, for a binding's, the token."""

    name: str
    server: str
    ca_data: str
    tls_server_name: str | None = None
    token: str = field(default="", repr=False)


def _named(items: Any, name: str, kind: str) -> dict[str, Any]:
    for item in items or []:
        if isinstance(item, dict) and item.get("name") == name and isinstance(item.get(kind), dict):
            found: dict[str, Any] = item[kind]
            return found
    raise KubeconfigError(f"kubeconfig has no {kind} named {name!r}")


def parse_kubeconfig(text: str) -> KubeconfigInfo:
    """Cluster and token of the current context; ``KubeconfigError`` if they are not there."""
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KubeconfigError(f"kubeconfig is not valid YAML: {exc}") from exc
    if not isinstance(config, dict):
        raise KubeconfigError("kubeconfig is not a YAML mapping")
    context_name = config.get("current-context")
    if not isinstance(context_name, str) or not context_name:
        raise KubeconfigError("kubeconfig has no current-context")
    context = _named(config.get("contexts"), context_name, "context")
    cluster = _named(config.get("clusters"), str(context.get("cluster")), "cluster")
    user = _named(config.get("users"), str(context.get("user")), "user")
    server, ca_data = cluster.get("server"), cluster.get("certificate-authority-data")
    if not isinstance(server, str) or not isinstance(ca_data, str):
        raise KubeconfigError("kubeconfig cluster lacks server or certificate-authority-data")
    tls_server_name = cluster.get("tls-server-name")
    token = user.get("token")
    return KubeconfigInfo(
        name=str(context.get("cluster")),
        server=server,
        ca_data=ca_data,
        tls_server_name=tls_server_name if isinstance(tls_server_name, str) else None,
        token=token if isinstance(token, str) else "",
    )


_BINDING_SUBJECT = re.compile(r"^system:serviceaccount:kyma-system:kyma-binding-([0-9a-fA-F-]{36})$")


def binding_id_of(info: KubeconfigInfo) -> str | None:
    """The Kyma binding a kubeconfig's token belongs to, or None.

    KEB names a binding's ServiceAccount ``kyma-binding-<id>`` and its token's subject names that
    account; the token is only read here (the runtime verifies it), never trusted for access.
    """
    parts = info.token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    match = _BINDING_SUBJECT.match(subject) if isinstance(subject, str) else None
    return match.group(1) if match else None


def exec_kubeconfig(info: KubeconfigInfo, command: str, args: Sequence[str]) -> str:
    """A kubeconfig for ``info``'s cluster whose user runs ``command args`` for an ExecCredential."""
    cluster: dict[str, Any] = {"server": info.server, "certificate-authority-data": info.ca_data}
    if info.tls_server_name:
        cluster["tls-server-name"] = info.tls_server_name
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": info.name,
        "clusters": [{"name": info.name, "cluster": cluster}],
        "contexts": [{"name": info.name, "context": {"cluster": info.name, "user": info.name}}],
        "users": [
            {
                "name": info.name,
                "user": {
                    "exec": {
                        "apiVersion": EXEC_API_VERSION,
                        "command": command,
                        "args": list(args),
                        "interactiveMode": "Never",
                        "provideClusterInfo": False,
                    }
                },
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def check_access(info: KubeconfigInfo, namespace: str = "default", timeout: float = 10.0) -> int:
    """List the pods of ``namespace`` as ``kubectl get pods`` does; the number of pods.

    Trust is the kubeconfig's own CA, and ``tls-server-name`` is sent as SNI and verified, as kubectl does.
    """
    try:
        tls = ssl.create_default_context(cadata=base64.b64decode(info.ca_data, validate=True).decode())
    except (ssl.SSLError, ValueError) as exc:
        raise AccessCheckFailed(f"the kubeconfig's certificate authority is unusable: {exc}") from exc
    url = f"{info.server.rstrip('/')}/api/v1/namespaces/{namespace}/pods"
    headers = {"authorization": f"Bearer {info.token}", "accept": "application/json"}
    extensions = {"sni_hostname": info.tls_server_name} if info.tls_server_name else {}
    try:
        with httpx.Client(verify=tls, timeout=timeout) as http:
            response = http.get(url, headers=headers, extensions=extensions)
    except httpx.HTTPError as exc:
        raise AccessCheckFailed(
            f"the runtime's API server cannot be reached: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        message = (body.get("message") if isinstance(body, dict) else None) or response.text
        raise AccessCheckFailed(
            f"the runtime's API server refused the access check: {response.status_code}: {message}"
        )
    return len(body.get("items") or [])
