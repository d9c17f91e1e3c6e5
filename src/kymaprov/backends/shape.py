"""What a runtime's worker nodes look like: the plan's machine type, node count and zones.

KEB turns ``machineType``, ``autoScalerMin``/``autoScalerMax`` and the region's zones into the
shoot's worker pool; the embedded runtime turns the same into Node objects (``autoScalerMin`` nodes,
spread over the zones). CPU and memory per machine type follow the providers' published sizes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# AWS sizes (m5, m6i, mi): vCPUs; memory is 4 GiB per vCPU for these general-purpose families
_AWS_SIZES = {
    "large": 2,
    "xlarge": 4,
    "2xlarge": 8,
    "4xlarge": 16,
    "8xlarge": 32,
    "12xlarge": 48,
    "16xlarge": 64,
}
_AWS = re.compile(r"^[a-z][a-z0-9]*\.(\w+)$")
_AZURE = re.compile(r"^Standard_[A-Z]+(\d+)[a-z]*_v\d+$")  # Standard_D4s_v5: 4 vCPUs
_GCP = re.compile(r"^[a-z]\d[a-z]?-(standard|highcpu|highmem)-(\d+)$")  # n2-standard-4
_SCC = re.compile(r"^g_c(\d+)_m(\d+)$")  # g_c4_m16: 4 vCPUs, 16 GiB
_GCP_MEMORY_PER_CPU = {"standard": 4, "highcpu": 1, "highmem": 8}


def machine_size(machine_type: str) -> tuple[int, int]:
    """(vCPUs, GiB of memory) of a machine type; 2 vCPUs and 8 GiB for one not in the tables."""
    if m := _SCC.match(machine_type):
        return int(m.group(1)), int(m.group(2))
    if m := _GCP.match(machine_type):
        cpus = int(m.group(2))
        return cpus, cpus * _GCP_MEMORY_PER_CPU[m.group(1)]
    if m := _AZURE.match(machine_type):
        cpus = int(m.group(1))
        return cpus, cpus * 4
    if (m := _AWS.match(machine_type)) and m.group(1) in _AWS_SIZES:
        cpus = _AWS_SIZES[m.group(1)]
        family = machine_type.split(".")[0]
        per_cpu = 2 if family.startswith("c") else 8 if family.startswith(("r", "x")) else 4
        return cpus, cpus * per_cpu
    return 2, 8


@dataclass(frozen=True)
class ClusterShape:
    """The worker pool of a runtime (the embedded backend makes one Node per machine)."""

    machine_type: str = "m6i.large"
    nodes: int = 3  # autoScalerMin: the nodes a new cluster starts with
    max_nodes: int = 20  # autoScalerMax
    region: str = "eu-central-1"
    zones: tuple[str, ...] = field(default=("eu-central-1a", "eu-central-1b", "eu-central-1c"))
    provider: str = "aws"
    plan: str = ""  # the plan's name: the runtimes configuration picks the backend by it
    # the ``networking`` parameter (KEB's defaults): the nodes', pods' and services' CIDRs
    nodes_cidr: str = "10.250.0.0/16"
    pods_cidr: str = "10.96.0.0/13"
    services_cidr: str = "10.104.0.0/13"

    @property
    def cpus(self) -> int:
        return machine_size(self.machine_type)[0]

    @property
    def memory_gib(self) -> int:
        return machine_size(self.machine_type)[1]


DEFAULT_SHAPE = ClusterShape()
