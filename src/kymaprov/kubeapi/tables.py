"""Server-side printing: ``meta.k8s.io`` Tables with the column sets of ``pkg/printers/internalversion``.

kubectl asks for a Table for human output; rows carry ``PartialObjectMetadata`` (or the full object
with ``includeObject=Object``) so ``-A``, ``--show-labels`` and ``-L`` work.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from kymaprov.kubeapi.resources import ResourceType
from kymaprov.kubeapi.times import age

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

# --- workloads and the other kinds kubectl users list most (pkg/printers/internalversion) -----------


def _template_cells(template: Any) -> list[str]:
    containers = ((template or {}).get("spec") or {}).get("containers") or []
    return [
        ",".join(str(c.get("name", "")) for c in containers),
        ",".join(str(c.get("image", "")) for c in containers),
    ]


def _selector_text(selector: Any) -> str:
    if not isinstance(selector, dict):
        return "<none>"
    parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        values = ",".join(str(v) for v in expr.get("values") or [])
        parts.append(f"{expr.get('key')} {str(expr.get('operator', '')).lower()} ({values})")
    return ",".join(parts) or "<none>"


def _job_cells(obj: dict[str, Any], now: float) -> Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    state = "Running"
    if conditions.get("Complete") == "True":
        state = "Complete"
    elif conditions.get("Failed") == "True":
        state = "Failed"
    elif spec.get("suspend"):
        state = "Suspended"
    completions = spec.get("completions")
    succeeded = int(status.get("succeeded", 0))
    parallelism = spec.get("parallelism", 1)
    done = f"{succeeded}/{completions}" if completions is not None else f"{succeeded}/1 of {parallelism}"
    duration = age(status["startTime"], now) if status.get("startTime") else ""
    return [
        _name(obj),
        state,
        done,
        duration,
        _age(obj, now),
        *_template_cells(spec.get("template")),
        _selector_text(spec.get("selector")),
    ]


def _cron_job_cells(obj: dict[str, Any], now: float) -> Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    template = (spec.get("jobTemplate") or {}).get("spec") or {}
    last = status.get("lastScheduleTime")
    return [
        _name(obj),
        spec.get("schedule", ""),
        _none(spec.get("timeZone")),
        str(bool(spec.get("suspend"))),
        len(status.get("active") or []),
        age(last, now) if last else "<none>",
        _age(obj, now),
        *_template_cells(template.get("template")),
        _selector_text(template.get("selector")),
    ]


def _replica_set_cells(obj: dict[str, Any], now: float) -> Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        _name(obj),
        int(spec.get("replicas", 1)),
        int(status.get("replicas", 0)),
        int(status.get("readyReplicas", 0)),
        _age(obj, now),
        *_template_cells(spec.get("template")),
        _selector_text(spec.get("selector")),
    ]


def _stateful_set_cells(obj: dict[str, Any], now: float) -> Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ready = f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}"
    return [_name(obj), ready, _age(obj, now), *_template_cells(spec.get("template"))]


def _daemon_set_cells(obj: dict[str, Any], now: float) -> Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    node_selector = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    counts = [
        int(status.get(k, 0))
        for k in (
            "desiredNumberScheduled",
            "currentNumberScheduled",
            "numberReady",
            "updatedNumberScheduled",
            "numberAvailable",
        )
    ]
    return [
        _name(obj),
        *counts,
        ",".join(f"{k}={v}" for k, v in node_selector.items()) or "<none>",
        _age(obj, now),
        *_template_cells(spec.get("template")),
        _selector_text(spec.get("selector")),
    ]


def _pvc_cells(obj: dict[str, Any], now: float) -> Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    modes = {
        "ReadWriteOnce": "RWO",
        "ReadOnlyMany": "ROX",
        "ReadWriteMany": "RWX",
        "ReadWriteOncePod": "RWOP",
    }
    access = ",".join(modes.get(m, m) for m in status.get("accessModes") or [])
    return [
        _name(obj),
        status.get("phase", "Pending"),
        spec.get("volumeName", ""),
        (status.get("capacity") or {}).get("storage", ""),
        access,
        _none(spec.get("storageClassName")),
        _none(spec.get("volumeAttributesClassName")),
        _age(obj, now),
        spec.get("volumeMode", "Filesystem"),
    ]


def _ingress_cells(obj: dict[str, Any], now: float) -> Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    hosts = [r.get("host") for r in spec.get("rules") or [] if r.get("host")]
    addresses = [
        i.get("ip") or i.get("hostname") for i in (status.get("loadBalancer") or {}).get("ingress") or []
    ]
    return [
        _name(obj),
        _none(spec.get("ingressClassName")),
        ",".join(hosts) or "*",
        ",".join(addresses),
        "80, 443" if spec.get("tls") else "80",
        _age(obj, now),
    ]


def _hpa_cells(obj: dict[str, Any], now: float) -> Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    return [
        _name(obj),
        f"{ref.get('kind')}/{ref.get('name')}",
        "<unknown>",
        spec.get("minReplicas", 1),
        spec.get("maxReplicas", 0),
        int(status.get("currentReplicas", 0)),
        _age(obj, now),
    ]


def _pdb_cells(obj: dict[str, Any], now: float) -> Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        _name(obj),
        str(spec.get("minAvailable", "N/A")),
        str(spec.get("maxUnavailable", "N/A")),
        int(status.get("disruptionsAllowed", 0)),
        _age(obj, now),
    ]


def _columns(*names: str | tuple[str, str, int]) -> list[dict[str, Any]]:
    """Columns from names, ``(name, type, priority)`` where they are not strings shown by default."""
    columns = []
    for entry in names:
        name, kind, priority = (entry, "string", 0) if isinstance(entry, str) else entry
        if name == "Name":
            columns.append(_NAME)
        elif name == "Age":
            columns.append(_AGE)
        else:
            columns.append(_column(name, kind, priority=priority))
    return columns


_WIDE = (("Containers", "string", 1), ("Images", "string", 1), ("Selector", "string", 1))

PRINTERS.update(
    {
        "jobs": (_columns("Name", "Status", "Completions", "Duration", "Age", *_WIDE), _job_cells),
        "cronjobs": (
            _columns(
                "Name",
                "Schedule",
                "Timezone",
                "Suspend",
                ("Active", "integer", 0),
                "Last Schedule",
                "Age",
                *_WIDE,
            ),
            _cron_job_cells,
        ),
        "replicasets": (
            _columns(
                "Name",
                ("Desired", "integer", 0),
                ("Current", "integer", 0),
                ("Ready", "integer", 0),
                "Age",
                *_WIDE,
            ),
            _replica_set_cells,
        ),
        "statefulsets": (_columns("Name", "Ready", "Age", *_WIDE[:2]), _stateful_set_cells),
        "daemonsets": (
            _columns(
                "Name",
                *((c, "integer", 0) for c in ("Desired", "Current", "Ready", "Up-to-date", "Available")),
                "Node Selector",
                "Age",
                *_WIDE,
            ),
            _daemon_set_cells,
        ),
        "persistentvolumeclaims": (
            _columns(
                "Name",
                "Status",
                "Volume",
                "Capacity",
                "Access Modes",
                "StorageClass",
                "VolumeAttributesClass",
                "Age",
                ("VolumeMode", "string", 1),
            ),
            _pvc_cells,
        ),
        "ingresses": (_columns("Name", "Class", "Hosts", "Address", "Ports", "Age"), _ingress_cells),
        "horizontalpodautoscalers": (
            _columns(
                "Name",
                "Reference",
                "Targets",
                ("MinPods", "string", 0),
                ("MaxPods", "integer", 0),
                ("Replicas", "integer", 0),
                "Age",
            ),
            _hpa_cells,
        ),
        "poddisruptionbudgets": (
            _columns(
                "Name", "Min Available", "Max Unavailable", ("Allowed Disruptions", "integer", 0), "Age"
            ),
            _pdb_cells,
        ),
        "leases": (
            _columns("Name", "Holder", "Age"),
            lambda o, now: [_name(o), (o.get("spec") or {}).get("holderIdentity", ""), _age(o, now)],
        ),
        "priorityclasses": (
            _columns(
                "Name",
                ("Value", "integer", 0),
                ("Global-Default", "boolean", 0),
                "Age",
                ("PreemptionPolicy", "string", 1),
            ),
            lambda o, now: [
                _name(o),
                o.get("value", 0),
                bool(o.get("globalDefault")),
                _age(o, now),
                o.get("preemptionPolicy", "PreemptLowerPriority"),
            ],
        ),
        "storageclasses": (
            _columns(
                "Name",
                "Provisioner",
                "ReclaimPolicy",
                "VolumeBindingMode",
                ("AllowVolumeExpansion", "boolean", 0),
                "Age",
            ),
            lambda o, now: [
                _name(o),
                o.get("provisioner", ""),
                o.get("reclaimPolicy", "Delete"),
                o.get("volumeBindingMode", "Immediate"),
                bool(o.get("allowVolumeExpansion")),
                _age(o, now),
            ],
        ),
        "networkpolicies": (
            _columns("Name", "Pod-Selector", "Age"),
            lambda o, now: [
                _name(o),
                _selector_text((o.get("spec") or {}).get("podSelector")).replace("<none>", ""),
                _age(o, now),
            ],
        ),
    }
)


DEFAULT_COLUMNS = [
    _NAME,
    _column("Created At", "date", description=AGE_DESCRIPTION),
]


# --- custom resources: the CRD's additionalPrinterColumns (apiextensions' tableconvertor) ---------------

_CUSTOM_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[\?\(@\.([\w.-]+)\s*==\s*[\"']([^\"']*)[\"']\)\]|\[\*\]")


def json_path(obj: Any, path: str) -> list[Any]:
    """The values a simple JSONPath (``.a.b``, ``[0]``, ``[*]``, ``[?(@.k=="v")]``) selects."""
    values = [obj]
    text = path.strip().removeprefix("{").removesuffix("}").strip()
    position = 0
    while position < len(text):
        step = _STEP.match(text, position)
        if step is None:
            return []
        position = step.end()
        key, index, filter_key, filter_value = step.groups()
        selected: list[Any] = []
        for value in values:
            if key is not None and isinstance(value, dict) and key in value:
                selected.append(value[key])
            elif index is not None and isinstance(value, list) and int(index) < len(value):
                selected.append(value[int(index)])
            elif filter_key is not None and isinstance(value, list):
                selected += [
                    v for v in value if isinstance(v, dict) and str(v.get(filter_key)) == filter_value
                ]
            elif step.group(0) == "[*]" and isinstance(value, list):
                selected += value
        values = selected
    return values


def _custom_cell(column: dict[str, Any], obj: dict[str, Any]) -> Any:
    values = json_path(obj, str(column.get("jsonPath", "")))
    if not values or values[0] is None:
        return None
    value = values[0]
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return value


def custom_printer(columns: tuple[dict[str, Any], ...]) -> tuple[list[dict[str, Any]], Printer]:
    """Name, then the CRD's columns (Age when it declares none), as kube-apiserver prints them."""
    declared = list(columns) or [_CUSTOM_AGE]
    definitions = [_NAME] + [
        _column(
            str(c.get("name", "")),
            str(c.get("type", "string")),
            str(c.get("format", "")),
            int(c.get("priority", 0) or 0),
            str(c.get("description", "")) or str(c.get("name", "")),
        )
        for c in declared
    ]

    def cells(obj: dict[str, Any], now: float) -> Cells:
        return [_name(obj)] + [_custom_cell(c, obj) for c in declared]

    return definitions, cells


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
    if rt.custom is not None:
        columns, printer = custom_printer(rt.custom.columns)
    else:
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


