"""The Kyma plans kymaprov offers, and what the Provisioning Service publishes about them.

The plan names, IDs, regions, machine types and autoscaler limits are KEB's (the broker behind the
``kymaruntime`` service), so that requests valid against SAP's service are valid here and vice versa.
Schemas live in ``schemas``, request validation in ``validation``; both are re-exported here because
the rest of the service only talks to the catalog.
"""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

from kymaprov.provisioning.exceptions import UnknownServicePlan
from kymaprov.provisioning.plan import Plan
from kymaprov.provisioning.schemas import CONTROLS_ORDER, create_schema, update_schema
from kymaprov.provisioning.validation import validate_create, validate_update

__all__ = [
    "KYMA_ENVIRONMENT_TYPE",
    "KYMA_SERVICE_ID",
    "KYMA_SERVICE_NAME",
    "PLANS",
    "Plan",
    "available_environments",
    "available_environments_body",
    "create_schema",
    "find_plan",
    "service_plan_assignments",
    "update_schema",
    "validate_create",
    "validate_update",
]

KYMA_SERVICE_ID = "47c9dcbf-ff30-448e-ab36-d3bad66ba281"
KYMA_SERVICE_NAME = "kymaruntime"
KYMA_ENVIRONMENT_TYPE = "kyma"
CIS_SERVICE_NAME = "cis"
CIS_PLANS = ("local", "central")


# -- plan data ---------------------------------------------------------------------------------------

# The aws lists are those of the real aws createSchema (provisioning-api.md §6), a superset of KEB's
# scripts/values.yaml (which lacks eu-south-1 and the version-agnostic mi.* machine names).
AWS_REGIONS = (
    "eu-central-1",
    "eu-south-1",
    "eu-west-2",
    "ca-central-1",
    "sa-east-1",
    "us-east-1",
    "us-west-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
)
AZURE_REGIONS = (
    "eastus",
    "centralus",
    "westus2",
    "uksouth",
    "northeurope",
    "westeurope",
    "japaneast",
    "southeastasia",
    "australiaeast",
    "brazilsouth",
    "canadacentral",
)
GCP_REGIONS = (
    "europe-west3",
    "asia-south1",
    "us-central1",
    "me-central2",
    "asia-northeast2",
    "me-west1",
    "southamerica-east1",
    "australia-southeast1",
    "asia-northeast1",
    "asia-southeast1",
    "us-west1",
    "us-east4",
    "europe-west4",
)
SCC_REGIONS = ("eu-de-1", "ap-au-1", "na-us-1", "ap-jp-1", "eu-de-2", "na-us-2", "ap-ae-1")
TRIAL_REGIONS = ("europe", "us", "asia")

_SIZES = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")
AWS_MACHINES = tuple(f"{family}.{size}" for family in ("mi", "m6i", "m5") for size in _SIZES)
AWS_ADDITIONAL = (
    *(f"c7i.{size}" for size in _SIZES),
    *(f"{family}.{size}" for family in ("g6", "g4dn") for size in _SIZES[1:]),
)
AZURE_MACHINES = (
    *(f"Standard_D{n}s_v5" for n in (2, 4, 8, 16, 32, 48, 64)),
    *(f"Standard_D{n}_v3" for n in (4, 8, 16, 32, 48, 64)),
)
AZURE_ADDITIONAL = (
    *(f"Standard_F{n}s_v2" for n in (2, 4, 8, 16, 32, 48, 64)),
    *(f"Standard_NC{n}as_T4_v3" for n in (4, 8, 16, 64)),
)
AZURE_LITE_MACHINES = ("Standard_D2s_v5", "Standard_D4s_v5", "Standard_D4_v3")
GCP_MACHINES = tuple(f"n2-standard-{n}" for n in (2, 4, 8, 16, 32, 48, 64))
GCP_ADDITIONAL = (
    *(f"c2d-highcpu-{n}" for n in (2, 4, 8, 16, 32, 56)),
    *(f"g2-standard-{n}" for n in (4, 8, 12, 16, 24, 32, 48)),
)
SCC_MACHINES = tuple(f"g_c{c}_m{c * 4}" for c in (2, 4, 6, 8, 12, 16, 32, 64))
# Trial and free runtimes get KEB's hard-coded AWS machine (resolved to m6i.xlarge).
SMALL_AWS_MACHINES = ("mi.xlarge",)

