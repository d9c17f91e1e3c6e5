"""A runtime's worker Nodes and their heartbeat Leases, as a Gardener shoot's workers register them.

``ClusterShape`` (the plan's machine type, ``autoScalerMin`` nodes, the region's zones) becomes one
Node per machine, spread round-robin over the zones, each with the labels, capacity, conditions,
addresses and ``nodeInfo`` a kubelet reports, and a Lease in ``kube-node-lease`` (the kubelet's
heartbeat; ``controllers/nodelease.py`` renews it).
"""

from __future__ import annotations

import hashlib
from typing import Any

from kymaprov.backends.shape import ClusterShape
from kymaprov.kubeapi.discovery import VERSION_INFO
from kymaprov.kubeapi.times import rfc3339

KUBELET_VERSION = str(VERSION_INFO["gitVersion"])
LEASE_NAMESPACE = "kube-node-lease"
LEASE_SECONDS = 40  # the kubelet's nodeLeaseDurationSeconds
POOL = "cpu-worker-0"  # KEB's name for the main worker pool
MAX_PODS = 110
_RESERVED_CPU_MILLIS = 80  # kube-reserved + system-reserved as Gardener sets them, roughly
_RESERVED_MEMORY_KI = 1024 * 1024 + 100 * 1024


def node_name(shape: ClusterShape, cluster_id: str, index: int) -> str:
    """AWS names nodes after their private DNS name; Gardener's other providers after the machine."""
    if shape.provider == "aws":
        return f"ip-10-250-{index // 250}-{index % 250 + 10}.{shape.region}.compute.internal"
    digest = hashlib.sha256(f"{cluster_id}/{index}".encode()).hexdigest()
    zone = index % len(shape.zones) + 1
    return f"shoot--kyma--{cluster_id[:8]}-{POOL}-z{zone}-{digest[:5]}-{digest[5:10]}"


def node_ip(index: int) -> str:
    return f"10.250.{index // 250}.{index % 250 + 10}"


def node(shape: ClusterShape, cluster_id: str, index: int, now: float) -> dict[str, Any]:
    name = node_name(shape, cluster_id, index)
    zone = shape.zones[index % len(shape.zones)] if shape.zones else shape.region
    digest = hashlib.sha256(f"{cluster_id}/{name}".encode()).hexdigest()
    memory_ki = shape.memory_gib * 1024 * 1024
    since = rfc3339(now)
    conditions = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/instance-type": shape.machine_type,
                "beta.kubernetes.io/os": "linux",
                "failure-domain.beta.kubernetes.io/region": shape.region,
                "failure-domain.beta.kubernetes.io/zone": zone,
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": shape.machine_type,
                "node.kubernetes.io/role": "node",
                "topology.kubernetes.io/region": shape.region,
                "topology.kubernetes.io/zone": zone,
                "worker.gardener.cloud/pool": POOL,
                "worker.gardener.cloud/system-components": "true",
            },
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {
            "podCIDR": f"100.64.{index}.0/24",
            "podCIDRs": [f"100.64.{index}.0/24"],
            "providerID": f"{shape.provider}:///{zone}/i-{digest[:17]}",
        },
        "status": {
            "capacity": {
                "cpu": str(shape.cpus),
                "ephemeral-storage": "50620216Ki",
                "memory": f"{memory_ki}Ki",
                "pods": str(MAX_PODS),
            },
            "allocatable": {
                "cpu": f"{shape.cpus * 1000 - _RESERVED_CPU_MILLIS}m",
                "ephemeral-storage": "49243775503",
                "memory": f"{memory_ki - _RESERVED_MEMORY_KI}Ki",
                "pods": str(MAX_PODS),
            },
            "conditions": [
                {
                    "type": kind,
                    "status": status,
                    "lastHeartbeatTime": since,
                    "lastTransitionTime": since,
                    "reason": reason,
                    "message": message,
                }
                for kind, status, reason, message in conditions
            ],
            "addresses": [
                {"type": "InternalIP", "address": node_ip(index)},
                {"type": "Hostname", "address": name},
                {"type": "InternalDNS", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": digest[:32],
                "systemUUID": _uuid(digest[:32]),
                "bootID": _uuid(digest[32:]),
                "kernelVersion": "6.6.62-cloud-amd64",
                "osImage": "Garden Linux 1592.4",
                "containerRuntimeVersion": "containerd://1.7.24",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


def _uuid(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:32]}"


def micro_time(now: float) -> str:
    """``metav1.MicroTime`` as kube writes it: RFC 3339 with microseconds."""
    return rfc3339(now).replace("Z", "") + f".{int(now * 1_000_000) % 1_000_000:06d}Z"


def lease(node_obj: dict[str, Any], now: float) -> dict[str, Any]:
    meta = node_obj["metadata"]
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": meta["name"],
            "namespace": LEASE_NAMESPACE,
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Node", "name": meta["name"], "uid": meta["uid"]}
            ],
        },
        "spec": {
            "holderIdentity": meta["name"],
            "leaseDurationSeconds": LEASE_SECONDS,
            "renewTime": micro_time(now),
        },
    }
