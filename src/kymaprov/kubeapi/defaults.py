"""Per-kind defaulting: what the defaulters, admission and controllers do in a real cluster.

Only what clients notice: pods are ``Pending``, namespaces ``Active``, Secret ``stringData`` lands in
``data``, Services get a cluster IP. Workload status is the controllers' (``controllers/``).
The strategies (``strategies.py``) call these.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

NODE_PORT_RANGE = (30000, 32767)  # kube-apiserver's --service-node-port-range

# --- defaults -------------------------------------------------------------------------------------


def keep_allocated(new: dict[str, Any], old: dict[str, Any]) -> None:
    """A Service's allocated cluster IPs survive an update that leaves them out."""
    spec, old_spec = new.setdefault("spec", {}), old.get("spec") or {}
    for field in ("clusterIP", "clusterIPs"):
        if field not in spec and field in old_spec:
            spec[field] = old_spec[field]
    old_ports = {(p.get("port"), p.get("protocol", "TCP")): p for p in old_spec.get("ports") or []}
    for port in spec.get("ports") or []:  # an allocated node port stays with its port
        if isinstance(port, dict) and "nodePort" not in port and _wants_node_ports(spec):
            previous = old_ports.get((port.get("port"), port.get("protocol", "TCP")))
            if previous and previous.get("nodePort"):
                port["nodePort"] = previous["nodePort"]


def _wants_node_ports(spec: dict[str, Any]) -> bool:
    kind = spec.get("type")
    return kind == "NodePort" or (kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts", True))


def _node_port(obj: dict[str, Any], index: int, rv: int) -> int:
    """A port in the node port range, spread by hash as kube's random allocator spreads them."""
    meta = obj.get("metadata") or {}
    key = f"{meta.get('namespace')}/{meta.get('name')}/{index}/{rv}".encode()
    low, high = NODE_PORT_RANGE
    return low + int(hashlib.sha256(key).hexdigest(), 16) % (high - low + 1)


def namespace(obj: dict[str, Any], rv: int) -> None:
    meta = obj["metadata"]
    meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


def pod(obj: dict[str, Any], rv: int) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    for container in spec.get("containers") or []:
        if isinstance(container, dict):
            _container_defaults(container)
    status = obj.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", "BestEffort")


def _container_defaults(container: dict[str, Any]) -> None:
    image = str(container.get("image", ""))
    tagged = ":" in image.rsplit("/", 1)[-1] or "@" in image
    latest = not tagged or image.endswith(":latest")
    container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def service(obj: dict[str, Any], rv: int) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    if "clusterIP" not in spec:
        spec["clusterIP"] = f"10.96.{(rv // 250) % 250}.{rv % 250 + 1}"
    spec.setdefault("clusterIPs", [spec["clusterIP"]])
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    taken = {p.get("nodePort") for p in spec.get("ports") or [] if isinstance(p, dict)}
    for index, port in enumerate(spec.get("ports") or []):
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
            if _wants_node_ports(spec) and not port.get("nodePort"):
                chosen = _node_port(obj, index, rv)
                while chosen in taken:
                    chosen = chosen + 1 if chosen < NODE_PORT_RANGE[1] else NODE_PORT_RANGE[0]
                port["nodePort"] = chosen
                taken.add(chosen)
    obj.setdefault("status", {}).setdefault("loadBalancer", {})


def secret(obj: dict[str, Any], rv: int) -> None:
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def deployment(obj: dict[str, Any], rv: int) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
    template(spec)


def template(spec: dict[str, Any], restart_policy: str = "Always") -> None:
    """A workload's pod template gets the pod defaults (``SetDefaults_PodSpec``)."""
    template_spec = (spec.get("template") or {}).get("spec")
    if isinstance(template_spec, dict):
        template_spec.setdefault("restartPolicy", restart_policy)
        template_spec.setdefault("dnsPolicy", "ClusterFirst")
        template_spec.setdefault("schedulerName", "default-scheduler")
        template_spec.setdefault("terminationGracePeriodSeconds", 30)
        template_spec.setdefault("securityContext", {})
        for container in template_spec.get("containers") or []:
            if isinstance(container, dict):
                _container_defaults(container)


def replica_set(obj: dict[str, Any], rv: int) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    template(spec)


def stateful_set(obj: dict[str, Any], rv: int) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("revisionHistoryLimit", 10)
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {"partition": 0})
    spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
    template(spec)


def daemon_set(obj: dict[str, Any], rv: int) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("revisionHistoryLimit", 10)
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {"maxUnavailable": 1, "maxSurge": 0})
    template(spec)


def job_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    template(spec, "Never")


def job(obj: dict[str, Any], rv: int) -> None:
    """Job defaults and, unless ``manualSelector``, the selector the Job strategy generates from the uid."""
    spec = obj.setdefault("spec", {})
    job_spec(spec)
    uid = obj["metadata"].get("uid")
    if uid and not spec.get("manualSelector") and "selector" not in spec:
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        template_meta = (spec.get("template") or {}).setdefault("metadata", {})
        if isinstance(template_meta, dict):
            labels = template_meta.setdefault("labels", {})
            labels.update(
                {
                    "batch.kubernetes.io/controller-uid": uid,
                    "batch.kubernetes.io/job-name": obj["metadata"]["name"],
                    "controller-uid": uid,
                    "job-name": obj["metadata"]["name"],
                }
            )


def cron_job(obj: dict[str, Any], rv: int) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_template = (spec.get("jobTemplate") or {}).get("spec")
    if isinstance(job_template, dict):
        job_spec(job_template)


def role(obj: dict[str, Any], rv: int) -> None:
    if obj.get("rules") is None and "aggregationRule" not in obj:
        obj["rules"] = []
