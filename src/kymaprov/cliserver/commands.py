"""The commands of ``POST /command/<version>/<group>/<object>?<action>``, each over a service layer.

A command reads its ``paramValues`` (strings, as ``btp`` and the provider send them), calls the layer's
public operations and answers the backend's status and body; a layer's error becomes the backend's
error (``BackendError``), never a failure of the CLI server itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kymaprov import strictjson
from kymaprov.accounts.models import (
    Subaccount,
    create_subaccount,
    delete_subaccount,
    find_global_account,
    get_subaccount,
    list_subaccounts,
    update_subaccount,
)
from kymaprov.cis.models import OFFERING, CisService
from kymaprov.cliserver import views
from kymaprov.cliserver.errors import BackendError, ProtocolError
from kymaprov.cliserver.sessions import Session
from kymaprov.context import Context
from kymaprov.errors import EnvelopeError, MessageError, ServiceError
from kymaprov.provisioning import catalog
from kymaprov.provisioning.environments import EnvironmentService
from kymaprov.uaa.models import BTP_CLI_CLIENT, Principal

ACCOUNTS_MEDIATYPE = "application/json;charset=UTF-8"
SM_MEDIATYPE = "application/json"
# the accounts backends' error codes the real server shows: 20004 no such subaccount, 12003 bad request;
# 11004 (another global account) is kymaprov's choice
SUBACCOUNT_NOT_FOUND = 20004
ACCOUNTS_BAD_REQUEST = 12003
ACCOUNTS_FORBIDDEN = 11004


@dataclass(frozen=True)
class Answer:
    body: Any
    status: int = 200


@dataclass(frozen=True)
class Call:
    session: Session
    params: dict[str, str]  # strings only, as btp and the provider send them (checked on the way in)

    def get(self, name: str) -> str | None:
        return self.params.get(name) or None

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise ProtocolError(f"Missing required parameter '{name}'")
        return value

    def flag(self, name: str) -> bool:
        return self.params.get(name) == "true"


Handler = Callable[[Call], Answer]

_NAME_FILTER = re.compile(r"^\s*name\s+eq\s+'([^']*)'\s*$")


def _json_param(call: Call, name: str) -> Any:
    raw = call.get(name)
    if raw is None:
        return None
    try:
        return strictjson.loads(raw, allow_nul=False)
    except strictjson.InvalidJSON as exc:
        raise BackendError.accounts(400, f"Parameter '{name}' is not valid JSON: {exc}", 11000) from exc


def _unsupported(call: Call, **kept: str) -> None:
    """Refuse a setting kymaprov does not keep, unless it is the value kymaprov reports anyway."""
    for name, value in kept.items():
        if call.get(name) not in (None, value):
            raise BackendError.accounts(
                400, f"kymaprov does not support '{name}' other than '{value}'", ACCOUNTS_BAD_REQUEST
            )


class Commands:
    def __init__(self, ctx: Context, cis: CisService, envs: EnvironmentService) -> None:
        self._ctx = ctx
        self._cis = cis
        self._envs = envs
        self._table: dict[tuple[str, str], Handler] = {
            ("accounts/global-account", "get"): self.global_account_get,
            ("accounts/subaccount", "list"): self.subaccount_list,
            ("accounts/subaccount", "get"): self.subaccount_get,
            ("accounts/subaccount", "create"): self.subaccount_create,
            ("accounts/subaccount", "update"): self.subaccount_update,
            ("accounts/subaccount", "delete"): self.subaccount_delete,
            ("accounts/available-environment", "list"): self.available_environment_list,
            ("accounts/entitlement", "list"): self.entitlement_list,
            ("accounts/environment-instance", "list"): self.environment_list,
            ("accounts/environment-instance", "get"): self.environment_get,
            ("accounts/environment-instance", "create"): self.environment_create,
            ("accounts/environment-instance", "update"): self.environment_update,
            ("accounts/environment-instance", "delete"): self.environment_delete,
            ("services/offering", "list"): self.offering_list,
            ("services/offering", "get"): self.offering_get,
            ("services/plan", "list"): self.plan_list,
            ("services/plan", "get"): self.plan_get,
            ("services/instance", "list"): self.instance_list,
            ("services/instance", "get"): self.instance_get,
            ("services/instance", "create"): self.instance_create,
            ("services/instance", "delete"): self.instance_delete,
            ("services/binding", "list"): self.binding_list,
            ("services/binding", "get"): self.binding_get,
            ("services/binding", "create"): self.binding_create,
            ("services/binding", "delete"): self.binding_delete,
        }

    def run(self, command: str, action: str, call: Call) -> tuple[Answer, str]:
        """The answer and its backend media type; a layer's error as the backend's error."""
        handler = self._table.get((command, action))
        if handler is None:
            raise ProtocolError(f"Unknown command '{action} {command}'", status=404)
        services = command.startswith("services/")
        named = call.get("globalAccount")
        if named not in (None, call.session.subdomain):  # a session is for one global account
            raise BackendError.accounts(
                403, f"You cannot access global account '{named}'", ACCOUNTS_FORBIDDEN
            )
        try:
            return handler(call), SM_MEDIATYPE if services else ACCOUNTS_MEDIATYPE
        except (ProtocolError, BackendError):
            raise
        except EnvelopeError as exc:
            raise BackendError.accounts(exc.status, exc.message, exc.code) from exc
        except MessageError as exc:
            if services:
                raise BackendError.service_manager(exc.status, exc.message) from exc
            code = SUBACCOUNT_NOT_FOUND if exc.status == 404 else ACCOUNTS_BAD_REQUEST
            raise BackendError.accounts(exc.status, exc.message, code) from exc
        except ServiceError as exc:
            raise BackendError.accounts(exc.status, exc.message, 10000) from exc

    # -- helpers --------------------------------------------------------------------------------

    def _subaccount(self, call: Call) -> Subaccount:
        sub_id = call.require("subaccount")
        sub = get_subaccount(self._ctx, sub_id)
        if sub is None or sub.global_account_id != call.session.global_account_id:
            raise BackendError.accounts(404, f"Subaccount {sub_id} not found", SUBACCOUNT_NOT_FOUND)
        return sub

    def _principal(self, call: Call, sub: Subaccount) -> Principal:
        """The session's user acting in ``sub``, as the Provisioning layer knows its callers."""
        return Principal(
            client_id=BTP_CLI_CLIENT,
            xsappname="kymaprov",
            scopes=frozenset(),
            grant_type="password",
            subaccount_id=sub.id,
            global_account_id=sub.global_account_id,
            user_name=call.session.username,
        )

    def _catalog_time(self, call: Call) -> str:
        """The catalog's ``created_at``: the subaccount's creation, so it stays the same across reads."""
        return views.iso_date(self._subaccount(call).created_ms)

    @staticmethod
    def _name_filter(call: Call) -> str | None:
        fields = call.get("fieldsFilter")
        if fields is None:
            return None
        match = _NAME_FILTER.match(fields)
        if match is None:
            raise BackendError.service_manager(400, f"Unsupported fieldsFilter '{fields}'")
        return match.group(1)

    # -- accounts -------------------------------------------------------------------------------

    def global_account_get(self, call: Call) -> Answer:
        ga = find_global_account(self._ctx, global_account_id=call.session.global_account_id)
        if ga is None:
            raise BackendError.accounts(404, "Global account not found", 20005)
        return Answer(views.global_account(ga))

    def subaccount_list(self, call: Call) -> Answer:
        if call.get("labelsFilter") is not None:
            raise BackendError.accounts(
                400, "kymaprov keeps no subaccount labels to filter by", ACCOUNTS_BAD_REQUEST
            )
        subs = list_subaccounts(self._ctx, call.session.global_account_id)
        return Answer({"value": [views.subaccount(s) for s in subs]})

    def subaccount_get(self, call: Call) -> Answer:
        return Answer(views.subaccount(self._subaccount(call)))

    def subaccount_create(self, call: Call) -> Answer:
        _unsupported(call, betaEnabled="false", usedForProduction="UNSET", labels="{}", description="")
        sub = create_subaccount(
            self._ctx,
            call.session.global_account_id,
            call.require("displayName"),
            call.require("subdomain"),
            call.get("region") or "eu10",
        )
        return Answer(views.subaccount(sub))

    def subaccount_update(self, call: Call) -> Answer:
        """Only the display name changes here; the answer's dates are epoch milliseconds, as recorded."""
        sub = self._subaccount(call)
        _unsupported(call, betaEnabled="false", usedForProduction="UNSET", labels="{}", description="")
        if call.get("directoryID") not in (None, sub.global_account_id):
            raise BackendError.accounts(400, "kymaprov has no directories", ACCOUNTS_BAD_REQUEST)
        sub = update_subaccount(self._ctx, sub.id, call.get("displayName") or sub.display_name)
        dates = {"createdDate": sub.created_ms, "modifiedDate": sub.created_ms}
        return Answer({**views.subaccount(sub), **dates, "description": None})

    def subaccount_delete(self, call: Call) -> Answer:
        """Delete an empty subaccount: its environments and service instances go first (a 409 says so)."""
        sub = self._subaccount(call)
        if self._envs.list_all(self._principal(call, sub)) or self._cis.list_instances(sub):
            raise BackendError.accounts(
                409, f"Subaccount {sub.id} still has environment or service instances", ACCOUNTS_BAD_REQUEST
            )
        delete_subaccount(self._ctx, sub.id)
        return Answer(
            {**views.subaccount(sub), "state": "DELETING", "stateMessage": "Delete subaccount entity"}
        )

    def entitlement_list(self, call: Call) -> Answer:
        """The subaccounts' (``subaccountFilter``, else all) plan assignments, as the provider reads them."""
        ga = call.session.global_account_id
        directory = call.get("directory")
        if directory not in (None, ga):
            raise BackendError.accounts(
                400, f"Directory {directory} is not a child of global account {ga}", ACCOUNTS_BAD_REQUEST
            )
        wanted = call.get("subaccountFilter")
        subs = [self._subaccount(Call(call.session, {"subaccount": wanted}))] if wanted else None
        quotas: list[dict[str, Any]] = []
        for sub in subs if subs is not None else list_subaccounts(self._ctx, ga):
            quotas += self._envs.plan_assignments(self._principal(call, sub))["quotas"]
        return Answer(views.entitlements(quotas, self._ctx.clock.now_ms()))

    def available_environment_list(self, call: Call) -> Answer:
        self._subaccount(call)
        return Answer({"availableEnvironments": catalog.available_environments()})

    def environment_list(self, call: Call) -> Answer:
        sub = self._subaccount(call)
        envs = self._envs.list_all(self._principal(call, sub))
        return Answer({"environmentInstances": [views.environment(e, self._base) for e in envs]})

    def environment_get(self, call: Call) -> Answer:
        sub = self._subaccount(call)
        env = self._envs.get(self._principal(call, sub), call.require("environmentID"))
        return Answer(views.environment(env, self._base))

    def environment_create(self, call: Call) -> Answer:
        sub = self._subaccount(call)
        body: dict[str, Any] = {
            "environmentType": call.get("environmentType"),
            "serviceName": call.get("service"),
            "planName": call.get("plan"),
            "name": call.get("displayName"),
            "landscapeLabel": call.get("landscapeLabel"),
            "user": call.get("user"),
            "parameters": _json_param(call, "parameters") or {},
        }
        env, job_id = self._envs.create(
            self._principal(call, sub), {k: v for k, v in body.items() if v is not None}
        )
        return Answer({**views.environment(env, self._base), "jobId": job_id})

    def environment_update(self, call: Call) -> Answer:
        sub = self._subaccount(call)
        body = {"planName": call.get("plan"), "parameters": _json_param(call, "parameters") or {}}
        job_id = self._envs.update(self._principal(call, sub), call.require("environmentID"), body)
        return Answer({"jobId": job_id})

    def environment_delete(self, call: Call) -> Answer:
        sub = self._subaccount(call)
        env, job_id = self._envs.delete(self._principal(call, sub), call.require("environmentID"))
        return Answer({**views.environment(env, self._base), "jobId": job_id})

    @property
    def _base(self) -> str:
        return self._ctx.settings.base_url

    # -- services -------------------------------------------------------------------------------

    def offering_list(self, call: Call) -> Answer:
        return Answer([views.offering(self._catalog_time(call))])

    def offering_get(self, call: Call) -> Answer:
        created = self._catalog_time(call)
        if (call.get("id") or call.get("name")) != OFFERING:
            raise BackendError.service_manager(404, "could not find such service_offering")
        return Answer(views.offering(created))

    def plan_list(self, call: Call) -> Answer:
        return Answer(views.plans(self._catalog_time(call)))

    def plan_get(self, call: Call) -> Answer:
        """By ``id``, or by ``name`` and ``offeringName``, as the provider's data source asks."""
        created = self._catalog_time(call)
        plan_id, name, offering = call.get("id"), call.get("name"), call.get("offeringName")
        for plan in views.plans(created):
            if plan["id"] == plan_id or (plan["name"] == name and offering in (None, OFFERING)):
                return Answer(plan)
        raise BackendError.service_manager(404, "could not find such service_plan")

    def instance_list(self, call: Call) -> Answer:
        sub = self._subaccount(call)
        name = self._name_filter(call)
        if call.get("labelsFilter") is not None:
            raise BackendError.service_manager(400, "labelsFilter is not supported by kymaprov")
        items = self._cis.list_instances(sub)
        return Answer([i for i in items if name is None or i["name"] == name])

    def instance_get(self, call: Call) -> Answer:
        sub = self._subaccount(call)
        instance = self._cis.get_instance(sub, name=call.get("name"), instance_id=call.get("id"))
        if call.flag("parameters"):  # the second read the provider makes: the parameters alone
            return Answer(instance["parameters"])
        return Answer(instance)

    def instance_create(self, call: Call) -> Answer:
        sub = self._subaccount(call)
        if call.get("labels") not in (None, "{}"):
            raise BackendError.service_manager(400, "kymaprov does not keep instance labels")
        offering, plan = call.get("offeringName"), call.get("planName")
        plan_id = call.get("plan")
        if plan_id is not None:  # the provider names the plan by id: cis-<plan>
            offering, _, plan = plan_id.partition("-")
        created = self._cis.create_instance(
            sub, call.get("name") or "", offering or "", plan or "", call.get("parameters")
        )
        return Answer(created, status=201)

    def instance_delete(self, call: Call) -> Answer:
        sub = self._subaccount(call)
        self._cis.delete_instance(sub, name=call.get("name"), instance_id=call.get("id"))
        return Answer({})

    def binding_list(self, call: Call) -> Answer:
        sub = self._subaccount(call)
        name = self._name_filter(call)
        return Answer([b for b in self._cis.list_bindings(sub) if name is None or b["name"] == name])

    def binding_get(self, call: Call) -> Answer:
        sub = self._subaccount(call)
        return Answer(self._cis.get_binding(sub, name=call.get("name"), binding_id=call.get("id")))

    def binding_create(self, call: Call) -> Answer:
        sub = self._subaccount(call)
        if _json_param(call, "parameters") not in (None, {}):
            raise BackendError.service_manager(400, f"Bindings of '{OFFERING}' take no parameters")
        if call.get("labels") not in (None, "{}"):
            raise BackendError.service_manager(400, "kymaprov does not keep binding labels")
        created = self._cis.create_binding(
            sub,
            call.get("name") or "",
            instance_name=call.get("serviceInstanceName") or call.get("instanceName"),
            instance_id=call.get("serviceInstanceID"),
        )
        return Answer(created, status=201)

    def binding_delete(self, call: Call) -> Answer:
        sub = self._subaccount(call)
        self._cis.delete_binding(sub, name=call.get("name"), binding_id=call.get("id"))
        return Answer({})
