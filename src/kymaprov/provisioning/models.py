"""Tables and value objects of the Provisioning Service, and their exact wire shapes.

Wire quirks that real clients depend on (see docs/compatibility.md): dates are epoch-millisecond
numbers, ``parameters`` and ``labels`` are JSON-encoded strings, ids are upper-case GUIDs.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from kymaprov.store import metadata

BROKER_ID = "D6D0E3A4-5C3B-4F7E-9A1B-6B5E2C7A8F10"

environments = sa.Table(
    "environments",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("subaccount_id", sa.String(64), nullable=False, index=True),
    sa.Column("global_account_id", sa.String(64), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("service_name", sa.String(64), nullable=False),
    sa.Column("service_id", sa.String(64), nullable=False),
    sa.Column("plan_name", sa.String(64), nullable=False),
    sa.Column("plan_id", sa.String(64), nullable=False),
    sa.Column("environment_type", sa.String(32), nullable=False),
    sa.Column("landscape_label", sa.String(64), nullable=True),
    sa.Column("parameters", sa.Text, nullable=False),  # exactly the JSON the client sent
    sa.Column("labels", sa.JSON, nullable=False),  # broker labels: Name, KubeconfigURL, APIServerURL
    sa.Column("custom_labels", sa.JSON, nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("state_message", sa.Text, nullable=False),
    sa.Column("operation", sa.String(32), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("created_by", sa.String(255), nullable=True),
    sa.Column("modified_by", sa.String(255), nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("modified_ms", sa.BigInteger, nullable=False),
    sa.Column("cluster_access", sa.Text, nullable=True),  # sealed ClusterAccess JSON once provisioned
    sa.Column("fail_next", sa.JSON, nullable=True),  # emulator control: {"message": ..., "operation": ...}
)

operations = sa.Table(
    "operations",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("environment_id", sa.String(64), nullable=False, index=True),
    sa.Column("subaccount_id", sa.String(64), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),  # provision | update | deprovision
    sa.Column("state", sa.String(32), nullable=False),  # pending | succeeded | failed | canceled
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("due_ms", sa.BigInteger, nullable=False),  # service-clock time the work may finish
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", sa.Float, nullable=True),  # wall-clock seconds
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

kyma_bindings = sa.Table(
    "kyma_bindings",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("environment_id", sa.String(64), nullable=False, index=True),
    sa.Column("subaccount_id", sa.String(64), nullable=False),
    sa.Column("expiration_seconds", sa.Integer, nullable=False),
    sa.Column("created_by", sa.String(255), nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("expires_ms", sa.BigInteger, nullable=False),
    sa.Column("kubeconfig", sa.Text, nullable=False),  # sealed; '' while the binding is being made
    sa.Column("cleaned", sa.Boolean, nullable=False, default=False),  # cluster objects removed after expiry
    # MAKING while a PUT creates its objects, READY once it answered, REMOVING while its objects go
    sa.Column("state", sa.String(16), nullable=False, default="READY", server_default="READY"),
    sa.Column("state_since", sa.Float, nullable=True),  # wall time the state began (stuck-row timeout)
)

# what the background passes look for, so that they cost the same with 100 rows or 100,000: the
# lifecycle worker's due operations (every poll), the expired bindings still to clean (every second) and
# the bindings stuck being made or removed (every few seconds). Without them each pass read every row,
# and a binding row's columns after its kubeconfig sit on overflow pages: 100,000 rows were ~500 MB read.
sa.Index("ix_operations_state_due", operations.c.state, operations.c.due_ms)
sa.Index("ix_kyma_bindings_cleaned_expires", kyma_bindings.c.cleaned, kyma_bindings.c.expires_ms)
sa.Index("ix_kyma_bindings_state", kyma_bindings.c.state, kyma_bindings.c.state_since)

# state, stateMessage, operation, type, status per lifecycle step
CREATING = ("CREATING", "Creating environment instance.", "provision", "Provision", "Processing")
CREATED = ("OK", "Environment instance created.", "provision", "Provision", "Processed")
CREATION_FAILED = ("CREATION_FAILED", "", "provision", "Provision", "Processed")
UPDATING = ("UPDATING", "Updating environment instance.", "update", "Update", "Processing")
UPDATED = ("OK", "Environment instance updated.", "update", "Update", "Processed")
UPDATE_FAILED = ("UPDATE_FAILED", "", "update", "Update", "Processed")
DELETING = ("DELETING", "Deleting environment instance.", "deprovision", "Deprovision", "Processing")
DELETION_FAILED = ("DELETION_FAILED", "", "deprovision", "Deprovision", "Processed")


def state_values(step: tuple[str, str, str, str, str], message: str | None = None) -> dict[str, str]:
    state, default_message, operation, type_, status = step
    return {
        "state": state,
        "state_message": message if message is not None else default_message,
        "operation": operation,
        "type": type_,
        "status": status,
    }


@dataclass(frozen=True)
class Environment:
    row: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.row["id"])

    @property
    def state(self) -> str:
        return str(self.row["state"])

    @property
    def cluster_id(self) -> str:
        return self.id.lower()

    @property
    def cluster_name(self) -> str:
        """The ``name`` parameter: KEB's kubeconfig context name."""
        try:
            name = json.loads(self.row["parameters"]).get("name")
        except (ValueError, AttributeError):
            name = None
        return str(name or self.row["name"])

    def to_wire(self, base_url: str) -> dict[str, Any]:
        r = self.row
        body: dict[str, Any] = {
            "id": r["id"],
            "name": r["name"],
            "brokerId": BROKER_ID,
            "globalAccountGUID": r["global_account_id"],
            "subaccountGUID": r["subaccount_id"],
            "tenantId": r["subaccount_id"],
            "serviceId": r["service_id"],
            "planId": r["plan_id"],
            "serviceName": r["service_name"],
            "planName": r["plan_name"],
            "environmentType": r["environment_type"],
            "operation": r["operation"],
            "type": r["type"],
            "status": r["status"],
            "parameters": r["parameters"],
            "labels": json.dumps(r["labels"], separators=(",", ":")),
            "customLabels": r["custom_labels"],
            "dashboardUrl": f"{base_url}/dashboard/?kubeconfigID={r['id']}",
            "description": r["description"] or "",
            "commercialType": r["plan_name"],
            "createdBy": r["created_by"] or "",
            "modifiedBy": r["modified_by"] or "",
            "createdDate": r["created_ms"],
            "modifiedDate": r["modified_ms"],
            "state": r["state"],
            "stateMessage": r["state_message"],
        }
        if r["landscape_label"]:
            body["landscapeLabel"] = r["landscape_label"]
        return body


def expires_at_text(ms: int) -> str:
    """KEB's layout ``2006-01-02T15:04:05.0Z``: one fractional digit, literal Z, UTC."""
    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.0Z")


def iso_ms(ms: int) -> str:
    """``2006-01-02T15:04:05.123Z``; integer arithmetic, so exact (and a list's dates cost little)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"
