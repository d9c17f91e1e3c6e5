"""The worker pool a plan and the create parameters give a runtime, as KEB hands it to Gardener:
``machineType`` (else the plan's default), ``autoScalerMin``/``autoScalerMax`` (else the plan's
defaults), the region (else the plan's default) and its zones (three with ``haZones``, else one)."""

from __future__ import annotations

from typing import Any

from kymaprov.backends.shape import ClusterShape
from kymaprov.provisioning.catalog import PLANS, Plan
from kymaprov.provisioning.schemas import NETWORKING_DEFAULTS

# trial's abstract regions and the AWS regions KEB places them in
_TRIAL_REGIONS = {"europe": "eu-central-1", "us": "us-east-1", "asia": "ap-southeast-1"}
_PROVIDERS = {"AWS": "aws", "Azure": "azure", "GCP": "gcp", "SapConvergedCloud": "openstack"}


def zones(provider: str, region: str, count: int) -> tuple[str, ...]:
    """Zone names as each provider spells them (``eu-central-1a``, ``westeurope-1``, ``europe-west3-a``)."""
    if provider == "azure":
        return tuple(f"{region}-{i}" for i in range(1, count + 1))
    if provider == "gcp":
        return tuple(f"{region}-{z}" for z in "abc"[:count])
    letters = "abd" if provider == "openstack" else "abc"
    return tuple(f"{region}{z}" for z in letters[:count])


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def cluster_shape(plan: Plan, parameters: dict[str, Any]) -> ClusterShape:
    provider = _PROVIDERS.get(plan.provider, "aws")
    region = str(parameters.get("region") or plan.default_region)
    region = _TRIAL_REGIONS.get(region, region)
    machine = parameters.get("machineType")
    machine_type = machine if isinstance(machine, str) and machine else plan.default_machine_type
    minimum = _int(parameters.get("autoScalerMin"), plan.default_autoscaler_min)
    maximum = max(_int(parameters.get("autoScalerMax"), plan.default_autoscaler_max), minimum)
    given = parameters.get("networking")
    networking = {**NETWORKING_DEFAULTS, **(given if isinstance(given, dict) else {})}
    return ClusterShape(
        machine_type=machine_type,
        nodes=minimum,
        max_nodes=maximum,
        region=region,
        zones=zones(provider, region, 3 if plan.ha_zones and minimum >= 3 else 1),
        provider=provider,
        plan=plan.name,
        nodes_cidr=str(networking["nodes"]),
        pods_cidr=str(networking["pods"]),
        services_cidr=str(networking["services"]),
    )


def shape_of(plan_name: str, parameters: dict[str, Any]) -> ClusterShape:
    """The shape for a stored environment (an unknown plan gets the default shape)."""
    plan = PLANS.get(plan_name)
    return ClusterShape(plan=plan_name) if plan is None else cluster_shape(plan, parameters)
