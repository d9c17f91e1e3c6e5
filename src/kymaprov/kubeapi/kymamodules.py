"""Kyma's own resources as data: the ``Kyma`` CRD and the modules a runtime can enable, each with the
CRDs and the ``kyma-system`` Deployments its module manager installs.

The CRDs carry the real groups, kinds, versions, short names, categories and printer columns
(``kubectl get`` reads like on a Kyma runtime); their schemas are structural but small: the fields the
simulation reads are typed, the rest is ``x-kubernetes-preserve-unknown-fields`` where the real
schemas run to thousands of lines. Both the seed of a new runtime and the Kyma controller build their
objects here, so what a runtime starts with and what adding a module installs are one thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KYMA_GROUP = "operator.kyma-project.io"
KYMA_VERSION = "v1beta2"
KYMA_RESOURCE = "kymas"
KYMA_NAMESPACE = "kyma-system"
KYMA_NAME = "default"
DEFAULT_CHANNEL = "regular"
DEFAULT_MODULES = ("api-gateway", "istio", "btp-operator")  # KEB's kyma-template
MODULE_LABEL = "kyma-project.io/module"
MANAGED_BY = {"operator.kyma-project.io/managed-by": "declarative-v2"}
REGISTRY = "europe-docker.pkg.dev/kyma-project/prod"

_OPEN: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def _column(name: str, path: str, kind: str = "string", priority: int = 0) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": kind, "jsonPath": path}
    if priority:
        column["priority"] = priority
    return column


def _schema(spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "spec": spec or _OPEN,
            "status": status or _OPEN,
        },
    }


def crd(
    group: str,
    kind: str,
    plural: str,
    versions: tuple[str, ...],
    *,
    columns: tuple[dict[str, Any], ...] = (),
    short_names: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    schema: dict[str, Any] | None = None,
    module: str = "",
) -> dict[str, Any]:
    """A CustomResourceDefinition; the first version is the storage version."""
    names: dict[str, Any] = {
        "plural": plural,
        "singular": kind.lower(),
        "kind": kind,
        "listKind": kind + "List",
    }
    if short_names:
        names["shortNames"] = list(short_names)
    if categories:
        names["categories"] = list(categories)
    metadata: dict[str, Any] = {"name": f"{plural}.{group}"}
    if module:
        metadata["labels"] = {MODULE_LABEL: module, **MANAGED_BY}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": metadata,
        "spec": {
            "group": group,
            "names": names,
            "scope": "Namespaced",
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": index == 0,
                    "schema": {"openAPIV3Schema": schema or _schema()},
                    "subresources": {"status": {}},
                    **({"additionalPrinterColumns": list(columns)} if columns else {}),
                }
                for index, version in enumerate(versions)
            ],
        },
    }


_STATES = ["Processing", "Deleting", "Ready", "Error", "", "Warning", "Unmanaged"]
_STRING = {"type": "string"}

KYMA_CRD = crd(
    KYMA_GROUP,
    "Kyma",
    KYMA_RESOURCE,
    (KYMA_VERSION,),
    columns=(_column("State", ".status.state"), _AGE),
    schema=_schema(
        {
            "type": "object",
            "required": ["channel"],
            "properties": {
                "channel": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 32, "minLength": 3},
                "skipMaintenanceWindows": {"type": "boolean"},
                "modules": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": _STRING,
                            "channel": _STRING,
                            "controller": _STRING,
                            "managed": {"type": "boolean", "default": True},
                            "customResourcePolicy": {
                                "type": "string",
                                "enum": ["CreateAndDelete", "Ignore"],
                                "default": "CreateAndDelete",
                            },
                        },
                    },
                },
            },
        },
        {
            "type": "object",
            "properties": {
                "state": {"type": "string", "enum": _STATES},
                "activeChannel": _STRING,
                "conditions": {"type": "array", "items": _OPEN},
                "lastOperation": {
                    "type": "object",
                    "properties": {"operation": _STRING, "lastUpdateTime": _STRING},
                },
                "modules": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": _STRING,
                            "fqdn": _STRING,
                            "channel": _STRING,
                            "version": _STRING,
                            "state": {"type": "string", "enum": _STATES},
                            "message": _STRING,
                            "template": _OPEN,
                            "manifest": _OPEN,
                            "resource": _OPEN,
                        },
                    },
                },
            },
        },
    ),
)


@dataclass(frozen=True)
class Module:
    """A module: its version, the CRDs it brings and its manager Deployments (name, image)."""

    name: str
    version: str
    crds: tuple[dict[str, Any], ...]
    deployments: tuple[tuple[str, str], ...]


def _module(
    name: str, version: str, crds: list[dict[str, Any]], deployments: list[tuple[str, str]]
) -> Module:
    for definition in crds:
        definition["metadata"]["labels"] = {MODULE_LABEL: name, **MANAGED_BY}
    return Module(name, version, tuple(crds), tuple(deployments))


def _manager(kind: str, plural: str) -> dict[str, Any]:
    """The module's own configuration CR kind (``Istio``, ``APIGateway``...) in the operator group."""
    return crd(KYMA_GROUP, kind, plural, ("v1alpha1",), columns=(_column("State", ".status.state"), _AGE))


