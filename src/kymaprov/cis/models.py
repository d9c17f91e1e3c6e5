"""cis service instances and bindings.

Creating a binding registers an OAuth client with the scopes of the instance's plan; its secret is
stored hashed for the token service and sealed here, because ``btp get services/binding`` shows the
credentials again, as the real Service Manager does.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from kymaprov import strictjson
from kymaprov.accounts.models import Subaccount, lock_subaccount
from kymaprov.cis.exceptions import CisConflict, CisError, CisNotFound
from kymaprov.context import Context
from kymaprov.crypto import random_token
from kymaprov.store import metadata
from kymaprov.uaa.models import TokenService

OFFERING = "cis"

LOCAL_XSAPPNAME = "cis-local!b4"
CENTRAL_XSAPPNAME = "cis-central!b14"

_LOCAL_SCOPES = [
    "subaccount.entitlement.read",
    "subaccount.environment.read",
    "subaccount.environment.create",
    "subaccount.environment.delete",
    "subaccount.application.subscription.read",
    "subaccount.application.subscription.update",
    "job.read",
    "cis-local.event.read",
]
_LOCAL_VIEWER_SCOPES = [
    "subaccount.entitlement.read",
    "subaccount.environment.read",
    "subaccount.application.subscription.read",
    "event.read",
    "job.read",
]
_CENTRAL_SCOPES = [
    "global-account.read",
    "global-account.update",
    "global-account.subaccount.read",
    "global-account.subaccount.create",
    "global-account.subaccount.update",
    "global-account.subaccount.delete",
    "global-account.account-directory.read",
    "global-account.account-directory.create",
    "global-account.account-directory.update",
    "global-account.account-directory.delete",
    "global-account.entitlement",
    "global-account.entitlement.subaccount.update",
    "global-account.region.read",
    "catalog.product.update",
    "catalog.product.delete",
    "directory.entitlement.update",
    "directory.entitlement.read",
    "job.read",
    "cis-central.event.read",
    "account-automation-request.read",
]
_CENTRAL_VIEWER_SCOPES = [
    "global-account.read",
    "global-account.subaccount.read",
    "global-account.account-directory.read",
    "global-account.region.read",
    "directory.entitlement.read",
    "job.read",
]


@dataclass(frozen=True)
class CisPlan:
    name: str
    xsappname: str
    scopes: list[str]
    service: str  # sap.cloud.service
    subaccount_scoped: bool
    client_credentials_only: bool


PLANS: dict[str, CisPlan] = {
    "local": CisPlan(
        "local", LOCAL_XSAPPNAME, _LOCAL_SCOPES, "com.sap.core.commercial.service.local", True, False
    ),
    "local-viewer": CisPlan(
        "local-viewer",
        LOCAL_XSAPPNAME,
        _LOCAL_VIEWER_SCOPES,
        "com.sap.core.commercial.service.local",
        True,
        True,
    ),
    "central": CisPlan(
        "central", CENTRAL_XSAPPNAME, _CENTRAL_SCOPES, "com.sap.core.commercial.service.central", False, False
    ),
    "central-viewer": CisPlan(
        "central-viewer",
        CENTRAL_XSAPPNAME,
        _CENTRAL_VIEWER_SCOPES,
        "com.sap.core.commercial.service.central",
        False,
        True,
    ),
}

GRANT_TYPES = {"clientCredentials": "client_credentials", "password": "password"}

service_instances = sa.Table(
    "cis_instances",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("subaccount_id", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("plan_name", sa.String(64), nullable=False),
    sa.Column("parameters", sa.JSON, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("subaccount_id", "name"),
)

service_bindings = sa.Table(
    "cis_bindings",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("subaccount_id", sa.String(64), nullable=False, index=True),
    sa.Column("instance_id", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("client_id", sa.String(255), nullable=False),
    sa.Column("sealed_secret", sa.Text, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("subaccount_id", "name"),
)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class CisService:
    def __init__(self, ctx: Context, tokens: TokenService) -> None:
        self._ctx = ctx
        self._tokens = tokens

    def reset(self) -> None:
        """Delete every instance and binding, and their OAuth clients (``POST /admin/reset``)."""
        with self._ctx.store.write() as conn:
            client_ids = conn.execute(sa.select(service_bindings.c.client_id)).scalars().all()
            for client_id in client_ids:
                self._tokens.unregister_client(conn, client_id)
            conn.execute(sa.delete(service_bindings))
            conn.execute(sa.delete(service_instances))

    # -- instances ------------------------------------------------------------------------------

    def create_instance(
        self, sub: Subaccount, name: str, offering: str, plan_name: str, parameters: Any
    ) -> dict[str, Any]:
        _text(name, "name")
        _text(offering, "offering_name")
        _text(plan_name, "plan_name", max_length=64)
        if offering != OFFERING:
            raise CisError(f"Service offering '{offering}' not found; kymaprov offers '{OFFERING}'")
        plan = PLANS.get(plan_name)
        if plan is None:
            raise CisError(
                f"Service plan '{plan_name}' not found for offering '{OFFERING}'; "
                f"available: {', '.join(PLANS)}"
            )
        params = _parse_parameters(parameters)
        grant = params.get("grantType", "clientCredentials" if plan.client_credentials_only else "password")
        if not isinstance(grant, str) or grant not in GRANT_TYPES:
            raise CisError(f"Invalid grantType '{grant}'; use 'clientCredentials' or 'password'")
        if plan.client_credentials_only and grant != "clientCredentials":
            raise CisError(f"Plan '{plan_name}' supports only the clientCredentials grant type")
        row = {
            "id": str(uuid.uuid4()),
            "subaccount_id": sub.id,
            "name": name,
            "plan_name": plan_name,
            "parameters": params,
            "created_ms": self._ctx.clock.now_ms(),
        }
        with self._ctx.store.write() as conn:
            lock_subaccount(conn, sub.id)  # names are unique per subaccount, also under races
            if self._instance_row(conn, sub.id, name=name) is not None:
                raise CisConflict(f"A service instance named '{name}' already exists in this subaccount")
            conn.execute(sa.insert(service_instances).values(**row))
        return self._instance_json(row, sub)

    def _instance_row(
        self,
        conn: sa.Connection,
        subaccount_id: str,
        *,
        name: str | None = None,
        instance_id: str | None = None,
    ) -> Any:
        query = sa.select(service_instances).where(service_instances.c.subaccount_id == subaccount_id)
        if instance_id:
            query = query.where(service_instances.c.id == instance_id)
        else:
            query = query.where(service_instances.c.name == name)
        return conn.execute(query).first()

    def get_instance(
        self, sub: Subaccount, *, name: str | None = None, instance_id: str | None = None
    ) -> dict[str, Any]:
        with self._ctx.store.read() as conn:
            row = self._instance_row(conn, sub.id, name=name, instance_id=instance_id)
        if row is None:
            raise CisNotFound(f"Service instance '{name or instance_id}' not found")
        return self._instance_json(row._asdict(), sub)

    def list_instances(self, sub: Subaccount) -> list[dict[str, Any]]:
        with self._ctx.store.read() as conn:
            rows = conn.execute(
                sa.select(service_instances)
                .where(service_instances.c.subaccount_id == sub.id)
                .order_by(service_instances.c.created_ms)
            ).all()
        return [self._instance_json(r._asdict(), sub) for r in rows]

    def delete_instance(
        self, sub: Subaccount, *, name: str | None = None, instance_id: str | None = None
    ) -> None:
        with self._ctx.store.write() as conn:
            row = self._instance_row(conn, sub.id, name=name, instance_id=instance_id)
            if row is None:
                raise CisNotFound(f"Service instance '{name or instance_id}' not found")
            bound = conn.execute(
                sa.select(sa.func.count()).where(service_bindings.c.instance_id == row.id)
            ).scalar_one()
            if bound:
                raise CisConflict(f"Service instance '{row.name}' has {bound} binding(s); delete them first")
            conn.execute(sa.delete(service_instances).where(service_instances.c.id == row.id))

    def _instance_json(self, row: dict[str, Any], sub: Subaccount) -> dict[str, Any]:
        created = _iso(row["created_ms"])
        return {
            "id": row["id"],
            "ready": True,
            "last_operation": _last_operation(row["id"], "/v1/service_instances", created),
            "name": row["name"],
            "service_plan_id": f"cis-{row['plan_name']}",
            "service_plan_name": row["plan_name"],
            "offering_name": OFFERING,
            "platform_id": "service-manager",
            "context": _context(sub, row["name"], row["id"]),
            "parameters": row["parameters"],
            "usable": True,
            "subaccount_id": sub.id,
            "created_at": created,
            "updated_at": created,
            "labels": f"subaccount_id = {sub.id}",
        }

    # -- bindings -------------------------------------------------------------------------------

    def create_binding(
        self,
        sub: Subaccount,
        name: str,
        *,
        instance_name: str | None = None,
        instance_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> dict[str, Any]:
        """``client_id`` and ``client_secret``: fixed credentials (``serve --init``), else generated ones."""
        _text(name, "name")
        instance_name = _text(instance_name, "service_instance_name", required=False)
        instance_id = _text(instance_id, "service_instance_id", required=False, max_length=64)
        if not instance_name and not instance_id:
            raise CisError("Specify the service instance by name or ID")
        binding_id = str(uuid.uuid4())
        secret = client_secret or random_token(24)
        with self._ctx.store.write() as conn:
            lock_subaccount(conn, sub.id)  # names are unique per subaccount, also under races
            inst = self._instance_row(conn, sub.id, name=instance_name, instance_id=instance_id)
            if inst is None:
                raise CisNotFound(f"Service instance '{instance_name or instance_id}' not found")
            if conn.execute(
                sa.select(service_bindings.c.id).where(
                    service_bindings.c.subaccount_id == sub.id, service_bindings.c.name == name
                )
            ).first():
                raise CisConflict(f"A service binding named '{name}' already exists in this subaccount")
            plan = PLANS[inst.plan_name]
            grant = GRANT_TYPES[inst.parameters.get("grantType", "password")]
            client_id = client_id or f"sb-{binding_id}!b{secrets.randbelow(90000) + 1000}|{plan.xsappname}"
            grant_types = (
                ["client_credentials"]
                if grant == "client_credentials"
                else ["password", "client_credentials"]
            )
            self._tokens.register_client(
                conn,
                client_id=client_id,
                secret=secret,
                xsappname=plan.xsappname,
                scopes=[f"{plan.xsappname}.{s}" for s in plan.scopes],
                grant_types=grant_types,
                global_account_id=sub.global_account_id,
                subaccount_id=sub.id if plan.subaccount_scoped else None,
                service_instance_id=inst.id,
                generated=client_secret is None,
            )
            row = {
                "id": binding_id,
                "subaccount_id": sub.id,
                "instance_id": inst.id,
                "name": name,
                "client_id": client_id,
                "sealed_secret": self._ctx.sealer.seal(secret),
                "created_ms": self._ctx.clock.now_ms(),
            }
            conn.execute(sa.insert(service_bindings).values(**row))
        return self._binding_json(row, inst._asdict(), sub)

    def _binding_row(
        self, conn: sa.Connection, subaccount_id: str, *, name: str | None, binding_id: str | None
    ) -> Any:
        query = sa.select(service_bindings).where(service_bindings.c.subaccount_id == subaccount_id)
        if binding_id:
            query = query.where(service_bindings.c.id == binding_id)
        else:
            query = query.where(service_bindings.c.name == name)
        return conn.execute(query).first()

    def get_binding(
        self, sub: Subaccount, *, name: str | None = None, binding_id: str | None = None
    ) -> dict[str, Any]:
        with self._ctx.store.read() as conn:
            row = self._binding_row(conn, sub.id, name=name, binding_id=binding_id)
            inst = None if row is None else self._instance_row(conn, sub.id, instance_id=row.instance_id)
        if row is None or inst is None:
            raise CisNotFound(f"Service binding '{name or binding_id}' not found")
        return self._binding_json(row._asdict(), inst._asdict(), sub)

    def list_bindings(self, sub: Subaccount) -> list[dict[str, Any]]:
        with self._ctx.store.read() as conn:
            rows = conn.execute(
                sa.select(service_bindings, service_instances)
                .join(service_instances, service_instances.c.id == service_bindings.c.instance_id)
                .where(service_bindings.c.subaccount_id == sub.id)
                .order_by(service_bindings.c.created_ms)
            ).all()
        out = []
        for r in rows:
            m = r._mapping
            binding = {c.name: m[service_bindings.c[c.name]] for c in service_bindings.columns}
            inst = {c.name: m[service_instances.c[c.name]] for c in service_instances.columns}
            out.append(self._binding_json(binding, inst, sub))
        return out

    def delete_binding(
        self, sub: Subaccount, *, name: str | None = None, binding_id: str | None = None
    ) -> None:
        """Deleting the binding deletes its OAuth client, so its tokens stop working at once."""
        with self._ctx.store.write() as conn:
            row = self._binding_row(conn, sub.id, name=name, binding_id=binding_id)
            if row is None:
                raise CisNotFound(f"Service binding '{name or binding_id}' not found")
            self._tokens.unregister_client(conn, row.client_id)
            conn.execute(sa.delete(service_bindings).where(service_bindings.c.id == row.id))

    def _binding_json(self, row: dict[str, Any], inst: dict[str, Any], sub: Subaccount) -> dict[str, Any]:
        created = _iso(row["created_ms"])
        return {
            "id": row["id"],
            "ready": True,
            "last_operation": _last_operation(row["id"], "/v1/service_bindings", created),
            "name": row["name"],
            "service_instance_id": inst["id"],
            "service_instance_name": inst["name"],
            "context": _context(sub, inst["name"], inst["id"]),
            "credentials": self._credentials(row, inst, sub),
            "subaccount_id": sub.id,
            "created_at": created,
            "updated_at": created,
            "labels": f"subaccount_id = {sub.id}",
        }

    def _credentials(self, row: dict[str, Any], inst: dict[str, Any], sub: Subaccount) -> dict[str, Any]:
        base = self._ctx.settings.base_url
        plan = PLANS[inst["plan_name"]]
        grant = GRANT_TYPES[inst["parameters"].get("grantType", "password")]
        host = base.split("://", 1)[1]
        return {
            "endpoints": {
                "accounts_service_url": base,
                "cloud_automation_url": base,
                "entitlements_service_url": base,
                "events_service_url": base,
                "metadata_service_url": base,
                "order_processing_url": base,
                "provisioning_service_url": base,
                "saas_registry_service_url": base,
            },
            "grant_type": "client_credentials" if grant == "client_credentials" else "user_token",
            "sap.cloud.service": plan.service,
            "uaa": {
                "apiurl": base,
                "clientid": row["client_id"],
                "clientsecret": self._ctx.sealer.open_str(row["sealed_secret"]),
                "credential-type": "binding-secret",
                "identityzone": sub.subdomain,
                "identityzoneid": sub.id,
                "sburl": base,
                "serviceInstanceId": inst["id"],
                "subaccountid": sub.id,
                "tenantid": sub.id,
                "tenantmode": "shared",
                "uaadomain": host,
                "url": base,
                "verificationkey": self._tokens.verification_key(),
                "xsappname": plan.xsappname,
                "xsmasterappname": plan.xsappname,
                "zoneid": sub.id,
            },
        }


def _text(value: Any, field: str, *, required: bool = True, max_length: int = 255) -> str | None:
    """A string field of a request: present if required, a string, not longer than the column."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise CisError(f"Missing required parameter '{field}'")
        return None
    if not isinstance(value, str):
        raise CisError(f"Parameter '{field}' must be a string")
    if len(value) > max_length:
        raise CisError(f"Parameter '{field}' must be at most {max_length} characters long")
    return value


