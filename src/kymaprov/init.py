"""``kymaprov serve --init FILE``: subaccounts, cis instances, bindings and environments made at start.

Compose files and CI jobs need the same credentials on every run, so a binding's client id and secret
are given in the file. Applying the file is idempotent: whatever exists already (a subaccount by its
subdomain, an instance or binding by its name, a subaccount's Kyma environment) is kept as it is, so a
restart with the same file changes nothing. A file that does not fit the schema is refused with one
line naming the key, before any port is bound.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import sqlalchemy as sa
import yaml

from kymaprov.accounts.models import (
    Subaccount,
    create_subaccount,
    default_global_account_id,
    get_subaccount,
    list_subaccounts,
)
from kymaprov.cis.models import LOCAL_XSAPPNAME, CisService, service_bindings, service_instances
from kymaprov.context import Context
from kymaprov.errors import ServiceError
from kymaprov.provisioning import catalog
from kymaprov.provisioning.environments import EnvironmentService
from kymaprov.provisioning.models import environments
from kymaprov.uaa.models import Principal

_TEXT = {"type": "string", "minLength": 1, "maxLength": 255}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "subaccounts": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["subdomain"],
                "properties": {
                    "id": {"type": "string", "pattern": "^[0-9a-fA-F-]{36}$"},
                    "displayName": _TEXT,
                    "subdomain": _TEXT,
                    "region": _TEXT,
                    "cis": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["name"],
                            "properties": {
                                "name": _TEXT,
                                "plan": {"enum": list(catalog.CIS_PLANS)},
                                "grantType": {"enum": ["clientCredentials", "password"]},
                                "bindings": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "required": ["name", "clientId", "clientSecret"],
                                        "properties": {
                                            "name": _TEXT,
                                            "clientId": _TEXT,
                                            "clientSecret": {"type": "string", "minLength": 8},
                                        },
                                    },
                                },
                            },
                        },
                    },
                    "environments": {
                        "type": "array",
                        "maxItems": 1,  # one Kyma environment per subaccount
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["name", "plan", "region"],
                            "properties": {
                                "name": _TEXT,
                                "plan": {"enum": list(catalog.PLANS)},
                                "region": _TEXT,
                                "user": _TEXT,
                                "parameters": {"type": "object"},
                            },
                        },
                    },
                },
            },
        },
    },
}


class InitError(Exception):
    """A file that cannot be read or applied: one line, naming the file and the key."""


def load(path: Path) -> dict[str, Any]:
    """The file, parsed and checked against ``SCHEMA``."""
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise InitError(f"--init {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InitError(f"--init {path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(SCHEMA).iter_errors(doc))
    if error is not None:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        raise InitError(f"--init {path}: {where.lstrip('.') or 'top level'}: {error.message}")
    return dict(doc)


def apply(ctx: Context, cis: CisService, envs: EnvironmentService, doc: dict[str, Any]) -> list[str]:
    """Create what the file names and does not exist yet; return what was created, one line each."""
    created: list[str] = []
    for i, spec in enumerate(doc.get("subaccounts", [])):
        where = f"subaccounts[{i}]"
        try:
            sub = _subaccount(ctx, spec, created)
            for j, inst in enumerate(spec.get("cis", [])):
                where = f"subaccounts[{i}].cis[{j}]"
                _instance(ctx, cis, sub, inst, created)
            for j, env in enumerate(spec.get("environments", [])):
                where = f"subaccounts[{i}].environments[{j}]"
                _environment(ctx, envs, sub, env, created)
        except ServiceError as exc:
            raise InitError(f"--init: {where}: {exc.message}") from None
    return created


def _subaccount(ctx: Context, spec: dict[str, Any], created: list[str]) -> Subaccount:
    if "id" in spec and (found := get_subaccount(ctx, spec["id"])) is not None:
        return found
    for existing in list_subaccounts(ctx):
        if existing.subdomain == spec["subdomain"]:
            return existing
    sub = create_subaccount(
        ctx,
        default_global_account_id(ctx),
        spec.get("displayName", spec["subdomain"]),
        spec["subdomain"],
        spec.get("region", "eu10"),
        subaccount_id=spec.get("id"),
    )
    created.append(f"subaccount {sub.subdomain} ({sub.id})")
    return sub


def _instance(
    ctx: Context, cis: CisService, sub: Subaccount, spec: dict[str, Any], created: list[str]
) -> None:
    with ctx.store.read() as conn:
        exists = conn.execute(
            sa.select(service_instances.c.id).where(
                service_instances.c.subaccount_id == sub.id, service_instances.c.name == spec["name"]
            )
        ).first()
    if exists is None:
        parameters = {"grantType": spec.get("grantType", "clientCredentials")}
        cis.create_instance(sub, spec["name"], "cis", spec.get("plan", "local"), parameters)
        created.append(f"cis instance {spec['name']} in {sub.subdomain}")
    for binding in spec.get("bindings", []):
        with ctx.store.read() as conn:
            row = conn.execute(
                sa.select(service_bindings.c.client_id).where(
                    service_bindings.c.subaccount_id == sub.id, service_bindings.c.name == binding["name"]
                )
            ).first()
        if row is not None:
            if row.client_id != binding["clientId"]:
                raise InitError(
                    f"--init: binding {binding['name']} in {sub.subdomain} exists with client id "
                    f"{row.client_id}, not {binding['clientId']}; delete it or rename it in the file"
                )
            continue
        cis.create_binding(
            sub,
            binding["name"],
            instance_name=spec["name"],
            client_id=binding["clientId"],
            client_secret=binding["clientSecret"],
        )
        created.append(f"cis binding {binding['name']} (client id {binding['clientId']})")


def _environment(
    ctx: Context, envs: EnvironmentService, sub: Subaccount, spec: dict[str, Any], created: list[str]
) -> None:
    with ctx.store.read() as conn:
        exists = conn.execute(
            sa.select(environments.c.id).where(
                environments.c.subaccount_id == sub.id,
                environments.c.environment_type == catalog.KYMA_ENVIRONMENT_TYPE,
            )
        ).first()
    if exists is not None:
        return
    principal = Principal(
        client_id="kymaprov-init",
        xsappname=LOCAL_XSAPPNAME,
        scopes=frozenset(),
        grant_type="client_credentials",
        subaccount_id=sub.id,
        global_account_id=sub.global_account_id,
    )
    body = {
        "environmentType": catalog.KYMA_ENVIRONMENT_TYPE,
        "serviceName": catalog.KYMA_SERVICE_NAME,
        "planName": spec["plan"],
        "name": spec["name"],
        "user": spec.get("user", "kymaprov-init@localhost"),
        "parameters": {"name": spec["name"], "region": spec["region"], **spec.get("parameters", {})},
    }
    env, _ = envs.create(principal, body)
    created.append(f"environment {spec['name']} ({env.id}) in {sub.subdomain}")
