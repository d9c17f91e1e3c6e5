"""Lists as kube-apiserver serves them: ``limit``/``continue`` pages of one consistent snapshot,
``resourceVersion`` and ``resourceVersionMatch``.

Every page of a paged list is read as of the first page's resourceVersion (``ObjectStore.list_at``
undoes newer writes from the change log), so a list's pages never show an object twice or miss
one that existed throughout. The continue token is kube's own: base64url (no padding) of
``{"v":"meta.k8s.io/v1","rv":N,"start":"<key>\\u0000"}``. Once the log no longer reaches back to a
token's version the page is a 410 ``Expired`` whose Status carries a token to continue inconsistently
(version -1: the latest), as ``etcd3/errors.go`` answers.
"""

from __future__ import annotations

import base64
import binascii
import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kymaprov.kubeapi.errors import BadRequest, Expired, Invalid, KubeError
from kymaprov.kubeapi.objects import Matcher, ObjectStore
from kymaprov.kubeapi.resources import ResourceType

TOKEN_VERSION = "meta.k8s.io/v1"
LIST_TOO_OLD = "The resourceVersion for the provided list is too old."
CONTINUE_TOO_OLD = (
    "The provided continue parameter is too old to display a consistent list result. You can start a "
    "new list without the continue parameter, or use the continue token in this response to retrieve "
    "the remainder of the results. Continuing with the provided token results in an inconsistent list - "
    "objects that were created, modified, or deleted between the time the first chunk was returned and "
    "now may show up in the list."
)


class TooLargeResourceVersion(KubeError):
    """504 ``Timeout``: a list at a version the cluster has not reached
    (``NewTooLargeResourceVersionError``)."""

    code = 504
    reason = "Timeout"

    def __init__(self, wanted: int, current: int) -> None:
        super().__init__(
            f"Too large resource version: {wanted}, current: {current}",
            {
                "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                "retryAfterSeconds": 1,
            },
        )


@dataclass(frozen=True)
class ListOptions:
    limit: int  # 0: everything
    resource_version: str
    match: str  # resourceVersionMatch: "", "Exact" or "NotOlderThan"
    token_rv: int  # a continue token's version (-1: the latest); 0 without a token
    start: str  # a continue token's start key; "" for a first page


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]  # empty when ``texts`` holds them
    resource_version: int
    continue_token: str
    remaining: int | None  # metadata.remainingItemCount, when known
    texts: list[str] | None = None  # the items as JSON text, when asked for and no selector applies

    def meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": str(self.resource_version)}
        if self.continue_token:
            meta["continue"] = self.continue_token
        if self.remaining is not None:
            meta["remainingItemCount"] = self.remaining
        return meta