# --- nodes and endpoints ----------------------------------------------------------------------------


def _node_cells(obj: dict[str, Any], now: float) -> Cells:
    """``printNode``: the Ready condition as the status, roles from ``node-role.kubernetes.io/*``."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    state = "Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"
    if spec.get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = obj["metadata"].get("labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
    if labels.get("kubernetes.io/role"):
        roles.append(labels["kubernetes.io/role"])
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    return [
        _name(obj),
        state,
        ",".join(roles) or "<none>",
        _age(obj, now),
        info.get("kubeletVersion", ""),
        addresses.get("InternalIP") or "<none>",
        addresses.get("ExternalIP") or "<none>",
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _endpoint_text(pairs: list[str]) -> str:
    """``formatEndpoints``: the first three, then ``+ N more...``."""
    if not pairs:
        return "<none>"
    shown = ",".join(pairs[:3])
    return shown + (f" + {len(pairs) - 3} more..." if len(pairs) > 3 else "")


def _endpoints_cells(obj: dict[str, Any], now: float) -> Cells:
    pairs = []
    for subset in obj.get("subsets") or []:
        ports = subset.get("ports") or [{}]
        for address in subset.get("addresses") or []:
            for port in ports:
                pairs.append(
                    f"{address.get('ip')}:{port['port']}" if "port" in port else str(address.get("ip"))
                )
    return [_name(obj), _endpoint_text(pairs), _age(obj, now)]


def _endpoint_slice_cells(obj: dict[str, Any], now: float) -> Cells:
    ports = [str(p.get("port")) for p in obj.get("ports") or [] if p.get("port") is not None]
    addresses = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
    return [
        _name(obj),
        obj.get("addressType", ""),
        ",".join(ports) or "<unset>",
        _endpoint_text(addresses),
        _age(obj, now),
    ]


PRINTERS.update(
    {
        "nodes": (
            _columns(
                "Name",
                "Status",
                "Roles",
                "Age",
                "Version",
                ("Internal-IP", "string", 1),
                ("External-IP", "string", 1),
                ("OS-Image", "string", 1),
                ("Kernel-Version", "string", 1),
                ("Container-Runtime", "string", 1),
            ),
            _node_cells,
        ),
        "endpoints": (_columns("Name", "Endpoints", "Age"), _endpoints_cells),
        "endpointslices": (
            _columns("Name", "AddressType", "Ports", "Endpoints", "Age"),
            _endpoint_slice_cells,
        ),
    }
)
