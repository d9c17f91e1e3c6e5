"""The HTTP layer of the embedded Kubernetes API: every cluster under ``/clusters/<id>``.

Thin on purpose: it turns a Starlette request into a ``KubeRequest``, lets ``KubeApi`` authenticate,
authorize and dispatch to the domain modules inside one transaction, and renders the result (JSON,
Tables, aggregated discovery, watch streams). Every error leaves as a ``Status``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from kymaprov import strictjson
from kymaprov.context import Context
from kymaprov.kubeapi import (
    bodies,
    changes,
    crds,
    deletion,
    discovery,
    fieldmanager,
    lists,
    openapi_v2_proto,
    pods,
    protobuf,
    rbac,
    requestinfo,
    resources,
    reviews,
    schemas,
    tables,
    tls,
    trim,
)
from kymaprov.kubeapi.auth import Authenticator
from kymaprov.kubeapi.errors import (
    BadRequest,
    InternalError,
    KubeError,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    RequestEntityTooLarge,
    ServerTimeout,
    UnsupportedMediaType,
)
from kymaprov.kubeapi.models import clusters
from kymaprov.kubeapi.objects import PATCH_TYPES, ObjectStore
from kymaprov.kubeapi.rbac import Authorizer, UserInfo
from kymaprov.kubeapi.requestinfo import RequestInfo
from kymaprov.kubeapi.resources import ResourceType
from kymaprov.kubeapi.selectors import matcher
from kymaprov.kubeapi.strategies import strategy_for
from kymaprov.kubeapi.watch import Watch
from kymaprov.store import Query
from kymaprov.web import InvalidJSON, bearer_token, parse_json, read_limited_body

log = logging.getLogger("kymaprov.kubeapi")

JSON = "application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"
_BODY_TYPES = f"{JSON}, application/yaml, {PROTOBUF}"
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_NOT_ALLOWED = "the server does not allow this method on the requested resource"
WATCH_REAUTH_SECONDS = 1.0
# the storage operation a verb is, in the API server's ServerTimeout ("The list operation against ...")
STORAGE_OPERATIONS = {"list": "list", "watch": "list", "patch": "update", "deletecollection": "delete"}
BOOKMARK_SECONDS = 60.0  # kube-apiserver's cacher sends bookmarks about once a minute
FOLLOW_POLL_SECONDS = 1.0  # how often a followed log checks whether its container still runs
_SIGNING_KEY = Query(sa.select(clusters.c.sa_signing_key).where(clusters.c.id == sa.bindparam("cluster")))


@dataclass(frozen=True)
class KubeRequest:
    cluster_id: str
    method: str
    path: str  # within the cluster, e.g. /api/v1/namespaces
    query: dict[str, str]
    accept: str = ""
    content_type: str = ""
    token: str | None = None
    body: bytes = b""
    impersonate_user: str = ""
    impersonate_groups: tuple[str, ...] = ()
    impersonate_uid: str = ""
    user_agent: str = ""
    text_lists: bool = False  # a JSON list may answer ``lists.JsonList`` (the HTTP layer renders it)


@dataclass
class KubeResponse:
    status: int
    body: Any
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # sent as ``Warning: 299 - "..."`` headers


@dataclass
class WatchStream:
    """An authorized watch: initial events plus the state to poll for more.

    ``request`` and ``info`` are kept to authenticate and authorize again while streaming: a watch
    ends once its token expires or its binding is revoked.
    """

    watch: Watch
    initial: list[tuple[str, dict[str, Any]]]
    table: str | None
    timeout: float
    bookmarks: bool
    request: KubeRequest
    info: RequestInfo


class _DryRun(Exception):
    def __init__(self, result: Any) -> None:
        super().__init__("dry run")
        self.result = result


def _true(value: str | None) -> bool:
    return value in ("1", "t", "T", "TRUE", "true", "True")


def _media(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


class KubeApi:
    """Serves one request end to end; the only place that knows HTTP status codes for success."""

    def __init__(self, ctx: Context, authenticator: Authenticator) -> None:
        self.ctx = ctx
        self.authenticator = authenticator

    def handle(self, req: KubeRequest) -> KubeResponse | WatchStream:
        info = None
        try:
            info = requestinfo.parse(req.method, req.path, req.query)
            if not info.resource_request:
                return self._non_resource(req, info)
            result = self._resource(req, info)
        except sa.exc.OperationalError as exc:  # the database is unreachable, or rolled this one back
            log.warning("embedded Kubernetes API: %s %s: %s", req.method, req.path, _cause(exc))
            assert info is not None  # parsing the request reads no database
            error = _storage_failed(info)
            result = KubeResponse(error.code, error.status(), headers=_retry_after(error))
        except KubeError as exc:
            result = KubeResponse(exc.code, exc.status(), headers=_retry_after(exc))
        except RecursionError:  # bodies are at most 100 levels deep; should anything still recurse too far
            log.warning("embedded Kubernetes API: %s %s nested too deeply", req.method, req.path)
            return KubeResponse(400, BadRequest("the object is nested too deeply").status())
        except Exception:
            log.exception("embedded Kubernetes API: %s %s failed", req.method, req.path)
            return KubeResponse(500, InternalError("an internal error occurred").status())
        return result if isinstance(result, WatchStream) else _negotiate(req.accept, result)

    # --- authentication and authorization ---------------------------------------------------------

    def _authorize(self, conn: Any, req: KubeRequest, info: RequestInfo) -> tuple[UserInfo, ObjectStore]:
        now = self.ctx.clock.now()
        user = self.authenticator.authenticate(conn, req.cluster_id, req.token, now)
        store = ObjectStore(conn, req.cluster_id, now, self.ctx.sealer)
        if req.impersonate_user or req.impersonate_groups or req.impersonate_uid:
            user = self._impersonate(store, user, req)
        attrs = info.attributes()
        decision = Authorizer(store).authorize(user, attrs)
        if not decision.allowed:
            raise rbac.forbidden(user, attrs, decision.reason)
        return user, store

    @staticmethod
    def _impersonate(store: ObjectStore, user: UserInfo, req: KubeRequest) -> UserInfo:
        if not req.impersonate_user:
            raise BadRequest("impersonating groups or a uid requires impersonating a user")
        groups = list(req.impersonate_groups)
        for attrs in rbac.impersonation_checks(req.impersonate_user, groups, req.impersonate_uid):
            decision = Authorizer(store).authorize(user, attrs)
            if not decision.allowed:
                raise rbac.forbidden(user, attrs, decision.reason)
        return rbac.impersonated(req.impersonate_user, groups, req.impersonate_uid)

    def _read(self, req: KubeRequest, info: RequestInfo, fn: Callable[[ObjectStore, UserInfo], Any]) -> Any:
        with self.ctx.store.read() as conn:
            user, store = self._authorize(conn, req, info)
            return fn(store, user)

    def _write(
        self,
        req: KubeRequest,
        info: RequestInfo,
        fn: Callable[[ObjectStore, UserInfo], Any],
        body: Any = None,
        validation: schemas.FieldValidation | None = None,
        dry_run: bool = False,
    ) -> Any:
        dry_run = dry_run or req.query.get("dryRun") == "All"
        try:
            with self.ctx.store.write() as conn:
                user, store = self._authorize(conn, req, info)
                if validation is not None:
                    store.validation = validation
                store.dry_run = dry_run
                guard = None
                if info.verb in ("create", "update", "patch"):
                    guard = rbac.escalation_guard(store, user, info.attributes())
                if guard is not None and body is not None:
                    guard.check(body)
                result = fn(store, user)
                if guard is not None:
                    guard.check(result[0] if isinstance(result, tuple) else result)
                if dry_run:
                    raise _DryRun(result)
        except _DryRun as dry:
            result = dry.result
        return result

    # --- non-resource paths (discovery, version, OpenAPI, health) ---------------------------------

    def _non_resource(self, req: KubeRequest, info: RequestInfo) -> KubeResponse:
        path = info.path.rstrip("/") or "/"
        parts = [p for p in path.split("/") if p]
        needs_registry = parts[:1] in (["api"], ["apis"], ["openapi"]) or path == "/"
        registry = self._read(req, info, lambda store, user: crds.registry(store) if needs_registry else None)
        if req.method not in ("GET", "HEAD"):
            raise MethodNotAllowed(_NOT_ALLOWED)
        aggregated = discovery.wants_aggregated(req.accept)
        body: Any = None
        if path == "/":
            body = {"paths": self._root_paths(registry)}
        elif path == "/version":
            body = discovery.VERSION_INFO
        elif path in ("/healthz", "/livez", "/readyz"):
            return KubeResponse(200, "ok", "text/plain; charset=utf-8")
        elif path in ("/api", "/apis"):
            if aggregated:
                version = "v2" if aggregated == discovery.AGGREGATED_V2 else "v2beta1"
                return KubeResponse(200, discovery.aggregated(path == "/api", version, registry), aggregated)
            if path == "/api":
                settings = self.ctx.settings
                body = discovery.api_versions(f"{settings.public_host}:{settings.kube_port}")
            else:
                body = discovery.api_group_list(registry)
        elif parts[0] == "api" and len(parts) == 2:
            body = discovery.api_resource_list("", parts[1], registry)
        elif parts[0] == "apis" and len(parts) == 2:
            body = discovery.api_group(parts[1], registry)
        elif parts[0] == "apis" and len(parts) == 3:
            body = discovery.api_resource_list(parts[1], parts[2], registry)
        elif path == "/openapi/v2":
            return self._openapi_v2(req, registry)
        elif path == "/openapi/v3":
            body = discovery.openapi_root(registry)
        elif parts[:2] == ["openapi", "v3"]:
            rest = parts[2:]
            if rest[:1] == ["api"] and len(rest) == 2:
                body = discovery.openapi_bytes("", rest[1])
            elif rest[:1] == ["apis"] and len(rest) == 3:
                body = discovery.openapi_for(registry, rest[1], rest[2])
        if body is None:
            raise NotFound.path()
        return KubeResponse(200, body)

    @staticmethod
    def _openapi_v2(req: KubeRequest, registry: resources.Registry) -> KubeResponse:
        """JSON or gnostic protobuf (kubectl 1.27/1.28 apply, diff, edit), 406 for anything else."""
        form = openapi_v2_proto.negotiate(req.accept)
        if form is None:
            return KubeResponse(406, "", "text/plain; charset=utf-8", {"vary": "Accept"})
        body, etag = openapi_v2_proto.served_for(registry)[form]
        content_type = JSON if form == "json" else openapi_v2_proto.PROTOBUF
        return KubeResponse(200, body, content_type, {"etag": etag, "vary": "Accept"})

    @staticmethod
    def _root_paths(registry: resources.Registry) -> list[str]:
        paths = [
            "/api",
            "/api/v1",
            "/apis",
            "/healthz",
            "/livez",
            "/openapi/v2",
            "/openapi/v3",
            "/readyz",
            "/version",
        ]
        for group, versions in registry.group_versions.items():
            if group:
                paths.append(f"/apis/{group}")
                paths += [f"/apis/{group}/{v}" for v in versions]
        return sorted(paths)

    # --- resources --------------------------------------------------------------------------------

    def _resource(self, req: KubeRequest, info: RequestInfo) -> KubeResponse | WatchStream:
        rt = resources.lookup(info.api_group, info.api_version, info.resource)
        if rt is None:  # perhaps a custom resource of this runtime's CRDs
            registry = self._read(req, info, lambda store, user: crds.registry(store))
            rt = registry.lookup(info.api_group, info.api_version, info.resource)
        if rt is None:
            raise NotFound.path()
        parts = info.parts
        # /namespaces/<ns>/... scopes a request, except /namespaces/<name>[/status] (the Namespace itself)
        addresses_namespace = rt is resources.NAMESPACES and parts[1:2] == (info.namespace,)
        in_namespace = bool(info.namespace) and not addresses_namespace
        if len(parts) > 3 or (in_namespace and not rt.namespaced):
            raise NotFound.path()
        if rt.namespaced and not in_namespace and (len(parts) > 1 or info.verb == "create"):
            raise NotFound.path()
        name = parts[1] if len(parts) >= 2 else ""
        sub = parts[2] if len(parts) == 3 else ""
        verb = info.verb
        connector = strategy_for(rt).connector(sub) if sub else None
        if sub:
            subresource = rt.subresource(sub)
            if subresource is None:
                raise NotFound.path()
            if verb not in subresource.verbs or (sub not in _SERVED_SUBRESOURCES and connector is None):
                raise MethodNotAllowed(_NOT_ALLOWED)
        namespace = info.namespace if rt.namespaced else ""
        if connector is not None:
            return self._connect(req, info, connector, pods.Call(verb, namespace, name, req.query))
        if not rt.stored:
            if verb != "create" or name:
                raise MethodNotAllowed(_NOT_ALLOWED)
            return self._review(req, info, rt)
        if sub == "token":
            return self._token(req, info, namespace, name)
        if (verb in ("update", "patch") and len(parts) < 2) or (verb == "create" and len(parts) > 1):
            raise MethodNotAllowed(_NOT_ALLOWED)
        if sub == "scale":
            return self._scale(req, info, rt, namespace, name)
        if verb not in rt.verbs and verb not in ("get", "watch", "list"):
            raise MethodNotAllowed(_NOT_ALLOWED)
        if verb in ("list", "watch") or (verb == "deletecollection"):
            list_namespace = namespace if in_namespace or not rt.namespaced else None
            match = matcher(req.query.get("labelSelector"), req.query.get("fieldSelector"), rt.resource)
            if verb == "watch":
                return self._watch(req, info, rt, list_namespace, match)
            if verb == "deletecollection":
                return self._delete_collection(req, info, rt, list_namespace, match)

            options = lists.parse(req.query)
            selected = bool(req.query.get("labelSelector") or req.query.get("fieldSelector"))
            table = tables.wants_table(req.accept)
            as_text = req.text_lists and not table and _json_reply(req.accept)

            def do_list(store: ObjectStore, user: UserInfo) -> tuple[lists.Page, float]:
                page = lists.read(
                    store, rt, list_namespace, match, options, selected=selected, as_text=as_text
                )
                return page, store.now

            page, now = self._read(req, info, do_list)
            if table:
                rendered = self._table(req, rt, page.items, page.resource_version, now, table)
                rendered["metadata"] = {**rendered.get("metadata", {}), **page.meta()}
                return KubeResponse(200, rendered)
            head = {"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": page.meta()}
            if page.texts is not None:
                return KubeResponse(200, lists.JsonList(head, page.texts))
            return KubeResponse(200, {**head, "items": page.items})
        if verb == "get":
            obj, rv, now = self._read(
                req, info, lambda s, u: (s.get(rt, namespace, name), s.current_rv(), s.now)
            )
            table = tables.wants_table(req.accept)
            if table:
                return KubeResponse(200, self._table(req, rt, [obj], rv, now, table))
            return KubeResponse(200, obj)
        if verb == "create":
            manager = _field_manager(req, "CreateOptions")
            body = self._decode(req, rt)
            check = self._field_validation(req)
            created = self._write(
                req, info, lambda s, u: s.create(rt, namespace, body, manager), body, validation=check
            )
            return KubeResponse(201, created, warnings=check.warnings)
        if verb == "update":
            manager = _field_manager(req, "UpdateOptions")
            body = self._decode(req, rt)
            check = self._field_validation(req)
            updated = self._write(
                req,
                info,
                lambda s, u: s.update(rt, namespace, name, body, sub, manager=manager),
                body,
                validation=check,
            )
            return KubeResponse(200, updated, warnings=check.warnings)
        if verb == "patch":
            patch_type = _media(req.content_type)
            accepted = PATCH_TYPES if rt.custom is None else CUSTOM_PATCH_TYPES
            if patch_type not in accepted:  # custom resources take no strategic merge patch
                raise UnsupportedMediaType(
                    f"the body of the request was in an unknown format - accepted media types include: "
                    f"{', '.join(accepted)}"
                )
            manager, force = _patch_options(req, patch_type)
            body = self._parse(req.body, yaml_ok=patch_type == "application/apply-patch+yaml")
            check = self._field_validation(req)
            obj, created = self._write(
                req,
                info,
                lambda s, u: s.patch(rt, namespace, name, patch_type, body, sub, manager, force),
                validation=check,
            )
            return KubeResponse(201 if created else 200, obj, warnings=check.warnings)
        if verb == "delete":
            delete_options = self._delete_options(req)
            obj, gone = self._write(
                req,
                info,
                lambda s, u: s.delete(rt, namespace, name, delete_options),
                dry_run=delete_options.dry_run,
            )
            if not gone:  # kept for its finalizers: the object as marked; 202 only as kube answers it
                return KubeResponse(202 if delete_options.orphan_dependents is False else 200, obj)
            if rt.returns_deleted_object:
                return KubeResponse(200, obj)
            return KubeResponse(200, _success(rt, obj))
        raise MethodNotAllowed(_NOT_ALLOWED)

    def _connect(
        self, req: KubeRequest, info: RequestInfo, connector: pods.Connector, call: pods.Call
    ) -> KubeResponse:
        """A connect subresource (a pod's ``log``, ``exec``, ``binding``): the strategy's function."""
        if connector.writes:
            call = replace(call, body=self._parse(req.body, yaml_ok=False) if req.body.strip() else None)
            answer = self._write(req, info, lambda s, u: connector.run(s, call))
        else:
            answer = self._read(req, info, lambda s, u: connector.run(s, call))
        if answer.keep_open is None:
            return KubeResponse(answer.status, answer.body, answer.content_type)
        keep_open = answer.keep_open

        def stream() -> Iterator[bytes]:
            yield str(answer.body).encode()
            while True:
                time.sleep(FOLLOW_POLL_SECONDS)
                with self.ctx.store.read() as conn:
                    fresh = ObjectStore(conn, req.cluster_id, self.ctx.clock.now(), self.ctx.sealer)
                    if not keep_open(fresh):
                        return

        return KubeResponse(answer.status, stream(), answer.content_type)

    def _scale(
        self, req: KubeRequest, info: RequestInfo, rt: ResourceType, namespace: str, name: str
    ) -> KubeResponse:
        if info.verb == "get":
            return KubeResponse(200, self._read(req, info, lambda s, u: s.scale(rt, namespace, name)))
        if info.verb == "update":
            manager = _field_manager(req, "UpdateOptions")
            body = self._decode(req, None, "Scale")
            return KubeResponse(
                200,
                self._write(req, info, lambda s, u: s.set_scale(rt, namespace, name, body, manager=manager)),
            )
        if info.verb == "patch":
            patch_type = _media(req.content_type)
            manager, _ = _patch_options(req, patch_type)
            body = self._parse(req.body, yaml_ok=patch_type == "application/apply-patch+yaml")
            result = self._write(
                req, info, lambda s, u: s.set_scale(rt, namespace, name, body, patch_type, manager)
            )
            return KubeResponse(200, result)
        raise MethodNotAllowed(_NOT_ALLOWED)

    def _table(
        self,
        req: KubeRequest,
        rt: ResourceType,
        items: list[dict[str, Any]],
        rv: int,
        now: float,
        version: str,
    ) -> dict[str, Any]:
        include = req.query.get("includeObject", "Metadata")
        return tables.to_table(rt, items, str(rv), now, version=version, include_object=include)

    def _delete_collection(
        self, req: KubeRequest, info: RequestInfo, rt: ResourceType, namespace: str | None, match: Any
    ) -> KubeResponse:
        options = self._delete_options(req)

        def run(store: ObjectStore, user: UserInfo) -> dict[str, Any]:
            items = store.delete_collection(rt, namespace, match, options)
            return {
                "kind": f"{rt.kind}List",
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(store.current_rv())},
                "items": items,
            }

        return KubeResponse(200, self._write(req, info, run, dry_run=options.dry_run))

    def _delete_options(self, req: KubeRequest) -> deletion.DeleteOptions:
        """The body's DeleteOptions (JSON, as kubectl and client-go send them), else the query's."""
        body = self._parse(req.body, yaml_ok=False) if req.body.strip() else None
        return deletion.parse(body, req.query)

    def _token(self, req: KubeRequest, info: RequestInfo, namespace: str, name: str) -> KubeResponse:
        body = self._decode(req, None, "TokenRequest")

        def run(store: ObjectStore, user: UserInfo) -> dict[str, Any]:
            sealed = _SIGNING_KEY.fetch(store.conn, {"cluster": req.cluster_id})[0]["sa_signing_key"]
            key = self.authenticator.signing_key(req.cluster_id, sealed)
            max_expiration = self.ctx.settings.service_account_max_token_expiration
            return reviews.token_request(store, key, namespace, name, body, max_expiration)

        return KubeResponse(201, self._write(req, info, run))

    def _review(self, req: KubeRequest, info: RequestInfo, rt: ResourceType) -> KubeResponse:
        review = _REVIEWS.get(rt.kind)
        if review is None:  # TokenReview, SubjectAccessReview, Binding: listed, not served here
            raise MethodNotAllowed(_NOT_ALLOWED)
        body = self._decode(req, None, rt.kind)
        return KubeResponse(201, self._read(req, info, lambda store, user: review(store, user, body)))

    def _watch(
        self, req: KubeRequest, info: RequestInfo, rt: ResourceType, namespace: str | None, match: Any
    ) -> WatchStream:
        watch = Watch(self.ctx, req.cluster_id, rt, namespace, match)
        send_initial = _true(req.query.get("sendInitialEvents"))
        rv = req.query.get("resourceVersion", "")
        initial = self._read(req, info, lambda store, user: watch.start(store, rv, send_initial))
        return WatchStream(
            watch,
            initial,
            tables.wants_table(req.accept),
            self._watch_timeout(req.query.get("timeoutSeconds") or "0"),
            _true(req.query.get("allowWatchBookmarks")),
            req,
            info,
        )

    def _watch_timeout(self, value: str) -> float:
        """Seconds a watch lasts: ``timeoutSeconds`` capped at ``--min-request-timeout``, by default
        a random duration in [cap, 2*cap) as kube-apiserver picks one, so watchers do not reconnect
        all at once."""
        cap = self.ctx.settings.min_request_timeout
        try:
            seconds = int(value)
        except ValueError as exc:
            raise BadRequest(f'invalid timeoutSeconds: "{value}": must be an integer') from exc
        if seconds < 0:
            raise BadRequest(f"invalid timeoutSeconds: {seconds}: must not be negative")
        if seconds == 0:
            return cap * (1.0 + random.random())
        return float(min(seconds, cap))

    def _reauthorize(self, ws: WatchStream) -> None:
        """Raise ``KubeError`` unless the watch's credential still authenticates and is authorized."""
        self._read(ws.request, ws.info, lambda store, user: None)

    # --- bodies -----------------------------------------------------------------------------------

    @staticmethod
    def _field_validation(req: KubeRequest) -> schemas.FieldValidation:
        """The request's ``fieldValidation``, with the fields a JSON body gives twice."""
        check = schemas.FieldValidation.parse(req.query.get("fieldValidation"))
        if check.directive != "Ignore" and _media(req.content_type) in ("", JSON, *PATCH_TYPES[1:3]):
            check.duplicates = strictjson.duplicate_keys(req.body)
        return check

    def _decode(self, req: KubeRequest, rt: ResourceType | None, kind: str = "") -> Any:
        media = _media(req.content_type)
        if media == PROTOBUF and rt is not None and rt.custom is not None:  # CRs have no protobuf form
            raise UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types include: "
                f"{JSON}, application/yaml"
            )
        if media == PROTOBUF:
            return bodies.checked(protobuf.decode_request(req.body, rt.kind if rt else kind))
        if media not in ("", JSON, "application/yaml", "*/*"):
            raise UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types include: "
                + _BODY_TYPES
            )
        return self._parse(req.body, yaml_ok=media == "application/yaml")

    @staticmethod
    def _parse(raw: bytes, *, yaml_ok: bool) -> Any:
        if not raw.strip():
            raise BadRequest("the body of the request was empty")
        if yaml_ok:
            return bodies.checked(bodies.load_yaml(raw))
        try:
            return bodies.checked(parse_json(raw, allow_nul=True))
        except InvalidJSON as exc:
            raise BadRequest(f"couldn't get version/kind; json parse error: {exc}") from exc

    # --- watch streaming --------------------------------------------------------------------------

    async def stream(self, ws: WatchStream) -> AsyncIterator[bytes]:
        """The watch's events: the initial ones, then the log's whenever the cluster's hub rings.

        The watch sleeps until the hub rings (a write to its cluster, or the cluster is gone), its
        bookmark or end is due, or its token's ``exp`` passes on the service clock (advancing the
        clock here rings too): an idle watch does not wake up. Its credential is checked again, at
        most once per ``WATCH_REAUTH_SECONDS``, only once it could have changed (the cluster was
        written or is gone, or the token expired), so a revoked or expired credential ends the watch
        within about a second.
        """
        headers = True

        def line(kind: str, obj: dict[str, Any]) -> bytes:
            nonlocal headers
            if ws.table and kind not in ("BOOKMARK", "ERROR"):
                obj = tables.to_table(
                    ws.watch.rt,
                    [obj],
                    obj["metadata"].get("resourceVersion", ""),
                    self.ctx.clock.now(),
                    version=ws.table,
                    headers=headers,
                )
                headers = False
            return (json.dumps({"type": kind, "object": obj}) + "\n").encode()

        for kind, obj in ws.initial:
            yield line(kind, obj)
        if ws.watch.ended:
            return
        hub = changes.hub(self.ctx.store.engine)
        cluster_id = ws.request.cluster_id
        expires = _token_expiry(ws.request.token)
        authorized_at = ws.watch.authorized_at
        start = time.monotonic()
        deadline = start + ws.timeout
        next_bookmark = start + BOOKMARK_SECONDS if ws.bookmarks else math.inf
        next_auth = start + WATCH_REAUTH_SECONDS
        recheck = False  # the credential could have changed since it was last checked
        with contextlib.ExitStack() as stack:
            bell = stack.enter_context(hub.subscribe(cluster_id))
            if expires < math.inf:
                stack.callback(self.ctx.clock.listen(bell.ring))
            rung = True  # read once right away: writes may have landed since the initial events
            while True:
                try:
                    seen = hub.seen(cluster_id)
                    recheck = recheck or seen > authorized_at or seen == changes.GONE
                    recheck = recheck or self.ctx.clock.now() >= expires
                    if recheck and time.monotonic() >= next_auth:
                        next_auth = time.monotonic() + WATCH_REAUTH_SECONDS
                        recheck = False
                        authorized_at = max(seen, authorized_at)
                        await run_in_threadpool(self._reauthorize, ws)
                    events = await run_in_threadpool(ws.watch.poll) if rung else []
                except KubeError:
                    return  # the cluster is gone, or the token expired or was revoked: next is a 401
                except Exception:
                    log.exception("embedded Kubernetes API: a watch of %s failed", ws.watch.rt.resource)
                    return
                for kind, obj in events:
                    yield line(kind, obj)
                if ws.watch.ended:
                    return
                now = time.monotonic()
                if now >= next_bookmark:
                    next_bookmark = now + BOOKMARK_SECONDS
                    yield line("BOOKMARK", ws.watch.bookmark())
                if now >= deadline:
                    return
                wake = min(deadline, next_bookmark, next_auth if recheck else math.inf)
                left = expires - self.ctx.clock.now()  # then the token expires: a recheck is due
                rung = await bell.wait(min(wake - now, left) if left > 0 else wake - now)