COMMERCIAL = frozenset(CONTROLS_ORDER)  # the commercial plans offer every control
# azure_lite is not among KEB's additionalVolumeGiPlans.
AZURE_LITE = COMMERCIAL - {"additionalVolumeSizeGi"}
TRIAL = frozenset({"name", "modules", "oidc", "administrators"})
FREE = frozenset({"name", "region", "networking", "modules", "oidc", "administrators"})


def _commercial(
    name: str, plan_id: str, description: str, provider: str, regions: tuple[str, ...], **kw: Any
) -> Plan:
    """A paid plan: KEB's HA autoscaler limits 3..300 with defaults 3/20 unless overridden."""
    values: dict[str, Any] = {
        "autoscaler_min": 3,
        "autoscaler_max": 300,
        "default_autoscaler_min": 3,
        "default_autoscaler_max": 20,
        "default_region": regions[0],
        "properties": COMMERCIAL,
        "additional_machines": (),
    }
    values.update(kw)
    return Plan(name=name, id=plan_id, description=description, provider=provider, regions=regions, **values)


def _single_node(name: str, plan_id: str, description: str, regions: tuple[str, ...], **kw: Any) -> Plan:
    """trial/free: one AWS node, no autoscaler in the schema (KEB's defaults are min 1, max 1)."""
    return Plan(
        name=name,
        id=plan_id,
        description=description,
        provider="AWS",
        regions=regions,
        regular_machines=SMALL_AWS_MACHINES,
        additional_machines=(),
        autoscaler_min=1,
        autoscaler_max=1,
        default_autoscaler_min=1,
        default_autoscaler_max=1,
        **kw,
    )


_ALL_PLANS = (
    _commercial(
        "aws",
        "361c511f-f939-4621-b228-d0fb79a1fe15",
        "AWS",
        "AWS",
        AWS_REGIONS,
        regular_machines=AWS_MACHINES,
        additional_machines=AWS_ADDITIONAL,
        dual_stack=True,
    ),
    _commercial(
        "azure",
        "4deee563-e5ec-4731-b9b1-53b42d855f0c",
        "Azure",
        "Azure",
        AZURE_REGIONS,
        regular_machines=AZURE_MACHINES,
        additional_machines=AZURE_ADDITIONAL,
    ),
    _commercial(
        "azure_lite",
        "8cb22518-aa26-44c5-91a0-e669ec9bf443",
        "Azure Lite",
        "Azure",
        AZURE_REGIONS,
        regular_machines=AZURE_LITE_MACHINES,
        autoscaler_min=2,
        autoscaler_max=40,
        default_autoscaler_min=2,
        default_autoscaler_max=10,
        properties=AZURE_LITE,
        ha_zones=False,
    ),
    _commercial(
        "gcp",
        "ca6e5357-707f-4565-bbbd-b3ab732597c6",
        "GCP",
        "GCP",
        GCP_REGIONS,
        regular_machines=GCP_MACHINES,
        additional_machines=GCP_ADDITIONAL,
        dual_stack=True,
    ),
    _commercial(
        "sap-converged-cloud",
        "03b812ac-c991-4528-b5bd-08b303523a63",
        "SAP Cloud Infrastructure",
        "SapConvergedCloud",
        SCC_REGIONS,
        regular_machines=SCC_MACHINES,
    ),
    _single_node(
        "trial",
        "7d55d31d-35ae-4438-bf13-6ffdfa107d9f",
        "Trial",
        TRIAL_REGIONS,
        default_region="europe",
        properties=TRIAL,
    ),
    _single_node(
        "free",
        "b1a5764e-2ea1-4f95-94c0-2b4538b37b55",
        "Free",
        AWS_REGIONS,
        default_region="eu-central-1",
        properties=FREE,
    ),
)
# KEB lists its plans sorted by name.
PLANS: dict[str, Plan] = {plan.name: plan for plan in sorted(_ALL_PLANS, key=lambda p: p.name)}


def find_plan(service_name: str, plan_name: str) -> Plan:
    """Resolve a request's service and plan; anything else is the real service's 400 41003."""
    if service_name != KYMA_SERVICE_NAME or plan_name not in PLANS:
        raise UnknownServicePlan()
    return PLANS[plan_name]


