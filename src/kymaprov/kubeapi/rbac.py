"""A small RBAC authorizer with the semantics of ``plugin/pkg/auth/authorizer/rbac``.

ClusterRoleBindings grant cluster-wide, RoleBindings within their namespace; rules match verbs, API
groups, resources (``res/sub`` and ``*/sub``), resource names and non-resource URLs with ``*``
wildcards. ``system:masters`` is allowed everything, as the apiserver's privileged-group authorizer
does. The same evaluator answers requests, SelfSubjectAccessReviews and SelfSubjectRulesReviews.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kymaprov.kubeapi.errors import Forbidden, NotFound
from kymaprov.kubeapi.objects import ObjectStore
from kymaprov.kubeapi.resources import CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, ROLE_BINDINGS, ROLES

MASTERS = "system:masters"


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...]
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Attributes:
    """What is being asked, as ``authorizer.Attributes``."""

    verb: str
    resource_request: bool = True
    namespace: str = ""
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


def _listed(rule: dict[str, Any], key: str) -> list[str]:
    """The strings of a rule's list field; anything else grants nothing (never a substring match)."""
    values = rule.get(key)
    return [v for v in values if isinstance(v, str)] if isinstance(values, list) else []


def _verb_matches(rule: dict[str, Any], verb: str) -> bool:
    verbs = _listed(rule, "verbs")
    return "*" in verbs or verb in verbs


def _group_matches(rule: dict[str, Any], group: str) -> bool:
    groups = _listed(rule, "apiGroups")
    return "*" in groups or group in groups