def _parse_parameters(parameters: Any) -> dict[str, Any]:
    if parameters is None or parameters == "":
        return {}
    if isinstance(parameters, str):
        try:
            parameters = strictjson.loads(parameters, allow_nul=False)
        except strictjson.InvalidJSON as exc:
            raise CisError(f"Invalid JSON in --parameters: {exc}") from exc
    if not isinstance(parameters, dict):
        raise CisError("Parameters must be a JSON object")
    return parameters


def _context(sub: Subaccount, instance_name: str, instance_id: str) -> dict[str, Any]:
    return {
        "origin": "sapcp",
        "region": f"cf-{sub.region}",
        "zone_id": sub.id,
        "platform": "sapcp",
        "subdomain": sub.subdomain,
        "license_type": "SAPDEV",
        "instance_name": instance_name,
        "subaccount_id": sub.id,
        "crm_customer_id": "",
        "global_account_id": sub.global_account_id,
        "service_instance_id": instance_id,
    }


def _last_operation(resource_id: str, resource_type: str, at: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, resource_id)),
        "ready": True,
        "type": "create",
        "state": "succeeded",
        "resource_id": resource_id,
        "resource_type": resource_type,
        "platform_id": "service-manager",
        "correlation_id": str(uuid.uuid5(uuid.NAMESPACE_OID, resource_id)),
        "reschedule": False,
        "reschedule_timestamp": "0001-01-01T00:00:00Z",
        "deletion_scheduled": "0001-01-01T00:00:00Z",
        "created_at": at,
        "updated_at": at,
    }


