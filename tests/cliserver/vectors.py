"""Test vectors of the BTP CLI-server protocol, derived from terraform-provider-btp's recordings of the
real server (its go-vcr cassettes): what each request answers, with values that identify the
recording (ids, dates, names) reduced to their form.

``form`` names a value's form: ``<uuid>`` lower-case and ``<UUID>`` upper-case GUIDs, ``<date>`` the
accounts backends' ``Jul 15, 2026, 1:26:13 PM``, ``<iso>`` the Service Manager's RFC 3339 time,
``<json-object>`` a string holding a JSON object, ``<str>``/``<bool>``/``<object>``/``<list>`` any
other value of that JSON type.
"""

from __future__ import annotations

import json
import re
from typing import Any

_FORMS = [
    ("<uuid>", re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")),
    ("<UUID>", re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")),
    ("<date>", re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}:\d{2} [AP]M$")),
    ("<iso>", re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")),
]


def form(value: Any) -> str:
    if isinstance(value, bool):
        return "<bool>"
    if isinstance(value, dict):
        return "<object>"
    if isinstance(value, list):
        return "<list>"
    if isinstance(value, str):
        for name, pattern in _FORMS:
            if pattern.match(value):
                return name
        try:
            if isinstance(json.loads(value), dict):
                return "<json-object>"
        except ValueError:
            pass
        return "<str>"
    return type(value).__name__


# the answer's headers on every successful command (cassettes: all of them)
COMMAND_HEADERS = ("x-cpcli-backend-status", "x-cpcli-backend-mediatype")
ACCOUNTS_MEDIATYPE = "application/json;charset=UTF-8"
SM_MEDIATYPE = "application/json"

# POST /login/v2.106.1 -> 200, X-Cpcli-Sessionid, body fields (resource_subaccount_environment_instance)
LOGIN_FIELDS = {"issuer": "<str>", "mail": "<str>"}

# accounts/subaccount?list -> {"value": [...]}; ?get -> one; fields as recorded (datasource_subaccount)
SUBACCOUNT_FIELDS = {
    "guid": "<uuid>",
    "technicalName": "<uuid>",
    "displayName": "<str>",
    "globalAccountGUID": "<uuid>",
    "parentGUID": "<uuid>",
    "parentType": "<str>",
    "region": "<str>",
    "subdomain": "<str>",
    "betaEnabled": "<bool>",
    "usedForProduction": "<str>",
    "state": "<str>",
    "stateMessage": "<str>",
    "createdDate": "<date>",
    "modifiedDate": "<date>",
    "contractStatus": "<str>",
}
# ?update answers the same object with its dates as epoch milliseconds (resource_subaccount)
SUBACCOUNT_UPDATED = {"createdDate": "int", "modifiedDate": "int"}
SUBACCOUNT_NOT_FOUND = re.compile(r"^Subaccount \S+ not found \[Error: 20004/404\]$")

# accounts/global-account?get (datasource_globalaccount)
GLOBAL_ACCOUNT_FIELDS = {
    "guid": "<uuid>",
    "displayName": "<str>",
    "subdomain": "<str>",
    "createdDate": "<date>",
    "modifiedDate": "<date>",
    "entityState": "<str>",
    "contractStatus": "<str>",
    "licenseType": "<str>",
    "commercialModel": "<str>",
}

# accounts/environment-instance?create|get|delete (resource_subaccount_environment_instance)
ENVIRONMENT_FIELDS = {
    "id": "<UUID>",
    "name": "<str>",
    "brokerId": "<UUID>",
    "globalAccountGUID": "<uuid>",
    "subaccountGUID": "<uuid>",
    "tenantId": "<uuid>",
    "serviceId": "<uuid>",
    "planId": "<uuid>",
    "operation": "<str>",
    "parameters": "<json-object>",
    "labels": "<json-object>",
    "customLabels": "<object>",
    "type": "<str>",
    "status": "<str>",
    "environmentType": "<str>",
    "createdDate": "<date>",
    "modifiedDate": "<date>",
    "state": "<str>",
    "stateMessage": "<str>",
    "serviceName": "<str>",
    "planName": "<str>",
}
ENVIRONMENT_CREATED = {
    "operation": "provision",
    "type": "Provision",
    "state": "CREATING",
    "status": "Processing",
}
ENVIRONMENT_NOT_FOUND = {"error": "Environment instance not found [Error: 41000/404]"}

# services/instance?create (backend 201) and ?get (resource_subaccount_service_instance.wo_parameters)
INSTANCE_FIELDS = {
    "id": "<uuid>",
    "ready": "<bool>",
    "last_operation": "<object>",
    "name": "<str>",
    "service_plan_id": "<str>",
    "platform_id": "<str>",
    "context": "<object>",
    "usable": "<bool>",
    "subaccount_id": "<uuid>",
    "created_at": "<iso>",
    "updated_at": "<iso>",
    "labels": "<str>",
}
# services/binding?create (backend 201) and ?get (resource_subaccount_service_binding)
BINDING_FIELDS = {
    "id": "<uuid>",
    "ready": "<bool>",
    "last_operation": "<object>",
    "name": "<str>",
    "service_instance_id": "<uuid>",
    "context": "<object>",
    "credentials": "<object>",
    "subaccount_id": "<uuid>",
    "created_at": "<iso>",
    "updated_at": "<iso>",
    "labels": "<str>",
}
LAST_OPERATION = {"type": "create", "state": "succeeded", "platform_id": "service-manager", "ready": True}
# a missing instance or binding: the Service Manager's error, backend 404
SM_NOT_FOUND = {"error": "NotFound", "description": "<str>"}

# accounts/entitlement?list (resource_subaccount_entitlement.dir_hierarchy)
ENTITLEMENT_KEYS = {"assignedServices", "entitledServices", "fetchErrorFromExternalProviderRegistry"}
