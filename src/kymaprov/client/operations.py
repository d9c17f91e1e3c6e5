"""Every Provisioning Service endpoint as a flow (see ``retry``): the request to send and the decoding.

The sync and async clients are thin drivers around these functions, so both behave identically.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from kymaprov.client.exceptions import ProvisioningError
from kymaprov.client.models import (
    AvailableEnvironment,
    Binding,
    BindingMetadata,
    Environment,
    JobStatus,
    Labels,
    PlanAssignment,
)
from kymaprov.client.retry import Flow, HttpCall, RetryPolicy, send

__all__ = [
    "KYMA_ENVIRONMENT_TYPE",
    "KYMA_SERVICE_NAME",
    "available_environments",
    "create_binding",
    "create_environment",
    "delete_all_environments",
    "delete_binding",
    "delete_environment",
    "delete_labels",
    "find_environment",
    "get_binding",
    "get_environment",
    "get_labels",
    "job_status",
    "list_bindings",
    "list_environments",
    "service_plan_assignments",
    "set_labels",
    "update_environment",
]

KYMA_ENVIRONMENT_TYPE = "kyma"
KYMA_SERVICE_NAME = "kymaruntime"
BASE = "/provisioning/v1"


def _seg(value: str) -> str:
    """One path segment: an id can never reach another path."""
    if not value:
        raise ValueError("an id must not be empty")
    return quote(value, safe="")


def _env_path(env_id: str, suffix: str = "") -> str:
    return f"{BASE}/environments/{_seg(env_id)}{suffix}"


def json_body(response: httpx.Response) -> Any:
    """The decoded JSON body; None when empty; a ``ProvisioningError`` when a 2xx body is not JSON."""
    if not response.content.strip():
        return None
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProvisioningError(
            f"the service answered {response.status_code} with a non-JSON body: {response.text[:200]!r}",
            status=response.status_code,
            response=response,
        ) from exc


def _object(response: httpx.Response) -> dict[str, Any]:
    body = json_body(response)
    return body if isinstance(body, dict) else {}


def _items(response: httpx.Response, key: str) -> list[dict[str, Any]]:
    items = _object(response).get(key)
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


# -- environments ---------------------------------------------------------------------------------


def available_environments(policy: RetryPolicy) -> Flow[list[AvailableEnvironment]]:
    response = yield from send(policy, HttpCall("GET", f"{BASE}/availableEnvironments"))
    return [AvailableEnvironment.from_wire(e) for e in _items(response, "availableEnvironments")]


def list_environments(policy: RetryPolicy) -> Flow[list[Environment]]:
    response = yield from send(policy, HttpCall("GET", f"{BASE}/environments"))
    return [Environment.from_wire(e) for e in _items(response, "environmentInstances")]


def get_environment(policy: RetryPolicy, env_id: str) -> Flow[Environment]:
    response = yield from send(policy, HttpCall("GET", _env_path(env_id)))
    return Environment.from_wire(_object(response))


def find_environment(
    policy: RetryPolicy, name: str, environment_type: str = KYMA_ENVIRONMENT_TYPE
) -> Flow[Environment | None]:
    """The environment named ``name`` in ``parameters.name`` or ``name`` (as crossplane finds it)."""
    environments = yield from list_environments(policy)
    for env in environments:
        if env.environment_type == environment_type and name in (env.parameters.get("name"), env.name):
            return env
    return None


def create_environment(
    policy: RetryPolicy,
    name: str,
    plan: str,
    region: str | None,
    *,
    user: str | None,
    parameters: Mapping[str, Any] | None = None,
    service_name: str = KYMA_SERVICE_NAME,
    environment_type: str = KYMA_ENVIRONMENT_TYPE,
    description: str | None = None,
) -> Flow[Environment]:
    """``POST /environments`` (never retried); a body with only an ``id`` is completed by a GET."""
    params: dict[str, Any] = {**(parameters or {}), "name": name}
    if region is not None:
        params["region"] = region
    body: dict[str, Any] = {
        "environmentType": environment_type,
        "serviceName": service_name,
        "planName": plan,
        "name": name,
        "parameters": params,
    }
    if user is not None:
        body["user"] = user
    if description is not None:
        body["description"] = description
    response = yield from send(policy, HttpCall("POST", f"{BASE}/environments", body, idempotent=False))
    data = _object(response)
    env_id = data.get("id")
    if not isinstance(env_id, str) or not env_id:
        raise ProvisioningError(
            f"the service accepted the environment ({response.status_code}) but returned no id",
            status=response.status_code,
            response=response,
        )
    created = Environment.from_wire(data)
    if not created.state:  # the spec's CreatedEnvironmentInstanceResponseObject is just {"id": ...}
        fetched = yield from get_environment(policy, env_id)
        created = dataclasses.replace(fetched, job_id=created.job_id)
    return created


def update_environment(
    policy: RetryPolicy, env_id: str, plan: str, parameters: Mapping[str, Any]
) -> Flow[str | None]:
    """``PATCH`` (never retried): the job id the service returns, if any."""
    body = {"planName": plan, "parameters": dict(parameters)}
    response = yield from send(policy, HttpCall("PATCH", _env_path(env_id), body, idempotent=False))
    job_id = _object(response).get("jobId")
    return str(job_id) if job_id else None


def delete_environment(policy: RetryPolicy, env_id: str) -> Flow[Environment]:
    """Start deprovisioning; the instance as it was when the DELETE arrived."""
    response = yield from send(policy, HttpCall("DELETE", _env_path(env_id)))
    data = _object(response)
    return Environment.from_wire(data) if data.get("id") else Environment(id=env_id, raw=data)


def delete_all_environments(policy: RetryPolicy) -> Flow[list[Environment]]:
    response = yield from send(policy, HttpCall("DELETE", f"{BASE}/environments"))
    return [Environment.from_wire(e) for e in _items(response, "environmentInstances")]


# -- bindings -------------------------------------------------------------------------------------


def _location_id(value: str) -> str:
    """The binding id from ``Location``: the bare id, or the last segment of a URL or path."""
    value = value.strip()
    return value.rstrip("/").rsplit("/", 1)[-1] if "/" in value else value


def create_binding(policy: RetryPolicy, env_id: str, expiration_seconds: int | None = None) -> Flow[Binding]:
    """``PUT /bindings`` (never retried: each PUT makes a new binding); the id is the ``location`` header."""
    body: dict[str, Any] = {}
    if expiration_seconds is not None:
        body["parameters"] = {"expiration_seconds": int(expiration_seconds)}
    call = HttpCall("PUT", _env_path(env_id, "/bindings"), body, idempotent=False)
    response = yield from send(policy, call)
    binding_id = _location_id(response.headers.get("location", ""))
    return Binding.from_wire(_object(response), binding_id)


def list_bindings(policy: RetryPolicy, env_id: str) -> Flow[list[BindingMetadata]]:
    response = yield from send(policy, HttpCall("GET", _env_path(env_id, "/bindings")))
    return [BindingMetadata.from_wire(b) for b in _items(response, "bindings")]


def get_binding(policy: RetryPolicy, env_id: str, binding_id: str) -> Flow[Binding | BindingMetadata]:
    """The credentials while the binding lives; only its metadata once it expired."""
    path = _env_path(env_id, f"/bindings/{_seg(binding_id)}")
    response = yield from send(policy, HttpCall("GET", path))
    data = _object(response)
    if isinstance(data.get("credentials"), dict):
        return Binding.from_wire(data, binding_id)
    return BindingMetadata.from_wire({"bindingId": binding_id, **data})


def delete_binding(policy: RetryPolicy, env_id: str, binding_id: str) -> Flow[None]:
    """Delete a binding (its kubeconfig stops working); 410 ``GoneError`` if it had expired."""
    path = _env_path(env_id, f"/bindings/{_seg(binding_id)}")
    yield from send(policy, HttpCall("DELETE", path, ok_after_retry=frozenset({404})))


# -- labels, quotas, jobs -------------------------------------------------------------------------


def get_labels(policy: RetryPolicy, env_id: str) -> Flow[Labels]:
    response = yield from send(policy, HttpCall("GET", _env_path(env_id, "/labels")))
    return Labels.from_wire(json_body(response))


def set_labels(policy: RetryPolicy, env_id: str, labels: Mapping[str, Sequence[str]]) -> Flow[Labels]:
    """Replace all custom labels (PUT: idempotent, so retried)."""
    body = {
        "labels": {
            str(k): [values] if isinstance(values, str) else [str(v) for v in values]
            for k, values in labels.items()
        }
    }
    response = yield from send(policy, HttpCall("PUT", _env_path(env_id, "/labels"), body))
    return Labels.from_wire(json_body(response))


def delete_labels(policy: RetryPolicy, env_id: str) -> Flow[Labels]:
    response = yield from send(policy, HttpCall("DELETE", _env_path(env_id, "/labels")))
    return Labels.from_wire(json_body(response))


def service_plan_assignments(policy: RetryPolicy) -> Flow[list[PlanAssignment]]:
    response = yield from send(policy, HttpCall("GET", f"{BASE}/servicePlanAssignments"))
    return [PlanAssignment.from_wire(q) for q in _items(response, "quotas")]


def job_status(policy: RetryPolicy, job_id: str) -> Flow[JobStatus]:
    response = yield from send(policy, HttpCall("GET", f"/jobs-management/v1/jobs/{_seg(job_id)}/status"))
    return JobStatus.from_wire(json_body(response))