def encode_continue(rv: int, start: str) -> str:
    raw = json.dumps({"v": TOKEN_VERSION, "rv": rv, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    """``storage.DecodeContinue``: the token's version and start key, or a 400."""

    def invalid(why: str) -> BadRequest:
        return BadRequest(f"invalid continue token: continue key is not valid{why}")

    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.b64decode(padded, altchars=b"-_", validate=True))
    except (binascii.Error, ValueError) as exc:
        raise invalid(f": {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("v", ""), str):
        raise invalid(": json: cannot unmarshal into Go value of type storage.continueToken")
    rv, start = data.get("rv", 0), data.get("start", "")
    if not isinstance(rv, int) or isinstance(rv, bool) or not isinstance(start, str):
        raise invalid(": json: cannot unmarshal into Go value of type storage.continueToken")
    if data.get("v", "") != TOKEN_VERSION:
        raise invalid(": server does not recognize this encoded version")
    if rv == 0:
        raise invalid(": incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    if not start:
        raise invalid(": encoded start key empty (version meta.k8s.io/v1)")
    key = start if start.startswith("/") else "/" + start
    if posixpath.normpath(key) != key or key.startswith("//"):
        raise invalid(f": {start}")
    return rv, key[1:]


def parse(query: Mapping[str, str]) -> ListOptions:
    """Read and validate the list options (``ValidateListOptions``: a 422 on ``ListOptions``)."""
    rv = query.get("resourceVersion", "")
    match = query.get("resourceVersionMatch", "")
    token = query.get("continue", "")
    causes: list[tuple[str, str, str]] = []

    def forbid(field: str, why: str) -> None:
        causes.append((field, "FieldValueForbidden", f"Forbidden: {field} {why}"))

    if match:
        if not rv:
            forbid("resourceVersionMatch", "is forbidden unless resourceVersion is provided")
        if token:
            forbid("resourceVersionMatch", "is forbidden when continue is provided")
        if match not in ("Exact", "NotOlderThan"):
            supported = '"Exact", "NotOlderThan", ""'
            causes.append(
                (
                    "resourceVersionMatch",
                    "FieldValueNotSupported",
                    f'Unsupported value: "{match}": supported values: {supported}',
                )
            )
        elif match == "Exact" and rv == "0":
            forbid("resourceVersionMatch", '"exact" is forbidden for resourceVersion "0"')
    if "sendInitialEvents" in query:
        forbid("sendInitialEvents", "is forbidden for list")
    if causes:
        raise Invalid("ListOptions", "meta.k8s.io", "", causes)
    if rv and (not rv.isascii() or not rv.isdigit()):
        raise BadRequest(f'invalid resource version: "{rv}"')
    token_rv, start = 0, ""
    if token:
        if rv not in ("", "0"):
            raise BadRequest("specifying resource version is not allowed when using continue")
        token_rv, start = decode_continue(token)
    try:
        limit = max(int(query.get("limit", "0")), 0)
    except ValueError:
        limit = 0  # as before: an unreadable limit lists everything
    return ListOptions(limit, rv, match, token_rv, start)


def read(
    store: ObjectStore,
    rt: ResourceType,
    namespace: str | None,
    match: Matcher | None,
    opts: ListOptions,
    *,
    selected: bool,
    as_text: bool = False,
) -> Page:
    """One page; ``selected``: a label or field selector applies (kube then omits remainingItemCount);
    ``as_text``: without a selector, the items as JSON text (``Page.texts``) for a JSON reply."""
    current = store.current_rv()
    at = current
    if opts.token_rv:
        if opts.token_rv > 0:
            at = opts.token_rv
            if at > current:
                raise BadRequest("invalid continue token: continue key is not valid: a future version")
            if at < store.compaction_point():
                raise Expired(CONTINUE_TOO_OLD, encode_continue(-1, opts.start))
    elif opts.resource_version not in ("", "0"):
        wanted = int(opts.resource_version)
        if wanted > current:
            raise TooLargeResourceVersion(wanted, current)
        if opts.match == "Exact" or (not opts.match and opts.limit):  # kube's legacy: a version plus a limit
            at = wanted
            if at < store.compaction_point():
                raise Expired(LIST_TOO_OLD)
    texts: list[str] | None = None
    items: list[dict[str, Any]] = []
    if as_text and match is None:
        texts, last, rest = store.list_texts_at(rt, namespace, at, opts.start, opts.limit)
    else:
        items, last, rest = store.list_at(rt, namespace, match, at, opts.start, opts.limit)
    token = encode_continue(at, last + "\x00") if last else ""
    return Page(items, at, token, rest if last and not selected else None, texts)


@dataclass(frozen=True)
class JsonList:
    """A list reply whose items are JSON text already: rendered by joining them, not by parsing and
    re-encoding a thousand objects (``_dump`` wrote them as a reply renders them)."""

    head: dict[str, Any]  # kind, apiVersion, metadata
    texts: list[str]

    def render(self) -> bytes:
        head = json.dumps(self.head, separators=(",", ":"))
        return b"".join((head[:-1].encode(), b',"items":[', ",".join(self.texts).encode(), b"]}"))