# -- service operator access ---------------------------------------------------------------------
# What KEB puts into a runtime's Secret ``kyma-system/sap-btp-manager``: the credentials of a Service
# Manager ``service-operator-access`` binding, with which SAP's btp-operator manages the subaccount's
# service instances and bindings. Here: an OAuth client of the subaccount whose tokens the cis
# instance and binding routes accept for that subaccount only.

OPERATOR_XSAPPNAME = "service-manager!b1"
OPERATOR_SCOPES = [
    f"{OPERATOR_XSAPPNAME}.{s}" for s in ("service_instances.manage", "service_bindings.manage")
]


def operator_client_id(owner_id: str) -> str:
    return f"sb-operator-{owner_id.lower()}!b1|{OPERATOR_XSAPPNAME}"


def issue_operator_credentials(
    ctx: Context, tokens: TokenService, sub: Subaccount, owner_id: str
) -> tuple[str, str]:
    """(client id, secret) for ``owner_id`` (an environment); issuing again replaces the secret."""
    client_id = operator_client_id(owner_id)
    secret = random_token(24)
    with ctx.store.write() as conn:
        tokens.unregister_client(conn, client_id)
        tokens.register_client(
            conn,
            client_id=client_id,
            secret=secret,
            xsappname=OPERATOR_XSAPPNAME,
            scopes=OPERATOR_SCOPES,
            grant_types=["client_credentials"],
            global_account_id=sub.global_account_id,
            subaccount_id=sub.id,
            service_instance_id=owner_id,
        )
    return client_id, secret


def revoke_operator_credentials(ctx: Context, owner_id: str) -> None:
    with ctx.store.write() as conn:
        TokenService.unregister_client(conn, operator_client_id(owner_id))
