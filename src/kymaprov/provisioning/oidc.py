"""The kubeconfig of ``labels.KubeconfigURL``: KEB's ``kubeconfigTemplate`` with one ``exec`` user
per OIDC configuration of the environment (kubelogin's ``kubectl-oidc_login get-token``), so its
``oidc`` parameter is what a user's kubectl logs in with.

KEB names the first user and context after the cluster and the next ones ``<name>-2``, ``<name>-3``...
(``builder.go``); without an ``oidc`` parameter the runtime has the landscape's default OIDC, here
kymaprov's own token service with client ``kymaprov``. An empty list leaves no users at all, as KEB's
template does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DEFAULT_CLIENT_ID = "kymaprov"
INSTALL_HINT = """kubelogin plugin is required to proceed with authentication
# Homebrew (macOS and Linux)
brew install int128/kubelogin/kubelogin

# Krew (macOS, Linux, Windows and ARM)
kubectl krew install oidc-login

# Chocolatey (Windows)
choco install kubelogin"""


@dataclass(frozen=True)
class OidcUser:
    name: str
    issuer_url: str
    client_id: str


def oidc_users(name: str, parameters: dict[str, Any], default_issuer: str) -> list[OidcUser]:
    oidc = parameters.get("oidc")
    if not isinstance(oidc, dict):
        configs: list[Any] = [{"issuerURL": default_issuer, "clientID": DEFAULT_CLIENT_ID}]
    elif "list" in oidc:
        configs = oidc["list"] if isinstance(oidc["list"], list) else []
    else:
        configs = [oidc]
    users = []
    for index, config in enumerate(c for c in configs if isinstance(c, dict)):
        users.append(
            OidcUser(
                name if index == 0 else f"{name}-{index + 1}",
                str(config.get("issuerURL") or default_issuer),
                str(config.get("clientID") or DEFAULT_CLIENT_ID),
            )
        )
    return users


def _q(value: str) -> str:
    """A YAML scalar that stays a string whatever it holds (JSON strings are YAML)."""
    return json.dumps(value)


def kubeconfig(
    name: str,
    server: str,
    parameters: dict[str, Any],
    default_issuer: str,
    ca_data: str = "",
    tls_server_name: str | None = None,
) -> str:
    """``ca_data`` and ``tls_server_name`` as in the runtime's admin kubeconfig (KEB copies its CA);
    empty while the runtime has none (not provisioned yet)."""
    users = oidc_users(name, parameters, default_issuer)
    lines = [
        "---",
        "apiVersion: v1",
        "kind: Config",
        f"current-context: {_q(name)}",
        "clusters:",
        f"- name: {_q(name)}",
        "  cluster:",
        *([f"    certificate-authority-data: {_q(ca_data)}"] if ca_data else []),
        f"    server: {_q(server)}",
        *([f"    tls-server-name: {_q(tls_server_name)}"] if tls_server_name else []),
        "contexts:",
    ]
    if not users:
        lines += [f"- name: {_q(name)}", "  context:", f"    cluster: {_q(name)}"]
        return "\n".join(lines) + "\n"
    for user in users:
        lines += [
            f"- name: {_q(user.name)}",
            "  context:",
            f"    cluster: {_q(name)}",
            f"    user: {_q(user.name)}",
        ]
    lines.append("users:")
    for user in users:
        lines += [
            f"- name: {_q(user.name)}",
            "  user:",
            "    exec:",
            "      apiVersion: client.authentication.k8s.io/v1beta1",
            "      args:",
            "      - get-token",
            f"      - {_q('--oidc-issuer-url=' + user.issuer_url)}",
            f"      - {_q('--oidc-client-id=' + user.client_id)}",
            '      - "--oidc-extra-scope=email"',
            '      - "--oidc-extra-scope=openid"',
            "      command: kubectl-oidc_login",
            "      installHint: |",
            *(f"        {line}" if line else "" for line in INSTALL_HINT.splitlines()),
        ]
    return "\n".join(lines) + "\n"