# -- availableEnvironments ---------------------------------------------------------------------------

SERVICE_DESCRIPTION = (
    "Kyma environment is a runtime you can use to build cloud-native Kubernetes-based applications by "
    "using microservices and serverless functions."
)
DOCUMENTATION_URL = (
    "https://help.sap.com/docs/btp/sap-business-technology-platform/"
    "provisioning-and-update-parameters-in-kyma-environment"
)
SUPPORT_URL = "https://launchpad.support.sap.com/"
_ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<path fill="#0a6ed1" d="M16 2 29 9.5v13L16 30 3 22.5v-13z"/></svg>'
)
IMAGE_URL = "data:image/svg+xml;base64," + base64.b64encode(_ICON.encode()).decode()


def available_environments() -> list[dict[str, Any]]:
    """One ``AvailableEnvironmentResponseObject`` per plan; copies, so callers cannot alter the cache."""
    return [dict(entry) for entry in _environments()]


@cache
def available_environments_body() -> bytes:
    """The body of ``GET /availableEnvironments``, rendered once: it is 211 KB, the same for every caller."""
    body = {"availableEnvironments": list(_environments())}
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


@cache
def _environments() -> tuple[dict[str, Any], ...]:
    return tuple(_environment(plan) for plan in PLANS.values())


def _environment(plan: Plan) -> dict[str, Any]:
    """The Kyma entry as the real service shows it: schemas are JSON *strings* of ``{"parameters"}``,
    and there is no ``landscapeLabel`` or ``technicalKey``."""
    return {
        "serviceName": KYMA_SERVICE_NAME,
        "serviceDisplayName": "Kyma Environment",
        "serviceImageUrl": IMAGE_URL,
        "serviceDescription": SERVICE_DESCRIPTION,
        "serviceLongDescription": SERVICE_DESCRIPTION,
        "serviceDocumentationUrl": DOCUMENTATION_URL,
        "serviceSupportUrl": SUPPORT_URL,
        "planName": plan.name,
        # the real service says true for Kyma (provisioning-api.md, the aws entry) although KEB accepts
        # plan changes only to build-runtime-* plans (kyma-bindings-and-keb.md), which kymaprov does
        # not offer: clients compare against the real answer, so it stays, and a change is refused
        "planUpdatable": True,
        "description": plan.description,
        "environmentType": KYMA_ENVIRONMENT_TYPE,
        "availabilityLevel": "ACTIVE",
        "createSchema": json.dumps({"parameters": create_schema(plan)}, ensure_ascii=False),
        "updateSchema": json.dumps({"parameters": update_schema(plan)}, ensure_ascii=False),
        "allowAdditionalEnvironmentInstance": False,
    }


# -- servicePlanAssignments --------------------------------------------------------------------------


def service_plan_assignments(
    global_account_id: str, subaccount_id: str, consumed: dict[str, int] | None = None
) -> dict[str, Any]:
    """The subaccount's entitlements: one Kyma runtime per plan, and the unlimited ``cis`` plans.

    ``consumed`` maps a Kyma plan name to the number of its environments in the subaccount.
    """
    used = consumed or {}
    ids = (global_account_id, subaccount_id)
    kyma = [
        _quota(*ids, KYMA_SERVICE_NAME, plan, "ENVIRONMENT", quota=1, used=used.get(plan, 0))
        for plan in PLANS
    ]
    cis = [
        _quota(*ids, CIS_SERVICE_NAME, plan, "SERVICE", quota=0, used=0, unlimited=True) for plan in CIS_PLANS
    ]
    return {"quotas": kyma + cis}


def _quota(
    global_account_id: str,
    subaccount_id: str,
    service: str,
    plan: str,
    category: str,
    *,
    quota: int,
    used: int,
    unlimited: bool = False,
) -> dict[str, Any]:
    """One ``ServicePlanAssignmentResponseObject`` with the SPEC's field names."""
    return {
        "consumedQuota": used,
        "globalAccountGUID": global_account_id,
        "globalAccountId": global_account_id,
        "plan": plan,
        "provisioningMethod": "SERVICE_BROKER",
        "quota": quota,
        "resources": [],
        "service": service,
        "serviceCategory": category,
        "subaccountGUID": subaccount_id,
        "tenantId": subaccount_id,
        "uniqueIdentifier": service,
        "unlimited": unlimited,
    }