_NETWORKING = "networking.istio.io"
_SECURITY = "security.istio.io"
_ISTIO = ("v1", "v1beta1", "v1alpha3")
_NET_CATEGORIES = ("istio-io", "networking-istio-io")
_SEC_CATEGORIES = ("istio-io", "security-istio-io")
_SERVICES = "services.cloud.sap.com"
_SERVICE_INSTANCE_SPEC = {
    "type": "object",
    "required": ["serviceOfferingName", "servicePlanName"],
    "x-kubernetes-preserve-unknown-fields": True,
    "properties": {
        "serviceOfferingName": {"type": "string", "minLength": 1},
        "servicePlanName": {"type": "string", "minLength": 1},
        "externalName": _STRING,
        "parameters": _OPEN,
    },
}
_SERVICE_BINDING_SPEC = {
    "type": "object",
    "required": ["serviceInstanceName"],
    "x-kubernetes-preserve-unknown-fields": True,
    "properties": {
        "serviceInstanceName": {"type": "string", "minLength": 1},
        "externalName": _STRING,
        "secretName": _STRING,
        "secretKey": _STRING,
        "secretRootKey": _STRING,
        "parameters": _OPEN,
    },
}
_SERVICE_STATUS = {
    "type": "object",
    "x-kubernetes-preserve-unknown-fields": True,
    "properties": {
        "instanceID": _STRING,
        "bindingID": _STRING,
        "ready": _STRING,
        "subaccountID": _STRING,
        "conditions": {"type": "array", "items": _OPEN},
    },
}