def _token_expiry(token: str | None) -> float:
    """A bound token's ``exp`` (already verified when the watch began); infinity for other tokens."""
    if not token or token.count(".") != 2:
        return math.inf
    try:
        payload = token.split(".")[1]
        exp = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("exp")
    except (ValueError, AttributeError):
        return math.inf
    return float(exp) if isinstance(exp, int | float) else math.inf


def _field_manager(req: KubeRequest, options: str) -> str:
    """The write's field manager: ``fieldManager``, else the User-Agent's product (``managerOrUserAgent``)."""
    given = req.query.get("fieldManager", "")
    causes = fieldmanager.manager_causes(given)
    if causes:
        raise fieldmanager.options_error(options, causes)
    return given or fieldmanager.manager_from_user_agent(req.user_agent)


def _patch_options(req: KubeRequest, patch_type: str) -> tuple[str, bool]:
    """``ValidatePatchOptions``: apply needs a fieldManager; ``force`` is for apply only."""
    apply = patch_type == "application/apply-patch+yaml"
    causes: list[tuple[str, str, str]] = []
    if not apply and "force" in req.query:
        causes.append(("force", "FieldValueForbidden", "Forbidden: may not be specified for non-apply patch"))
    if apply and not req.query.get("fieldManager"):
        causes.append(("fieldManager", "FieldValueRequired", "Required value: is required for apply patch"))
    causes += fieldmanager.manager_causes(req.query.get("fieldManager", ""))
    if causes:
        raise fieldmanager.options_error("PatchOptions", causes)
    return _field_manager(req, "PatchOptions"), _true(req.query.get("force"))


