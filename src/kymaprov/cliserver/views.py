"""How the CLI server shows accounts objects: the backends' fields, dates as ``Jul 15, 2026, 1:26:13 PM``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kymaprov.accounts.models import GlobalAccount, Subaccount
from kymaprov.cis.models import OFFERING, PLANS
from kymaprov.provisioning.models import Environment


def cli_date(ms: int) -> str:
    """The accounts backends' date form (UTC, English month, 12-hour clock), as the real server sends it."""
    d = datetime.fromtimestamp(ms / 1000, tz=UTC)
    hour = d.hour % 12 or 12
    return f"{d:%b} {d.day}, {d.year}, {hour}:{d:%M:%S} {'AM' if d.hour < 12 else 'PM'}"


def iso_date(ms: int) -> str:
    """The Service Manager's RFC 3339 time, as its objects carry it."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def global_account(ga: GlobalAccount) -> dict[str, Any]:
    return {
        "guid": ga.id,
        "displayName": ga.display_name,
        "subdomain": ga.subdomain,
        "description": "",
        "commercialModel": "Subscription",
        "consumptionBased": False,
        "licenseType": "SAPDEV",
        "geoAccess": "STANDARD",
        "origin": "OPERATOR",
        "useFor": "Testing",
        "createdDate": cli_date(ga.created_ms),
        "modifiedDate": cli_date(ga.created_ms),
        "entityState": "OK",
        "stateMessage": "Global account created.",
        "contractStatus": "ACTIVE",
    }


def subaccount(sub: Subaccount) -> dict[str, Any]:
    return {
        **sub.to_json(),
        "technicalName": sub.id,
        "parentType": "ROOT",
        "betaEnabled": False,
        "usedForProduction": "UNSET",
        "description": "",
        "stateMessage": "Subaccount created.",
        "createdDate": cli_date(sub.created_ms),
        "modifiedDate": cli_date(sub.created_ms),
        "createdBy": "",
        "lastModifiedBy": "",
        "contractStatus": "ACTIVE",
    }


def environment(env: Environment, base_url: str) -> dict[str, Any]:
    body = env.to_wire(base_url)
    return {
        **body,
        "createdDate": cli_date(body["createdDate"]),
        "modifiedDate": cli_date(body["modifiedDate"]),
    }


def entitlements(quotas: list[dict[str, Any]], created_ms: int) -> dict[str, Any]:
    """The Provisioning layer's plan assignments (of one or more subaccounts) as the entitlements service's
    ``{entitledServices, assignedServices}``: per service, per plan, one assignment per subaccount."""
    entitled: dict[str, dict[str, dict[str, Any]]] = {}
    assigned: dict[str, dict[str, dict[str, Any]]] = {}
    for q in quotas:
        plan = {
            "name": q["plan"],
            "displayName": q["plan"],
            "uniqueIdentifier": f"{q['service']}-{q['plan']}",
            "category": q["serviceCategory"],
            "provisioningMethod": q["provisioningMethod"],
            "unlimited": q["unlimited"],
            "beta": False,
        }
        mine = entitled.setdefault(q["service"], {}).setdefault(q["plan"], {**plan, "amount": 0.0})
        mine["amount"] += q["quota"]
        mine["remainingAmount"] = mine["amount"]
        target = assigned.setdefault(q["service"], {}).setdefault(q["plan"], {**plan, "assignmentInfo": []})
        target["assignmentInfo"].append(
            {
                "entityId": q["subaccountGUID"],
                "entityType": "SUBACCOUNT",
                "amount": float(q["quota"]),
                "requestedAmount": float(q["quota"]),
                "parentId": q["globalAccountGUID"],
                "parentType": "GLOBAL_ACCOUNT",
                "entityState": "OK",
                "stateMessage": "Assignment completed.",
                "unlimitedAmountAssigned": q["unlimited"],
                "autoAssign": False,
                "autoAssigned": False,
                "createdDate": created_ms,
                "modifiedDate": created_ms,
            }
        )

    def services(plans: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "displayName": name,
                "ownerType": "VENDOR",
                "businessCategory": {"id": "RUNTIMES", "displayName": "Runtimes"},
                "servicePlans": list(by_plan.values()),
            }
            for name, by_plan in plans.items()
        ]

    return {
        "entitledServices": services(entitled),
        "assignedServices": services(assigned),
        "fetchErrorFromExternalProviderRegistry": False,
    }


def plan_id(plan_name: str) -> str:
    """The id the cis layer gives an instance's plan (``service_plan_id``)."""
    return f"{OFFERING}-{plan_name}"


def offering(created: str) -> dict[str, Any]:
    return {
        "id": OFFERING,
        "ready": True,
        "name": OFFERING,
        "description": "Cloud Management Service (kymaprov)",
        "bindable": True,
        "instances_retrievable": True,
        "bindings_retrievable": True,
        "plan_updateable": False,
        "allow_context_updates": False,
        "metadata": {"displayName": "Cloud Management Service"},
        "broker_id": "kymaprov",
        "catalog_id": OFFERING,
        "catalog_name": OFFERING,
        "created_at": created,
        "updated_at": created,
    }


def plans(created: str) -> list[dict[str, Any]]:
    return [
        {
            "id": plan_id(name),
            "ready": True,
            "name": name,
            "description": f"cis plan {name}",
            "catalog_id": plan_id(name),
            "catalog_name": name,
            "free": True,
            "bindable": True,
            "service_offering_id": OFFERING,
            "service_offering_name": OFFERING,
            "data_center": "",
            "labels": f"commercial_name = {name}",
            "created_at": created,
            "updated_at": created,
        }
        for name in PLANS
    ]
