"""The create-only virtual kinds: TokenRequest and the self-subject reviews.

Each takes the decoded request body and returns the reply object; nothing here is stored. Behaviour
follows ``pkg/registry/core/serviceaccount/storage/token.go`` and the authorization registries.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

from kymaprov.kubeapi import tokens
from kymaprov.kubeapi.errors import BadRequest, Conflict, Invalid
from kymaprov.kubeapi.objects import ObjectStore
from kymaprov.kubeapi.rbac import Attributes, Authorizer, UserInfo
from kymaprov.kubeapi.resources import PODS, SECRETS, SERVICE_ACCOUNTS
from kymaprov.kubeapi.times import rfc3339

AUTHN = "authentication.k8s.io"
AUTHZ = "authorization.k8s.io"


def _object(body: Any, kind: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest(f'{kind} in version "v1" cannot be handled as a {kind}: expected a JSON object')
    return body


def _spec(body: dict[str, Any], kind: str) -> dict[str, Any]:
    spec = body.get("spec") or {}
    if not isinstance(spec, dict):
        raise BadRequest(
            f'{kind} in version "v1" cannot be handled as a {kind}: json: cannot unmarshal '
            f"{type(spec).__name__} into Go struct field {kind}.spec"
        )
    return spec


def token_request(
    store: ObjectStore,
    key: EllipticCurvePrivateKey,
    namespace: str,
    name: str,
    body: Any,
    max_expiration: int = 0,
) -> dict[str, Any]:
    """Issue a bound token for ServiceAccount ``namespace/name`` (the ``serviceaccounts/token`` POST).

    A valid ``expirationSeconds`` above ``max_expiration`` (if set) is shortened to it, as
    kube-apiserver's ``--service-account-max-token-expiration`` does: still a 201, the reply's
    ``spec.expirationSeconds`` and ``status.expirationTimestamp`` tell the client.
    """
    kind = "TokenRequest"
    spec = dict(_spec(_object(body, kind), kind))
    account = store.get(SERVICE_ACCOUNTS, namespace, name)
    audiences = spec.get("audiences") or list(tokens.API_AUDIENCES)
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise BadRequest(
            'TokenRequest in version "v1" cannot be handled as a TokenRequest: '
            "spec.audiences must be a list of strings"
        )
    seconds = spec.get("expirationSeconds")
    if seconds is None:
        seconds = tokens.DEFAULT_EXPIRATION
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise BadRequest(
            'TokenRequest in version "v1" cannot be handled as a TokenRequest: json: cannot unmarshal '
            "string into Go struct field TokenRequestSpec.spec.expirationSeconds of type int64"
        )
    if seconds < tokens.MIN_EXPIRATION:
        raise _invalid_expiration(seconds, "may not specify a duration less than 10 minutes")
    if seconds > tokens.MAX_EXPIRATION:
        raise _invalid_expiration(seconds, "may not specify a duration larger than 2^32 seconds")
    if max_expiration > 0:
        seconds = min(seconds, max_expiration)
    bound = _bound_object(store, namespace, name, spec.get("boundObjectRef"))
    token, expires = tokens.issue(
        key,
        namespace=namespace,
        name=name,
        uid=account["metadata"]["uid"],
        audiences=audiences,
        now=store.now,
        expiration_seconds=seconds,
        bound=bound,
    )
    spec["audiences"] = audiences
    spec["expirationSeconds"] = seconds
    spec.setdefault("boundObjectRef", None)
    return {
        "kind": kind,
        "apiVersion": f"{AUTHN}/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": rfc3339(store.now)},
        "spec": spec,
        "status": {"token": token, "expirationTimestamp": rfc3339(expires)},
    }


def _invalid_expiration(seconds: int, why: str) -> Invalid:
    cause = ("spec.expirationSeconds", "FieldValueInvalid", f"Invalid value: {seconds}: {why}")
    return Invalid("TokenRequest", AUTHN, "", [cause])


def _bound_object(store: ObjectStore, namespace: str, account: str, ref: Any) -> dict[str, dict[str, str]]:
    if not ref:
        return {}
    if not isinstance(ref, dict):
        raise BadRequest("spec.boundObjectRef must be an object")
    kind, name, uid = ref.get("kind"), str(ref.get("name", "")), ref.get("uid")
    if kind == "Pod":
        obj = store.get(PODS, namespace, name)
        running_as = (obj.get("spec") or {}).get("serviceAccountName", "default")
        if running_as != account:
            raise BadRequest(
                f'cannot bind token for serviceaccount "{account}" '
                f'to pod running with serviceaccount "{running_as}"'
            )
    elif kind == "Secret":
        obj = store.get(SECRETS, namespace, name)
    else:
        supported = f'Unsupported value: "{kind}": supported values: "Pod", "Secret"'
        cause = ("spec.boundObjectRef.kind", "FieldValueNotSupported", supported)
        raise Invalid("TokenRequest", AUTHN, "", [cause])
    actual = obj["metadata"]["uid"]
    if uid and uid != actual:
        raise Conflict(
            f"the UID in the bound object reference ({uid}) does not match the UID in record. "
            "The object might have been deleted and then recreated"
        )
    return {kind.lower(): {"name": name, "uid": actual}}


def access_review(authorizer: Authorizer, user: UserInfo, body: Any) -> dict[str, Any]:
    kind = "SelfSubjectAccessReview"
    body = _object(body, kind)
    spec = _spec(body, kind)
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if bool(resource) == bool(non_resource):
        message = "exactly one of nonResourceAttributes or resourceAttributes must be specified"
        cause = ("spec.resourceAttributes", "FieldValueInvalid", f'Invalid value: "null": {message}')
        raise Invalid(kind, AUTHZ, "", [cause])
    if resource:
        if not isinstance(resource, dict):
            raise BadRequest("spec.resourceAttributes must be an object")
        attrs = Attributes(
            verb=str(resource.get("verb", "")),
            namespace=str(resource.get("namespace", "")),
            api_group=str(resource.get("group", "")),
            api_version=str(resource.get("version", "")),
            resource=str(resource.get("resource", "")),
            subresource=str(resource.get("subresource", "")),
            name=str(resource.get("name", "")),
        )
    else:
        if not isinstance(non_resource, dict):
            raise BadRequest("spec.nonResourceAttributes must be an object")
        attrs = Attributes(
            verb=str(non_resource.get("verb", "")),
            resource_request=False,
            path=str(non_resource.get("path", "")),
        )
    decision = authorizer.authorize(user, attrs)
    status: dict[str, Any] = {"allowed": decision.allowed}
    if decision.reason:
        status["reason"] = decision.reason
    return {
        "kind": kind,
        "apiVersion": f"{AUTHZ}/v1",
        "metadata": {"creationTimestamp": None},
        "spec": spec,
        "status": status,
    }


def rules_review(authorizer: Authorizer, user: UserInfo, body: Any) -> dict[str, Any]:
    kind = "SelfSubjectRulesReview"
    spec = _spec(_object(body, kind), kind)
    namespace = spec.get("namespace") or ""
    if not isinstance(namespace, str):
        raise BadRequest("spec.namespace must be a string")
    resource_rules, url_rules = authorizer.rules(user, namespace)
    return {
        "kind": kind,
        "apiVersion": f"{AUTHZ}/v1",
        "metadata": {"creationTimestamp": None},
        "spec": spec,
        "status": {"resourceRules": resource_rules, "nonResourceRules": url_rules, "incomplete": False},
    }


def subject_review(user: UserInfo, body: Any) -> dict[str, Any]:
    _object(body, "SelfSubjectReview")
    info: dict[str, Any] = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        info["uid"] = user.uid
    if user.extra:
        info["extra"] = user.extra
    return {
        "kind": "SelfSubjectReview",
        "apiVersion": f"{AUTHN}/v1",
        "metadata": {"creationTimestamp": None},
        "status": {"userInfo": info},
    }
