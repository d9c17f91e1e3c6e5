"""Typed views of the Provisioning Service's JSON, decoding its wire quirks.

- ``createdDate``/``modifiedDate`` are epoch-millisecond numbers; they become aware UTC datetimes.
- ``parameters`` and ``labels`` of an environment, and ``createSchema``/``updateSchema`` of an
  available environment, are JSON-encoded strings; they become dicts (``{}`` if absent or invalid).
- Binding ``expires_at`` looks like ``2024-10-22T07:51:00.0Z``; binding-list fields are all strings.

Every ``from_wire`` ignores unknown fields and tolerates missing ones; the untouched JSON object is
kept in ``raw``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "AvailableEnvironment",
    "Binding",
    "BindingMetadata",
    "Environment",
    "JobStatus",
    "Labels",
    "PlanAssignment",
    "parse_timestamp",
]

PENDING_STATES = frozenset({"CREATING", "UPDATING", "DELETING"})
FAILED_STATES = frozenset({"CREATION_FAILED", "UPDATE_FAILED", "DELETION_FAILED"})


def parse_timestamp(value: Any) -> datetime | None:
    """Epoch milliseconds (number or digit string) or an ISO-8601 string, as an aware UTC datetime."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.lstrip("-").isdigit():
        return parse_timestamp(int(text))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def json_object(value: Any) -> dict[str, Any]:
    """A JSON-encoded object string (or an already decoded object) as a dict; ``{}`` otherwise."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        try:
            decoded = json.loads(value)
        except ValueError:
            return {}
        return decoded if isinstance(decoded, dict) else {}
    return {}


def _str(data: Mapping[str, Any], key: str, default: str = "") -> str:
    value = data.get(key)
    return default if value is None else str(value)


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return None if value is None or value == "" else str(value)


def _string_lists(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        return {}
    out: dict[str, list[str]] = {}
    for key, values in value.items():
        if isinstance(values, list):
            out[str(key)] = [str(v) for v in values]
        elif values is not None:
            out[str(key)] = [str(values)]
        else:
            out[str(key)] = []
    return out


@dataclass(frozen=True)
class Environment:
    """An environment instance (``BusinessEnvironmentInstanceResponseObject``)."""

    id: str
    name: str = ""
    state: str = ""
    state_message: str = ""
    plan_name: str = ""
    service_name: str = ""
    environment_type: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, Any] = field(default_factory=dict)
    custom_labels: dict[str, list[str]] = field(default_factory=dict)
    created: datetime | None = None
    modified: datetime | None = None
    operation: str = ""
    type: str = ""
    status: str = ""
    subaccount_id: str = ""
    dashboard_url: str | None = None
    job_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Environment:
        return cls(
            id=_str(data, "id"),
            name=_str(data, "name"),
            state=_str(data, "state"),
            state_message=_str(data, "stateMessage"),
            plan_name=_str(data, "planName"),
            service_name=_str(data, "serviceName"),
            environment_type=_str(data, "environmentType"),
            parameters=json_object(data.get("parameters")),
            labels=json_object(data.get("labels")),
            custom_labels=_string_lists(data.get("customLabels")),
            created=parse_timestamp(data.get("createdDate")),
            modified=parse_timestamp(data.get("modifiedDate")),
            operation=_str(data, "operation"),
            type=_str(data, "type"),
            status=_str(data, "status"),
            subaccount_id=_str(data, "subaccountGUID") or _str(data, "tenantId"),
            dashboard_url=_opt_str(data, "dashboardUrl"),
            job_id=_opt_str(data, "jobId"),
            raw=dict(data),
        )

    @property
    def display_name(self) -> str:
        """The Kyma ``parameters.name`` (the cluster name), else the instance name."""
        name = self.parameters.get("name")
        return str(name) if name else self.name

    @property
    def kubeconfig_url(self) -> str | None:
        url = self.labels.get("KubeconfigURL")
        return str(url) if url else None

    @property
    def api_server_url(self) -> str | None:
        url = self.labels.get("APIServerURL")
        return str(url) if url else None

    @property
    def is_ready(self) -> bool:
        return self.state == "OK"

    @property
    def is_pending(self) -> bool:
        return self.state in PENDING_STATES

    @property
    def is_failed(self) -> bool:
        return self.state in FAILED_STATES


@dataclass(frozen=True)
class AvailableEnvironment:
    """One (service, plan) the subaccount may create (``AvailableEnvironmentResponseObject``)."""

    plan_name: str
    service_name: str = ""
    environment_type: str = ""
    description: str = ""
    create_schema: dict[str, Any] = field(default_factory=dict)
    update_schema: dict[str, Any] = field(default_factory=dict)
    plan_updatable: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> AvailableEnvironment:
        return cls(
            plan_name=_str(data, "planName"),
            service_name=_str(data, "serviceName"),
            environment_type=_str(data, "environmentType"),
            description=_str(data, "description"),
            create_schema=json_object(data.get("createSchema")),
            update_schema=json_object(data.get("updateSchema")),
            plan_updatable=bool(data.get("planUpdatable", False)),
            raw=dict(data),
        )

    @property
    def create_parameters_schema(self) -> dict[str, Any]:
        """The JSON schema of ``parameters`` (the schema strings wrap it as ``{"parameters": ...}``)."""
        return json_object(self.create_schema.get("parameters"))

    @property
    def update_parameters_schema(self) -> dict[str, Any]:
        return json_object(self.update_schema.get("parameters"))


@dataclass(frozen=True)
class Binding:
    """A live Kyma binding: its kubeconfig and when it stops working."""

    id: str
    kubeconfig: str = ""
    expires_at: datetime | None = None
    expiration_seconds: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any], binding_id: str = "") -> Binding:
        credentials = data.get("credentials")
        metadata = data.get("metadata")
        parameters = data.get("parameters")
        kubeconfig = credentials.get("kubeconfig") if isinstance(credentials, dict) else None
        expires = metadata.get("expires_at") if isinstance(metadata, dict) else None
        seconds = parameters.get("expiration_seconds") if isinstance(parameters, dict) else None
        return cls(
            id=binding_id or _str(data, "bindingId") or _str(data, "id"),
            kubeconfig=str(kubeconfig) if kubeconfig is not None else "",
            expires_at=parse_timestamp(expires),
            expiration_seconds=seconds
            if isinstance(seconds, int) and not isinstance(seconds, bool)
            else None,
            raw=dict(data),
        )

    def __repr__(self) -> str:  # never print the token in the kubeconfig
        return f"Binding(id={self.id!r}, expires_at={self.expires_at!r})"


@dataclass(frozen=True)
class BindingMetadata:
    """A binding as listed, or as returned once expired (``EnvironmentInstanceBindingMetadata``).

    ``id`` is the wire's ``bindingId``: the same name as ``Binding.id``, so code handles both alike.
    """

    id: str
    instance_id: str = ""
    created_by: str = ""
    created_date: datetime | None = None
    expires_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> BindingMetadata:
        return cls(
            id=_str(data, "bindingId"),
            instance_id=_str(data, "instanceId"),
            created_by=_str(data, "createdBy"),
            created_date=parse_timestamp(data.get("createdDate")),
            expires_at=parse_timestamp(data.get("expiresAt")),
            raw=dict(data),
        )

    @property
    def binding_id(self) -> str:
        """Deprecated: use ``id``."""
        warnings.warn("BindingMetadata.binding_id is deprecated; use .id", DeprecationWarning, stacklevel=2)
        return self.id

    def is_expired(self, now: datetime | None = None) -> bool:
        if self.expires_at is None:
            return False
        return self.expires_at <= (now or datetime.now(tz=UTC))


@dataclass(frozen=True)
class Labels(Mapping[str, list[str]]):
    """Custom labels of an environment: label name to a list of values."""

    labels: dict[str, list[str]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Any) -> Labels:
        body = data if isinstance(data, dict) else {}
        return cls(labels=_string_lists(body.get("labels")), raw=dict(body))

    def __getitem__(self, key: str) -> list[str]:
        return self.labels[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.labels)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class JobStatus:
    """``GET /jobs-management/v1/jobs/{id}/status``: ``IN_PROGRESS``, ``COMPLETED`` or ``FAILED``."""

    status: str
    description: str = ""
    job_params: dict[str, Any] = field(default_factory=dict)
    custom_params: dict[str, Any] = field(default_factory=dict)
    status_details: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Any) -> JobStatus:
        if isinstance(data, str):  # the old spec typed the body as a plain string
            return cls(status=data, raw={"status": data})
        body = data if isinstance(data, dict) else {}
        return cls(
            status=_str(body, "status"),
            description=_str(body, "description"),
            job_params=json_object(body.get("jobParams")),
            custom_params=json_object(body.get("customParams")),
            status_details=json_object(body.get("statusDetails")),
            raw=dict(body),
        )

    def param(self, name: str) -> Any:
        """The ``value`` of one ``jobParams`` entry, or None."""
        entry = self.job_params.get(name)
        return entry.get("value") if isinstance(entry, dict) else entry


@dataclass(frozen=True)
class PlanAssignment:
    """One entry of ``GET /servicePlanAssignments`` (the subaccount's quota for a service plan)."""

    service: str
    plan: str = ""
    quota: int | None = None
    consumed_quota: int | None = None
    unlimited: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> PlanAssignment:
        quota, consumed = data.get("quota"), data.get("consumedQuota")
        return cls(
            service=_str(data, "service"),
            plan=_str(data, "plan"),
            quota=int(quota) if isinstance(quota, int | float) and not isinstance(quota, bool) else None,
            consumed_quota=int(consumed)
            if isinstance(consumed, int | float) and not isinstance(consumed, bool)
            else None,
            unlimited=bool(data.get("unlimited", False)),
            raw=dict(data),
        )