MODULES: dict[str, Module] = {
    m.name: m
    for m in (
        _module(
            "istio",
            "1.16.1",
            [
                crd(
                    _NETWORKING,
                    "VirtualService",
                    "virtualservices",
                    _ISTIO,
                    columns=(_column("Gateways", ".spec.gateways"), _column("Hosts", ".spec.hosts"), _AGE),
                    short_names=("vs",),
                    categories=_NET_CATEGORIES,
                ),
                crd(
                    _NETWORKING,
                    "Gateway",
                    "gateways",
                    _ISTIO,
                    short_names=("gw",),
                    categories=_NET_CATEGORIES,
                ),
                crd(
                    _NETWORKING,
                    "ServiceEntry",
                    "serviceentries",
                    _ISTIO,
                    columns=(
                        _column("Hosts", ".spec.hosts"),
                        _column("Location", ".spec.location"),
                        _column("Resolution", ".spec.resolution"),
                        _AGE,
                    ),
                    short_names=("se",),
                    categories=_NET_CATEGORIES,
                ),
                crd(
                    _NETWORKING,
                    "DestinationRule",
                    "destinationrules",
                    _ISTIO,
                    columns=(_column("Host", ".spec.host"), _AGE),
                    short_names=("dr",),
                    categories=_NET_CATEGORIES,
                ),
                crd(
                    _SECURITY,
                    "AuthorizationPolicy",
                    "authorizationpolicies",
                    ("v1", "v1beta1"),
                    columns=(_column("Action", ".spec.action"), _AGE),
                    short_names=("ap",),
                    categories=_SEC_CATEGORIES,
                ),
                crd(
                    _SECURITY,
                    "PeerAuthentication",
                    "peerauthentications",
                    ("v1", "v1beta1"),
                    columns=(_column("Mode", ".spec.mtls.mode"), _AGE),
                    short_names=("pa",),
                    categories=_SEC_CATEGORIES,
                ),
                _manager("Istio", "istios"),
            ],
            [("istio-controller-manager", f"{REGISTRY}/istio/main/istio-manager:1.16.1")],
        ),
        _module(
            "api-gateway",
            "2.10.4",
            [
                crd(
                    "gateway.kyma-project.io",
                    "APIRule",
                    "apirules",
                    ("v2", "v2alpha1"),
                    columns=(_column("Status", ".status.state"), _column("Hosts", ".spec.hosts")),
                    categories=("kyma-api-gateway",),
                ),
                _manager("APIGateway", "apigateways"),
            ],
            [("api-gateway-controller-manager", f"{REGISTRY}/api-gateway/main/api-gateway-manager:2.10.4")],
        ),
        _module(
            "btp-operator",
            "1.2.11",
            [
                crd(
                    _SERVICES,
                    "ServiceInstance",
                    "serviceinstances",
                    ("v1", "v1alpha1"),
                    columns=(
                        _column("Offering", ".spec.serviceOfferingName"),
                        _column("Plan", ".spec.servicePlanName"),
                        _column("shared", ".spec.shared", "boolean"),
                        _column("dataCenter", ".spec.dataCenter"),
                        _column("Status", ".status.conditions[0].reason"),
                        _column("Ready", ".status.ready"),
                        _AGE,
                        _column("ID", ".status.instanceID", priority=1),
                        _column("Message", ".status.conditions[0].message", priority=1),
                    ),
                    schema=_schema(_SERVICE_INSTANCE_SPEC, _SERVICE_STATUS),
                ),
                crd(
                    _SERVICES,
                    "ServiceBinding",
                    "servicebindings",
                    ("v1", "v1alpha1"),
                    columns=(
                        _column("Instance", ".spec.serviceInstanceName"),
                        _column("Status", ".status.conditions[0].reason"),
                        _column("Ready", ".status.ready"),
                        _AGE,
                        _column("ID", ".status.bindingID", priority=1),
                        _column("Message", ".status.conditions[0].message", priority=1),
                    ),
                    schema=_schema(_SERVICE_BINDING_SPEC, _SERVICE_STATUS),
                ),
                _manager("BtpOperator", "btpoperators"),
            ],
            [
                ("btp-manager-controller-manager", f"{REGISTRY}/btp-manager:1.2.11"),
                ("sap-btp-operator-controller-manager", f"{REGISTRY}/sap-btp-service-operator:v0.6.8"),
            ],
        ),
        _module(
            "serverless",
            "1.6.0",
            [
                crd(
                    "serverless.kyma-project.io",
                    "Function",
                    "functions",
                    ("v1alpha2",),
                    columns=(
                        _column("Configured", ".status.conditions[?(@.type=='ConfigurationReady')].status"),
                        _column("Built", ".status.conditions[?(@.type=='BuildReady')].status"),
                        _column("Running", ".status.conditions[?(@.type=='Running')].status"),
                        _column("Runtime", ".spec.runtime"),
                        _column("Version", ".metadata.generation", "integer"),
                        _AGE,
                    ),
                    categories=("all",),
                ),
                _manager("Serverless", "serverlesses"),
            ],
            [
                ("serverless-operator", f"{REGISTRY}/serverless-operator:1.6.0"),
                ("serverless-controller-manager", f"{REGISTRY}/function-controller:1.6.0"),
            ],
        ),
        _module(
            "eventing",
            "1.3.0",
            [
                crd(
                    "eventing.kyma-project.io",
                    "Subscription",
                    "subscriptions",
                    ("v1alpha2",),
                    columns=(_column("Ready", ".status.ready"), _AGE),
                ),
                _manager("Eventing", "eventings"),
            ],
            [("eventing-manager", f"{REGISTRY}/eventing-manager:1.3.0")],
        ),
        _module(
            "keda",
            "1.7.0",
            [
                crd("keda.sh", "ScaledObject", "scaledobjects", ("v1alpha1",), short_names=("so",)),
                crd("keda.sh", "ScaledJob", "scaledjobs", ("v1alpha1",), short_names=("sj",)),
                _manager("Keda", "kedas"),
            ],
            [("keda-manager", f"{REGISTRY}/keda-manager:1.7.0")],
        ),
        _module(
            "telemetry",
            "1.40.0",
            [
                crd(
                    "telemetry.kyma-project.io",
                    kind,
                    kind.lower() + "s",
                    ("v1alpha1",),
                    columns=(
                        _column(
                            "Configuration Generated", ".status.conditions[?(@.type=='AgentHealthy')].status"
                        ),
                        _AGE,
                    ),
                )
                for kind in ("LogPipeline", "TracePipeline", "MetricPipeline")
            ]
            + [_manager("Telemetry", "telemetries")],
            [("telemetry-manager", f"{REGISTRY}/telemetry-manager:1.40.0")],
        ),
    )
}


def crd_name(definition: dict[str, Any]) -> str:
    return str(definition["metadata"]["name"])


def deployment(module: str, name: str, image: str) -> dict[str, Any]:
    """A module manager's Deployment in ``kyma-system`` (one replica, small requests)."""
    labels = {"app.kubernetes.io/name": name, MODULE_LABEL: module}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": KYMA_NAMESPACE, "labels": {**labels, **MANAGED_BY}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "manager",
                            "image": image,
                            "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}},
                        }
                    ]
                },
            },
        },
    }


def kyma(channel: str = DEFAULT_CHANNEL, modules: tuple[str, ...] = DEFAULT_MODULES) -> dict[str, Any]:
    """The ``Kyma`` CR ``default`` in ``kyma-system``, as KLM keeps it in the runtime."""
    return {
        "apiVersion": f"{KYMA_GROUP}/{KYMA_VERSION}",
        "kind": "Kyma",
        "metadata": {
            "name": KYMA_NAME,
            "namespace": KYMA_NAMESPACE,
            "labels": {"operator.kyma-project.io/managed-by": "lifecycle-manager"},
        },
        "spec": {"channel": channel, "modules": [{"name": m} for m in modules]},
    }