_SERVED_SUBRESOURCES = ("status", "scale", "token", "finalize")
_JSON_MEDIA = (JSON, "*/*", "application/*", "application/yaml")
CUSTOM_PATCH_TYPES = tuple(t for t in PATCH_TYPES if t != "application/strategic-merge-patch+json")

_REVIEWS: dict[str, Callable[[ObjectStore, UserInfo, Any], dict[str, Any]]] = {
    "SelfSubjectAccessReview": lambda store, user, body: reviews.access_review(Authorizer(store), user, body),
    "SelfSubjectRulesReview": lambda store, user, body: reviews.rules_review(Authorizer(store), user, body),
    "SelfSubjectReview": lambda store, user, body: reviews.subject_review(user, body),
}


def _success(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    details: dict[str, Any] = {"name": meta["name"]}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.resource
    details["uid"] = meta.get("uid", "")
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def _accepted(accept: str) -> list[tuple[str, dict[str, str]]]:
    """Accept's media types, most preferred first: by q, then in the order given (goautoneg)."""
    clauses = []
    for index, part in enumerate(accept.split(",")):
        media, *raw_params = (p.strip() for p in part.split(";"))
        params = dict(p.partition("=")[::2] for p in raw_params if "=" in p)
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 1.0
        if media and q > 0:
            clauses.append((-q, index, media.lower(), params))
    return [(media, params) for _, _, media, params in sorted(clauses)]


def _json_reply(accept: str) -> bool:
    """Whether ``_negotiate`` answers JSON whatever the body: no protobuf is preferred to JSON."""
    for media, params in _accepted(accept):
        if media in _JSON_MEDIA:
            return True
        if media == PROTOBUF and not params.get("as"):
            return False
    return True


def _negotiate(accept: str, result: KubeResponse) -> KubeResponse:
    """JSON or protobuf, the first acceptable of the client's choices, as kube-apiserver negotiates.

    Protobuf is served only where ``protobuf.encode_reply`` covers the object fully; a client that
    accepts nothing else gets 406 otherwise, as kube answers for custom resources. Types this server
    does not know still get JSON, as before."""
    if result.content_type != JSON or not isinstance(result.body, dict):
        return result
    wanted_protobuf = False
    for media, params in _accepted(accept):
        if media in _JSON_MEDIA:
            return result
        if media == PROTOBUF and not params.get("as"):
            wanted_protobuf = True
            encoded = protobuf.encode_reply(result.body)
            if encoded is not None:
                return replace(result, body=encoded, content_type=PROTOBUF)
    if not wanted_protobuf:
        return result
    kind = result.body.get("kind", "")
    return KubeResponse(
        406,
        NotAcceptable(
            f"only the following media types are accepted: {JSON}, application/yaml"
            f" (no protobuf form for {kind})"
        ).status(),
    )


def _render(result: KubeResponse) -> Response:
    headers = {"cache-control": "no-cache, private", **result.headers}
    if isinstance(result.body, str | bytes):
        return Response(result.body, result.status, headers=headers, media_type=result.content_type)
    if isinstance(result.body, lists.JsonList):
        content = result.body.render()
    else:
        content = json.dumps(result.body, separators=(",", ":")).encode()
    response = Response(content, result.status, headers=headers)
    response.headers["content-type"] = result.content_type
    for warning in result.warnings:  # RFC 7234 warn-code 299, as kube-apiserver sends them
        text = warning.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.append("warning", f'299 - "{text}"')
    return response


MAX_REQUEST_BYTES = 3 * 1024 * 1024  # kube-apiserver's limit for a request body


def create_app(ctx: Context, authenticator: Authenticator) -> Starlette:
    """The ASGI app serving every embedded cluster (served by ``EmbeddedRuntimes.configure_server``)."""
    api = KubeApi(ctx, authenticator)
    trim.limit_arenas()
    trimmer = trim.Trimmer()

    async def serve(request: Request, cluster_id: str, path: str) -> Response:
        body = await read_limited_body(request, MAX_REQUEST_BYTES)
        if body is None:
            too_large = RequestEntityTooLarge(f"Request entity too large: limit is {MAX_REQUEST_BYTES}")
            return _render(KubeResponse(413, too_large.status()))
        req = KubeRequest(
            cluster_id=cluster_id,
            method=request.method,
            path="/" + path,
            query=dict(request.query_params),
            accept=request.headers.get("accept", ""),
            content_type=request.headers.get("content-type", ""),
            token=bearer_token(request),
            body=body,
            impersonate_user=request.headers.get("impersonate-user", ""),
            impersonate_groups=tuple(request.headers.getlist("impersonate-group")),
            impersonate_uid=request.headers.get("impersonate-uid", ""),
            user_agent=request.headers.get("user-agent", ""),
            text_lists=True,
        )
        result = await run_in_threadpool(api.handle, req)
        if isinstance(result, WatchStream):
            return StreamingResponse(
                api.stream(result), media_type=JSON, headers={"cache-control": "no-cache, private"}
            )
        if isinstance(result.body, Iterator):  # a followed log
            return StreamingResponse(
                result.body, media_type=result.content_type, headers={"cache-control": "no-cache, private"}
            )
        response = _render(result)
        trimmer.replied(len(response.body))
        return response

    async def endpoint(request: Request) -> Response:
        return await serve(request, request.path_params["cluster_id"], request.path_params.get("path", ""))

    async def by_server_name(request: Request) -> Response:
        """A path without ``/clusters/<id>`` (``kubectl proxy`` drops it): the cluster the connection's
        SNI named, else 404."""
        cluster_id = tls.sni_cluster(request.scope)
        if cluster_id is None:
            return _render(KubeResponse(404, NotFound.path().status()))
        return await serve(request, cluster_id, request.path_params.get("path", ""))

    routes = [
        Route("/clusters/{cluster_id}", endpoint, methods=_METHODS),
        Route("/clusters/{cluster_id}/{path:path}", endpoint, methods=_METHODS),
        Route("/{path:path}", by_server_name, methods=_METHODS),
    ]
    return Starlette(routes=routes)


def _storage_failed(info: RequestInfo) -> ServerTimeout:
    """The API server's answer when etcd cannot be reached, for the request's resource and verb."""
    return ServerTimeout(STORAGE_OPERATIONS.get(info.verb, info.verb), info.resource, info.api_group)


def _retry_after(error: KubeError) -> dict[str, str]:
    """``Retry-After`` for a Status with ``retryAfterSeconds``, as the API server sends it."""
    seconds = (error.details or {}).get("retryAfterSeconds")
    return {"retry-after": str(seconds)} if seconds else {}


def _cause(exc: sa.exc.DBAPIError) -> str:
    """The driver error's class: its message may name the database server."""
    return type(exc.orig).__name__
