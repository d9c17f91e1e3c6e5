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

from kymaprov.runtime.errors import Forbidden
from kymaprov.runtime.objects import ObjectStore
from kymaprov.runtime.resources import CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, ROLE_BINDINGS, ROLES

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


def _verb_matches(rule: dict[str, Any], verb: str) -> bool:
    verbs = rule.get("verbs") or []
    return "*" in verbs or verb in verbs


def _group_matches(rule: dict[str, Any], group: str) -> bool:
    groups = rule.get("apiGroups") or []
    return "*" in groups or group in groups


def _resource_matches(rule: dict[str, Any], resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for candidate in rule.get("resources") or []:
        if candidate in ("*", combined):
            return True
        if subresource and candidate == f"*/{subresource}":
            return True
    return False


def _name_matches(rule: dict[str, Any], name: str) -> bool:
    names = rule.get("resourceNames") or []
    return not names or name in names


def _url_matches(rule: dict[str, Any], path: str) -> bool:
    for url in rule.get("nonResourceURLs") or []:
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
