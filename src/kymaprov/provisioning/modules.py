"""The ``modules`` create parameter in the runtime's ``Kyma`` CR, as KEB's ``OverrideKymaModules`` step
puts it into the Kyma template: ``{"default": true, "channel": ...}`` keeps the default modules and sets
the channel; ``{"channel": ..., "list": [...]}`` replaces ``spec.modules`` with the list (an empty list:
no modules), each entry's empty ``channel``/``customResourcePolicy`` left out. Applied through the
runtime's Kubernetes API; the runtime's Kyma controller then installs and removes the modules.
"""

from __future__ import annotations

import logging
from typing import Any

from kymaprov.backends.base import ClusterAccess
from kymaprov.backends.kubeclient import KubeClient, KubeClientError

log = logging.getLogger(__name__)

KYMA = "/apis/operator.kyma-project.io/v1beta2/namespaces/kyma-system/kymas/default"


def kyma_spec(parameters: dict[str, Any]) -> dict[str, Any] | None:
    """The part of the Kyma CR's ``spec`` the parameter sets, or None without one."""
    modules = parameters.get("modules")
    if not isinstance(modules, dict):
        return None
    spec: dict[str, Any] = {}
    if modules.get("channel"):
        spec["channel"] = str(modules["channel"])
    if isinstance(modules.get("list"), list):
        spec["modules"] = [
            {k: v for k, v in entry.items() if k in ("name", "channel", "customResourcePolicy") and v}
            for entry in modules["list"]
            if isinstance(entry, dict)
        ]
    return spec or None


def apply(access: ClusterAccess, spec: dict[str, Any]) -> None:
    """Set the Kyma CR's modules; a cluster without Kyma's lifecycle manager (no Kyma CR, e.g. a plain
    pool member) has nothing to set, and the environment is made without modules."""
    with KubeClient(access) as kube:
        try:
            kube.merge_patch(KYMA, {"spec": spec})
        except KubeClientError as exc:
            if exc.status != 404:
                raise
            log.info("runtime %s has no Kyma CR: the modules parameter is not applied", access.server)