def _resource_matches(rule: dict[str, Any], resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for candidate in _listed(rule, "resources"):
        if candidate in ("*", combined):
            return True
        if subresource and candidate == f"*/{subresource}":
            return True
    return False


def _resource_names(rule: dict[str, Any]) -> list[str] | None:
    """A rule's ``resourceNames`` ([] for any name), or None when malformed: such a rule grants nothing,
    rather than everything as an empty list would."""
    values = rule.get("resourceNames")
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return None
    return values


def _name_matches(rule: dict[str, Any], name: str) -> bool:
    names = _resource_names(rule)
    return names is not None and (not names or name in names)


def _url_matches(rule: dict[str, Any], path: str) -> bool:
    for url in _listed(rule, "nonResourceURLs"):
        if url in ("*", path):
            return True
        if url.endswith("*") and path.startswith(url[:-1]):
            return True
    return False


def rule_allows(attrs: Attributes, rule: dict[str, Any]) -> bool:
    if not isinstance(rule, dict) or not _verb_matches(rule, attrs.verb):
        return False
    if not attrs.resource_request:
        return _url_matches(rule, attrs.path)
    return (
        _group_matches(rule, attrs.api_group)
        and _resource_matches(rule, attrs.resource, attrs.subresource)
        and _name_matches(rule, attrs.name)
    )


def _subject_applies(subject: Any, user: UserInfo, binding_namespace: str) -> bool:
    if not isinstance(subject, dict):
        return False
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return bool(name == user.name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return bool(namespace) and user.name == f"system:serviceaccount:{namespace}:{name}"
    return False


def _describe_subject(subject: dict[str, Any], binding_namespace: str) -> str:
    if subject.get("kind") == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return f'ServiceAccount "{subject.get("name")}/{namespace}"'
    return f'{subject.get("kind")} "{subject.get("name")}"'


@dataclass
class _Grant:
    source: str
    rules: list[dict[str, Any]]


class Authorizer:
    """Evaluates bindings read through an ``ObjectStore`` (in the request's transaction)."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self.errors: list[str] = []

    def _role_rules(self, ref: Any, namespace: str) -> list[dict[str, Any]] | None:
        if not isinstance(ref, dict):
            return None
        kind, name = ref.get("kind"), str(ref.get("name", ""))
        if kind == "ClusterRole":
            role = self._store.find(CLUSTER_ROLES, "", name)
            if role is None:
                self.errors.append(f'clusterrole.rbac.authorization.k8s.io "{name}" not found')
                return None
        elif kind == "Role" and namespace:
            role = self._store.find(ROLES, namespace, name)
            if role is None:
                self.errors.append(f'role.rbac.authorization.k8s.io "{name}" not found')
                return None
        else:
            return None
        return [r for r in role.get("rules") or [] if isinstance(r, dict)]

    def _grants(self, user: UserInfo, namespace: str) -> Iterator[_Grant]:
        self.errors = []
        bindings, _ = self._store.list_objects(CLUSTER_ROLE_BINDINGS, None)
        for binding in bindings:
            for subject in binding.get("subjects") or []:
                if _subject_applies(subject, user, ""):
                    rules = self._role_rules(binding.get("roleRef"), "")
                    if rules is not None:
                        ref = binding["roleRef"]
                        yield _Grant(
                            f'ClusterRoleBinding "{binding["metadata"]["name"]}" of {ref["kind"]} '
                            f'"{ref["name"]}" to {_describe_subject(subject, "")}',
                            rules,
                        )
                    break
        if not namespace:
            return
        bindings, _ = self._store.list_objects(ROLE_BINDINGS, namespace)
        for binding in bindings:
            for subject in binding.get("subjects") or []:
                if _subject_applies(subject, user, namespace):
                    rules = self._role_rules(binding.get("roleRef"), namespace)
                    if rules is not None:
                        ref = binding["roleRef"]
                        yield _Grant(
                            f'RoleBinding "{binding["metadata"]["name"]}/{namespace}" of {ref["kind"]} '
                            f'"{ref["name"]}" to {_describe_subject(subject, namespace)}',
                            rules,
                        )
                    break

    def authorize(self, user: UserInfo, attrs: Attributes) -> Decision:
        if MASTERS in user.groups:
            return Decision(True)
        for grant in self._grants(user, attrs.namespace if attrs.resource_request else ""):
            if any(rule_allows(attrs, rule) for rule in grant.rules):
                return Decision(True, f"RBAC: allowed by {grant.source}")
        if not self.errors:
            return Decision(False)
        aggregate = self.errors[0] if len(self.errors) == 1 else "[" + ", ".join(self.errors) + "]"
        return Decision(False, f"RBAC: {aggregate}")

    def rules(self, user: UserInfo, namespace: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Resource and non-resource rules that apply in ``namespace`` (SelfSubjectRulesReview)."""
        resource_rules: list[dict[str, Any]] = []
        url_rules: list[dict[str, Any]] = []
        for grant in self._grants(user, namespace):
            for rule in grant.rules:
                if rule.get("nonResourceURLs"):
                    url_rules.append(
                        {"verbs": rule.get("verbs", []), "nonResourceURLs": rule["nonResourceURLs"]}
                    )
                else:
                    item = {
                        k: rule[k]
                        for k in ("verbs", "apiGroups", "resources", "resourceNames")
                        if rule.get(k)
                    }
                    item.setdefault("verbs", [])
                    resource_rules.append(item)
        return resource_rules, url_rules


def impersonation_checks(user: str, groups: list[str], uid: str) -> list[Attributes]:
    """What the impersonation filter authorizes before acting as someone else."""
    checks = []
    parts = user.split(":")
    if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
        checks.append(
            Attributes("impersonate", namespace=parts[2], resource="serviceaccounts", name=parts[3])
        )
    else:
        checks.append(Attributes("impersonate", resource="users", name=user))
    checks += [Attributes("impersonate", resource="groups", name=g) for g in groups]
    if uid:
        checks.append(Attributes("impersonate", api_group="authentication.k8s.io", resource="uids", name=uid))
    return checks


def impersonated(user: str, groups: list[str], uid: str) -> UserInfo:
    parts = user.split(":")
    all_groups = list(groups)
    if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
        all_groups += ["system:serviceaccounts", f"system:serviceaccounts:{parts[2]}"]
    if "system:unauthenticated" not in all_groups and "system:authenticated" not in all_groups:
        all_groups.append("system:authenticated")
    return UserInfo(user, tuple(dict.fromkeys(all_groups)), uid)


def forbidden(user: UserInfo, attrs: Attributes, reason: str) -> Forbidden:
    """The 403 of ``responsewriters.Forbidden``, message text included."""
    if not attrs.resource_request:
        why = f'User "{user.name}" cannot {attrs.verb} path "{attrs.path}"'
    else:
        resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        where = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
        why = (
            f'User "{user.name}" cannot {attrs.verb} resource "{resource}" '
            f'in API group "{attrs.api_group}" {where}'
        )
    if reason:
        why = f"{why}: {reason}"
    resource = attrs.resource if attrs.resource_request else ""
    return Forbidden.for_request(resource, attrs.api_group, attrs.name, why)


# --- escalation prevention (pkg/registry/rbac/*/policybased, escalation_check.go) -----------------

ROLE_RESOURCES = ("roles", "clusterroles")
BINDING_RESOURCES = ("rolebindings", "clusterrolebindings")
_FULL_AUTHORITY: list[dict[str, Any]] = [
    {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
    {"verbs": ["*"], "nonResourceURLs": ["*"]},
]


def _policy_rules(value: Any) -> list[dict[str, Any]]:
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def breakdown(rule: dict[str, Any]) -> list[dict[str, Any]]:
    """``BreakdownRule``: one rule per (group, resource, verb[, name]) and per (URL, verb)."""
    verbs, names = _listed(rule, "verbs"), _resource_names(rule) or []
    subrules: list[dict[str, Any]] = []
    for group in _listed(rule, "apiGroups"):
        for resource in _listed(rule, "resources"):
            for verb in verbs:
                base = {"apiGroups": [group], "resources": [resource], "verbs": [verb]}
                subrules += [{**base, "resourceNames": [n]} for n in names] if names else [base]
    for url in _listed(rule, "nonResourceURLs"):
        subrules += [{"nonResourceURLs": [url], "verbs": [verb]} for verb in verbs]
    return subrules


def _resources_cover(owned: list[str], wanted: list[str]) -> bool:
    if "*" in owned:
        return True
    for resource in wanted:
        if resource in owned:
            continue
        if "/" not in resource or "*/" + resource.split("/", 1)[1] not in owned:
            return False
    return True


def _url_covers(owner: str, path: str) -> bool:
    return owner == path or (owner.endswith("*") and path.startswith(owner.rstrip("*")))


def _rule_covers(owner: dict[str, Any], sub: dict[str, Any]) -> bool:
    """``ruleCovers``: ``owner`` grants everything the broken-down ``sub`` rule does."""
    verbs, groups = _listed(owner, "verbs"), _listed(owner, "apiGroups")
    owner_names, sub_names = _resource_names(owner), _listed(sub, "resourceNames")
    owner_urls = _listed(owner, "nonResourceURLs")
    if owner_names is None:
        return False
    return (
        ("*" in verbs or all(v in verbs for v in _listed(sub, "verbs")))
        and ("*" in groups or all(g in groups for g in _listed(sub, "apiGroups")))
        and _resources_cover(_listed(owner, "resources"), _listed(sub, "resources"))
        and (not owner_names or (bool(sub_names) and all(n in owner_names for n in sub_names)))
        and all(any(_url_covers(o, p) for o in owner_urls) for p in _listed(sub, "nonResourceURLs"))
    )


def uncovered(owner_rules: list[dict[str, Any]], rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``Covers``: the broken-down parts of ``rules`` that no owner rule grants."""
    return [
        sub
        for rule in rules
        for sub in breakdown(rule)
        if not any(_rule_covers(owner, sub) for owner in owner_rules)
    ]


def compact(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``CompactRules``: merge the verbs of single group/resource(/name) rules."""
    merged: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    result: list[dict[str, Any]] = []
    for rule in rules:
        names = rule.get("resourceNames", [])
        if rule.get("nonResourceURLs") or len(rule.get("apiGroups", [])) != 1 or len(names) > 1:
            result.append(rule)
            continue
        key = (rule["apiGroups"][0], rule["resources"][0], names[0] if names else None)
        if key in merged:
            merged[key]["verbs"] += [v for v in rule["verbs"] if v not in merged[key]["verbs"]]
        else:
            merged[key] = {k: list(v) for k, v in rule.items()}
    return result + list(merged.values())


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string (``strconv.Quote``), as kube's messages print names."""
    escapes = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n"}
    escapes |= {"\r": "\\r", "\t": "\\t", "\v": "\\v"}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        elif not char.isprintable():
            out.append(f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _go_listed(values: list[str] | tuple[str, ...]) -> str:
    return "[" + " ".join(go_quote(v) for v in values) + "]"


def compact_string(rule: dict[str, Any]) -> str:
    """``rbacv1helpers.CompactString``: ``{APIGroups:["*"], Resources:["*"], Verbs:["*"]}``."""
    labels = (
        ("apiGroups", "APIGroups"),
        ("resources", "Resources"),
        ("nonResourceURLs", "NonResourceURLs"),
        ("resourceNames", "ResourceNames"),
        ("verbs", "Verbs"),
    )
    parts = [f"{label}:{_go_listed(rule[key])}" for key, label in labels if rule.get(key)]
    return "{" + ", ".join(parts) + "}"


def _only_gc_fields_change(new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    """``IsOnlyMutatingGCFields``: owner references and finalizers may change without a check."""
    if old is None:
        return False

    def stripped(obj: dict[str, Any]) -> dict[str, Any]:
        meta = {
            k: v
            for k, v in (obj.get("metadata") or {}).items()
            if k not in ("ownerReferences", "finalizers", "selfLink", "managedFields", "resourceVersion")
        }
        return {**obj, "metadata": meta}

    return stripped(new) == stripped(old)


class EscalationGuard:
    """Refuses Role/ClusterRole and (Cluster)RoleBinding writes that grant more than the writer holds.

    As kube-apiserver's ``policybased`` storages: ``system:masters`` may do anything; a role writer
    with ``escalate`` on the role may write any rules; a binding writer with ``bind`` on the referenced
    role may bind it; everyone else may only grant rules they hold themselves in that namespace (or
    cluster-wide for cluster-scoped objects). The writer's rules are read when the guard is made,
    before the write, so the object being written never counts towards its own authorization.
    """

    def __init__(self, store: ObjectStore, user: UserInfo, attrs: Attributes) -> None:
        self._store = store
        self._user = user
        self._resource = attrs.resource
        self._namespace = attrs.namespace
        authorizer = Authorizer(store)
        self._owner_rules: list[dict[str, Any]] = []
        self._errors: list[str] = []
        self._exempt = MASTERS in user.groups
        rt = CLUSTER_ROLES if attrs.resource == "clusterroles" else None
        for candidate in (CLUSTER_ROLE_BINDINGS, ROLES, ROLE_BINDINGS):
            rt = candidate if candidate.resource == attrs.resource else rt
        self.old = store.find(rt, attrs.namespace, attrs.name) if rt and attrs.name else None
        if self._exempt:
            return
        for grant in authorizer._grants(user, attrs.namespace):
            self._owner_rules += grant.rules
        self._errors = list(authorizer.errors)
        if attrs.resource in ROLE_RESOURCES:
            escalate = Attributes(
                "escalate",
                namespace=attrs.namespace,
                api_group=attrs.api_group,
                api_version="*",
                resource=attrs.resource,
                name=attrs.name,
            )
            self._exempt = self._holds(escalate)

    def _holds(self, attrs: Attributes) -> bool:
        return any(rule_allows(attrs, rule) for rule in self._owner_rules)

    def check(self, obj: Any) -> None:
        """Raise ``Forbidden`` (or ``NotFound`` for a missing role) if writing ``obj`` escalates.

        Called with the request's body before the write (kube's order: before validation and
        conflicts) and with the stored result after it (what a patch or apply produced).
        """
        if self._exempt or not isinstance(obj, dict) or _only_gc_fields_change(obj, self.old):
            return
        meta = obj.get("metadata")
        name = str(meta.get("name", "")) if isinstance(meta, dict) else ""
        if self._resource in ROLE_RESOURCES:
            rules = _policy_rules(obj.get("rules"))
            self._confirm(rules, name)
            aggregates = self._resource == "clusterroles" and obj.get("aggregationRule") is not None
            if aggregates and uncovered(self._owner_rules, _FULL_AUTHORITY):
                why = "must have cluster-admin privileges to use the aggregationRule"
                raise self._forbidden(name, why)
            return
        ref = obj.get("roleRef")
        if not isinstance(ref, dict):
            return  # validation refuses it
        kind, ref_name = ref.get("kind"), str(ref.get("name", ""))
        resource = {"ClusterRole": "clusterroles", "Role": "roles"}.get(str(kind))
        if resource is None:
            return
        bind = Attributes(
            "bind",
            namespace=self._namespace,
            api_group=str(ref.get("apiGroup", "")),
            resource=resource,
            name=ref_name,
        )
        if self._holds(bind):
            return
        if resource == "clusterroles":
            role = self._store.find(CLUSTER_ROLES, "", ref_name)
        else:
            role = self._store.find(ROLES, self._namespace, ref_name) if self._namespace else None
        if role is None:
            raise NotFound.object(resource, CLUSTER_ROLES.group, ref_name)
        self._confirm(_policy_rules(role.get("rules")), name)

    def _confirm(self, rules: list[dict[str, Any]], name: str) -> None:
        """``ConfirmNoEscalation``."""
        missing = uncovered(self._owner_rules, rules)
        if not missing:
            return
        descriptions = sorted({compact_string(rule) for rule in compact(missing)})
        message = (
            f"user {go_quote(self._user.name)} (groups={_go_listed(self._user.groups)}) is attempting "
            "to grant RBAC permissions not currently held:\n" + "\n".join(descriptions)
        )
        if self._errors:
            aggregate = self._errors[0] if len(self._errors) == 1 else "[" + ", ".join(self._errors) + "]"
            message += f"; resolution errors: [{aggregate}]"
        raise self._forbidden(name, message)

    def _forbidden(self, name: str, why: str) -> Forbidden:
        return Forbidden.for_request(self._resource, CLUSTER_ROLES.group, name, why)


def escalation_guard(store: ObjectStore, user: UserInfo, attrs: Attributes) -> EscalationGuard | None:
    """A guard for writes of RBAC roles and bindings, else None."""
    if attrs.api_group != CLUSTER_ROLES.group or attrs.resource not in ROLE_RESOURCES + BINDING_RESOURCES:
        return None
    if attrs.subresource:
        return None
    return EscalationGuard(store, user, attrs)
