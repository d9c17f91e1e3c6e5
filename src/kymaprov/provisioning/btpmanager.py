"""The runtime's ``kyma-system/sap-btp-manager`` Secret: the service operator credentials with which
the btp-operator in the runtime manages the subaccount's service instances and bindings.

KEB writes it at provisioning (``internal/btpmanager/credentials/manager.go``): ``clientid``,
``clientsecret``, ``sm_url``, ``tokenurl`` and ``cluster_id``, labelled as managed and watched by KEB.
Here the credentials are an OAuth client of the subaccount issued through cis
(``issue_operator_credentials``), ``sm_url`` and ``tokenurl`` are this service's base URL, and the
Secret is written through the runtime's Kubernetes API like everything else the service does there.
"""

from __future__ import annotations

import base64
from typing import Any

from kymaprov.backends.base import ClusterAccess
from kymaprov.backends.kubeclient import KubeClient

NAME = "sap-btp-manager"
NAMESPACE = "kyma-system"
KEB = "kcp-kyma-environment-broker"
SECRETS = f"/api/v1/namespaces/{NAMESPACE}/secrets"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(client_id: str, client_secret: str, base_url: str, cluster_id: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": KEB, "app.kubernetes.io/watched-by": KEB},
            "annotations": {"Warning": "This secret is generated. Do not edit!"},
        },
        "data": {
            "clientid": _b64(client_id),
            "clientsecret": _b64(client_secret),
            "sm_url": _b64(base_url),
            "tokenurl": _b64(base_url),
            "cluster_id": _b64(cluster_id),
        },
    }


def write(access: ClusterAccess, body: dict[str, Any]) -> None:
    """Create the Secret, replacing one a former attempt left (its credentials were replaced)."""
    with KubeClient(access) as kube:
        kube.delete(f"{SECRETS}/{NAME}")
        kube.create(SECRETS, body, exist_ok=False)
