"""Server-side printing: ``meta.k8s.io`` Tables with the column sets of ``pkg/printers/internalversion``.

kubectl asks for a Table for human output; rows carry ``PartialObjectMetadata`` (or the full object
with ``includeObject=Object``) so ``-A``, ``--show-labels`` and ``-L`` work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kymaprov.runtime.resources import ResourceType
from kymaprov.runtime.times import age

Cells = list[Any]
Printer = Callable[[dict[str, Any], float], Cells]

NAME_DESCRIPTION = "Name must be unique within a namespace."
AGE_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was created."
)


def _column(
    name: str, kind: str = "string", fmt: str = "", priority: int = 0, description: str = ""
) -> dict[str, Any]:
    return {
        "name": name,
        "type": kind,
        "format": fmt,
        "description": description or name,
        "priority": priority,
    }


def _name(obj: dict[str, Any]) -> str:
    return str(obj["metadata"].get("name", ""))


def _age(obj: dict[str, Any], now: float) -> str:
    return age(obj["metadata"].get("creationTimestamp"), now)


def _none(value: Any) -> Any:
    return value if value not in (None, "", []) else "<none>"


# --- pods -----------------------------------------------------------------------------------------


def _pod_cells(obj: dict[str, Any], now: float) -> Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    containers = spec.get("containers") or []
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount", 0)) for s in statuses)
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for container in statuses:
        state = container.get("state") or {}
        waiting, terminated = state.get("waiting") or {}, state.get("terminated") or {}
        if waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated.get("reason"):
            reason = terminated["reason"]
    if obj["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    gates = spec.get("readinessGates") or []
    return [
        _name(obj),
        f"{ready}/{len(containers)}",
        reason,
        str(restarts),
        _age(obj, now),
        _none(status.get("podIP")),
        _none(spec.get("nodeName")),
        _none(status.get("nominatedNodeName")),
        f"0/{len(gates)}" if gates else "<none>",
    ]


_POD_COLUMNS = [
    _column("Name", fmt="name", description=NAME_DESCRIPTION),
    _column("Ready", description="The aggregate readiness state of this pod for accepting."),
    _column("Status", description="The aggregate status of the containers in this pod."),
    _column("Restarts", description="The number of times the containers in this pod have been."),
    _column("Age", description=AGE_DESCRIPTION),
    _column("IP", priority=1, description="IP address allocated to the pod."),
    _column("Node", priority=1, description="NodeName is a request to schedule this pod onto a."),
    _column(
        "Nominated Node", priority=1, description="nominatedNodeName is set only when this pod preempts."
    ),
    _column(
        "Readiness Gates", priority=1, description="If specified, all readiness gates will be evaluated for."
    ),
]


# --- other kinds ----------------------------------------------------------------------------------


def _namespace_cells(obj: dict[str, Any], now: float) -> Cells:
    return [_name(obj), (obj.get("status") or {}).get("phase", ""), _age(obj, now)]


def _deployment_cells(obj: dict[str, Any], now: float) -> Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    match = (spec.get("selector") or {}).get("matchLabels") or {}
    return [
        _name(obj),
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        int(status.get("updatedReplicas", 0)),
        int(status.get("availableReplicas", 0)),
        _age(obj, now),
        ",".join(str(c.get("name", "")) for c in containers),
        ",".join(str(c.get("image", "")) for c in containers),
        ",".join(f"{k}={v}" for k, v in match.items()) or "<none>",
    ]


def _service_cells(obj: dict[str, Any], now: float) -> Cells:
    spec = obj.get("spec") or {}
    ports = ",".join(
        f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/{p.get('protocol', 'TCP')}"
        for p in spec.get("ports") or []
    )
    external = ",".join(spec.get("externalIPs") or []) or (
        "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"
    )
    selector = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items())
    return [
        _name(obj),
        spec.get("type", "ClusterIP"),
        _none(spec.get("clusterIP")),
        external,
        ports or "<none>",
        _age(obj, now),
        selector or "<none>",
    ]


def _binding_cells(obj: dict[str, Any], now: float) -> Cells:
    subjects = obj.get("subjects") or []
    ref = obj.get("roleRef") or {}

    def names(kind: str) -> str:
        picked = [s for s in subjects if s.get("kind") == kind]
        if kind == "ServiceAccount":
            return ", ".join(f"{s.get('namespace', '')}/{s.get('name')}" for s in picked)
        return ", ".join(str(s.get("name")) for s in picked)

    return [
        _name(obj),
        f"{ref.get('kind')}/{ref.get('name')}",
        _age(obj, now),
        names("User"),
        names("Group"),
        names("ServiceAccount"),
    ]


def _event_cells(obj: dict[str, Any], now: float) -> Cells:
    involved = obj.get("involvedObject") or {}
    last = obj.get("lastTimestamp") or obj.get("eventTime") or obj["metadata"].get("creationTimestamp")
    return [
        age(last, now),
        obj.get("type", ""),
        obj.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        str(obj.get("message", "")).strip(),
    ]


def _default_cells(obj: dict[str, Any], now: float) -> Cells:
    return [_name(obj), obj["metadata"].get("creationTimestamp", "")]


_AGE = _column("Age", description=AGE_DESCRIPTION)
_NAME = _column("Name", fmt="name", description=NAME_DESCRIPTION)
_BINDING_COLUMNS = [
    _NAME,
    _column("Role", description="Role referenced by this binding."),
    _AGE,
    _column("Users", priority=1, description="Users in the binding."),
    _column("Groups", priority=1, description="Groups in the binding."),
    _column("ServiceAccounts", priority=1, description="ServiceAccounts in the binding."),
]

PRINTERS: dict[str, tuple[list[dict[str, Any]], Printer]] = {
    "pods": (_POD_COLUMNS, _pod_cells),
    "namespaces": (
        [_NAME, _column("Status", description="The status of the namespace"), _AGE],
        _namespace_cells,
    ),
    "deployments": (
        [
            _NAME,
            _column("Ready", description="Number of the pod with ready state"),
            _column(
                "Up-to-date",
                "integer",
                description="Total number of non-terminated pods targeted by this.",
            ),
            _column(
                "Available",
                "integer",
                description="Total number of available pods (ready for at least.",
            ),
            _AGE,
            _column("Containers", priority=1, description="Names of each container in the template."),
            _column("Images", priority=1, description="Images referenced by each container in the template."),
            _column(
                "Selector",
                priority=1,
                description="Label selector for pods.",
            ),
        ],
        _deployment_cells,
    ),
    "services": (
        [
            _NAME,
            _column("Type", description="The type of the service."),
            _column("Cluster-IP", description="The IP address of the service."),
            _column("External-IP", description="The external IP addresses of the service."),
            _column("Port(s)", description="The ports exposed by the service."),
            _AGE,
            _column(
                "Selector",
                priority=1,
                description="Route service traffic to pods with label keys and values.",
            ),
        ],
        _service_cells,
    ),
    "serviceaccounts": (
        [
            _NAME,
            _column(
                "Secrets",
                "integer",
                description="Secrets is a list of the secrets in the same namespace.",
            ),
            _AGE,
        ],
        lambda o, now: [_name(o), len(o.get("secrets") or []), _age(o, now)],
    ),
    "configmaps": (
        [_NAME, _column("Data", "integer", description="Data contains the configuration data."), _AGE],
        lambda o, now: [_name(o), len(o.get("data") or {}) + len(o.get("binaryData") or {}), _age(o, now)],
    ),
    "secrets": (
        [
            _NAME,
            _column("Type", description="The type of secret"),
            _column("Data", "integer", description="The number of entries in the secret's data."),
            _AGE,
        ],
        lambda o, now: [_name(o), o.get("type", "Opaque"), len(o.get("data") or {}), _age(o, now)],
    ),
    "events": (
        [
            _column("Last Seen", description="The last time the event was seen."),
            _column("Type", description="Type of this event (Normal, Warning)."),
            _column(
                "Reason",
                description="Short, machine understandable string that gives the.",
            ),
            _column("Object", description="The object that this event is about."),
            _column("Message", description="A human-readable description of the status of this operation."),
        ],
        _event_cells,
    ),
    "clusterrolebindings": (_BINDING_COLUMNS, _binding_cells),
    "rolebindings": (_BINDING_COLUMNS, _binding_cells),
}

DEFAULT_COLUMNS = [
    _NAME,
    _column("Created At", "date", description=AGE_DESCRIPTION),
]


def wants_table(accept: str) -> str | None:
    """``v1`` or ``v1beta1`` when the Accept header asks for a ``meta.k8s.io`` Table."""
    for media in accept.split(","):
        parts = [p.strip() for p in media.split(";")]
        params = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return params.get("v", "v1")
    return None


def to_table(
    rt: ResourceType,
    items: list[dict[str, Any]],
    resource_version: str,
    now: float,
    *,
    version: str = "v1",
    include_object: str = "Metadata",
    headers: bool = True,
) -> dict[str, Any]:
    columns, printer = PRINTERS.get(rt.resource, (DEFAULT_COLUMNS, _default_cells))
    rows = []
    for obj in items:
        row: dict[str, Any] = {"cells": printer(obj, now)}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": f"meta.k8s.io/{version}",
                "metadata": obj.get("metadata", {}),
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns if headers else [],
        "rows": rows,
    }
