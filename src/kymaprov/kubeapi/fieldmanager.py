"""Server-side apply and ``metadata.managedFields``, as kube-apiserver's structured-merge-diff does it.

A *field set* is a tree of path elements in the ``FieldsV1`` spelling: ``f:<field>`` for a field of a
struct or a key of a map, ``k:{"name":"c1"}`` for an item of a list merged by its keys, ``v:"x"`` for
an item of a set. A node is a *member* when the path itself is owned (``".": {}`` in ``FieldsV1`` when
it also has children, or a leaf ``{}``).

The shape comes from a JSON schema with the ``x-kubernetes-*`` extensions: the built-in kinds' 1.33
definitions (``$ref`` followed through ``schemas.resolve``), or a CRD's ``openAPIV3Schema``, which has
the same form. Where there is no schema (unknown or preserved fields) the shape is *deduced*: maps are
granular, lists atomic. Lists follow ``x-kubernetes-list-type`` (``atomic``, ``set``, ``map`` with
``x-kubernetes-list-map-keys``), else the patch strategy (``merge`` with a merge key is a map list,
without one a set), else atomic; maps are granular unless ``x-kubernetes-map-type: atomic``.

``FieldManager.update`` records what an Update (create, update, non-apply patch) changed;
``FieldManager.apply`` merges an applied configuration, removes what its manager stopped applying and
no one else owns, and refuses to change fields other managers own (409) unless forced. Both follow
``merge/update.go`` of structured-merge-diff and the managers of ``apiserver/pkg/endpoints/handlers/
fieldmanager`` (strip meta, skip non-applied, before-first-apply, cap managers, timestamps).
"""

from __future__ import annotations

import copy
import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kymaprov.kubeapi import schemas
from kymaprov.kubeapi.errors import BadRequest, Conflict, Invalid

Schema = dict[str, Any] | None  # None: no schema, the shape is deduced from the value
Path = tuple[str, ...]

APPLY = "Apply"
UPDATE = "Update"
FIELDS_V1 = "FieldsV1"
MAX_UPDATE_MANAGERS = 10  # kube's DefaultMaxUpdateManagers; older Update entries merge into one
ANCIENT_CHANGES = "ancient-changes"
BEFORE_FIRST_APPLY = "before-first-apply"
FIELD_MANAGER_MAX_LENGTH = 128
# list-map keys a built-in schema leaves without a default, defaulted as the Go types' markers do
_KEY_DEFAULTS = {"protocol": "TCP"}
_MISSING: Any = object()


KUBECTL = "kubectl"  # the manager that may upgrade client-side apply's fields
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


class _Conflicts(Exception):
    def __init__(self, conflicts: dict[str, FieldSet]) -> None:
        super().__init__("apply conflicts")
        self.conflicts = conflicts


class FieldPathError(Exception):
    """A value that has no path element (a list item without its key, a duplicate key)."""


# --- field sets -------------------------------------------------------------------------------------


def _rank(pe: str) -> tuple[int, Any]:
    """PathElement.Compare: field names, then keys, then values, then indexes."""
    kind, text = pe[0], pe[2:]
    if kind == "i":
        return (3, int(text) if text.isdigit() else 0)
    return ({"f": 0, "k": 1, "v": 2}.get(kind, 4), text)


class FieldSet:
    """A set of paths, stored as a tree (``fieldpath.Set``)."""

    __slots__ = ("children", "members")

    def __init__(self) -> None:
        self.members: set[str] = set()
        self.children: dict[str, FieldSet] = {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSet) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"FieldSet({self.to_json()!r})"

    def empty(self) -> bool:
        return not self.members and all(c.empty() for c in self.children.values())

    def insert(self, path: Path) -> None:
        if not path:
            return
        node = self
        for pe in path[:-1]:
            node = node.children.setdefault(pe, FieldSet())
        node.members.add(path[-1])

    def has(self, path: Path) -> bool:
        node: FieldSet | None = self
        for pe in path[:-1]:
            node = node.children.get(pe) if node else None
        return bool(path) and node is not None and path[-1] in node.members

    def child(self, pe: str) -> FieldSet:
        return self.children.get(pe) or FieldSet()

    def union(self, other: FieldSet) -> FieldSet:
        out = FieldSet()
        out.members = self.members | other.members
        for pe in self.children.keys() | other.children.keys():
            out.children[pe] = self.child(pe).union(other.child(pe))
        return out

    def intersection(self, other: FieldSet) -> FieldSet:
        out = FieldSet()
        out.members = self.members & other.members
        for pe in self.children.keys() & other.children.keys():
            sub = self.children[pe].intersection(other.children[pe])
            if not sub.empty():
                out.children[pe] = sub
        return out

    def difference(self, other: FieldSet) -> FieldSet:
        out = FieldSet()
        out.members = self.members - other.members
        for pe, sub in self.children.items():
            rest = sub.difference(other.child(pe)) if pe in other.children else sub.copy()
            if not rest.empty():
                out.children[pe] = rest
        return out

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """Drop the paths of ``other`` and everything below them."""
        out = FieldSet()
        out.members = self.members - other.members
        for pe, sub in self.children.items():
            if pe in other.members:
                continue
            rest = sub.recursive_difference(other.children[pe]) if pe in other.children else sub.copy()
            if not rest.empty():
                out.children[pe] = rest
        return out

    def copy(self) -> FieldSet:
        out = FieldSet()
        out.members = set(self.members)
        out.children = {pe: sub.copy() for pe, sub in self.children.items()}
        return out

    def paths(self, prefix: Path = ()) -> Iterator[Path]:
        """Members first, then children, each in path-element order (``Set.Iterate``)."""
        for pe in sorted(self.members, key=_rank):
            yield (*prefix, pe)
        for pe in sorted(self.children, key=_rank):
            yield from self.children[pe].paths((*prefix, pe))

    def to_json(self) -> dict[str, Any]:
        """The ``FieldsV1`` object: ``"."`` first, then every element in order."""
        out: dict[str, Any] = {}
        for pe in sorted(self.members | self.children.keys(), key=_rank):
            sub = self.children.get(pe)
            if sub is None or sub.empty():
                out[pe] = {}
            else:
                inner = sub.to_json()
                out[pe] = {".": {}, **inner} if pe in self.members else inner
        return out

    @classmethod
    def from_json(cls, value: Any) -> FieldSet:
        """Parse ``FieldsV1``; ``ValueError`` for anything kube would not decode."""
        if not isinstance(value, dict):
            raise ValueError("FieldsV1 must be an object")
        out = cls()
        for pe, sub in value.items():
            if pe == ".":
                continue
            _check_pe(pe)
            if not isinstance(sub, dict):
                raise ValueError(f"FieldsV1 value of {pe} must be an object")
            if not sub or "." in sub:
                out.members.add(pe)
            child = cls.from_json(sub)
            if not child.empty():
                out.children[pe] = child
        return out


def _check_pe(pe: str) -> None:
    if len(pe) < 2 or pe[1] != ":" or pe[0] not in "fkvi":
        raise ValueError(f"invalid path element {pe!r}")
    text = pe[2:]
    if pe[0] == "k":
        if not isinstance(json.loads(text), dict):
            raise ValueError(f"invalid key {pe!r}")
    elif pe[0] == "v":
        json.loads(text)
    elif pe[0] == "i" and not text.isdigit():
        raise ValueError(f"invalid index {pe!r}")


def path_string(path: Path) -> str:
    """``.spec.template.spec.containers[name="c1"].image``, as ``fieldpath.Path.String``."""
    parts = []
    for pe in path:
        kind, text = pe[0], pe[2:]
        if kind == "f":
            parts.append("." + text)
        elif kind == "k":
            keys = json.loads(text)
            parts.append("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]")
        elif kind == "v":
            parts.append(f"[={text}]")
        else:
            parts.append(f"[{text}]")
    return "".join(parts)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _fields(*names: str) -> Path:
    return tuple(f"f:{n}" for n in names)


def _set_of(*paths: Path) -> FieldSet:
    out = FieldSet()
    for path in paths:
        out.insert(path)
    return out


# Paths never owned (``stripmeta.go``): what the server sets or identifies the object by.
STRIPPED = _set_of(
    _fields("apiVersion"),
    _fields("kind"),
    _fields("metadata"),
    *(
        _fields("metadata", f)
        for f in (
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        )
    ),
)


# --- the shape of a value ---------------------------------------------------------------------------


def _resolve(schema: Schema) -> Schema:
    return None if schema is None else schemas.resolve(schema)[0]


def _map_shape(schema: Schema) -> tuple[bool, dict[str, Any], Schema]:
    """Whether the map is atomic, its struct fields, and the schema of its other keys."""
    schema = _resolve(schema)
    if schema is None:
        return False, {}, None
    values = schema.get("additionalProperties")
    return (
        schema.get("x-kubernetes-map-type") == "atomic",
        schema.get("properties") or {},
        values if isinstance(values, dict) else None,
    )


def _child(schema: Schema, key: str) -> tuple[Schema, bool]:
    """The schema of a map's key, and whether it is a named (struct) field."""
    _, fields, values = _map_shape(schema)
    if key in fields:
        return fields[key], True
    return values, False


def _list_shape(schema: Schema) -> tuple[str, list[str], Schema]:
    """``atomic``, ``set`` or ``map`` (with its keys), and the items' schema (``schemaconv``)."""
    schema = _resolve(schema)
    if schema is None:
        return "atomic", [], None
    items = schema.get("items") if isinstance(schema.get("items"), dict) else None
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "map":
        return "map", list(schema.get("x-kubernetes-list-map-keys") or ()), items
    if list_type in ("set", "atomic"):
        return str(list_type), [], items
    if str(schema.get("x-kubernetes-patch-strategy", "")).startswith("merge"):
        key = schema.get("x-kubernetes-patch-merge-key")
        return ("map", [key], items) if key else ("set", [], items)
    return "atomic", [], items


def _item_pe(item: Any, kind: str, keys: list[str], items: Schema) -> str:
    if kind == "set":
        return "v:" + _dumps(item)
    if not isinstance(item, dict):
        raise FieldPathError("associative list with keys has an element that is not a map")
    found: dict[str, Any] = {}
    _, fields, _ = _map_shape(items)
    for key in keys:
        if item.get(key) is not None:
            found[key] = item[key]
            continue
        default = (_resolve(fields.get(key)) or {}).get("default", _KEY_DEFAULTS.get(key))
        if default is None:
            raise FieldPathError(
                f'associative list with keys has an element that omits key field "{key}" '
                "(and doesn't have default value)"
            )
        found[key] = default
    return "k:" + _dumps(found)


# --- ToFieldSet, Compare, Merge, RemoveItems --------------------------------------------------------


def field_set(value: Any, schema: Schema) -> FieldSet:
    """Every path ``value`` sets (``TypedValue.ToFieldSet``)."""
    out = FieldSet()
    _to_set(value, schema, (), out)
    return out


def _to_set(value: Any, schema: Schema, path: Path, out: FieldSet) -> None:
    if isinstance(value, dict):
        atomic, _, _ = _map_shape(schema)
        if atomic:
            out.insert(path)
            return
        for key, child in value.items():
            sub, named = _child(schema, key)
            here = (*path, f"f:{key}")
            _to_set(child, sub, here, out)
            if child is None or child == {} or not named:
                out.insert(here)
    elif isinstance(value, list):
        kind, keys, items = _list_shape(schema)
        if kind == "atomic":
            out.insert(path)
            return
        pes = [_item_pe(item, kind, keys, items) for item in value]
        duplicates = {pe for pe in pes if pes.count(pe) > 1}
        for pe in sorted(duplicates):
            out.insert((*path, pe))
        for pe, item in zip(pes, value, strict=True):
            if pe not in duplicates:
                _to_set(item, items, (*path, pe), out)
                out.insert((*path, pe))
    else:
        out.insert(path)


@dataclass
class Comparison:
    added: FieldSet
    modified: FieldSet
    removed: FieldSet

    def exclude(self, ignored: FieldSet) -> Comparison:
        return Comparison(
            self.added.recursive_difference(ignored),
            self.modified.recursive_difference(ignored),
            self.removed.recursive_difference(ignored),
        )


def compare(lhs: Any, rhs: Any, schema: Schema) -> Comparison:
    """What changed from ``lhs`` to ``rhs`` (``TypedValue.Compare``)."""
    result = Comparison(FieldSet(), FieldSet(), FieldSet())
    _compare(lhs, rhs, schema, (), result)
    return result


def _compare(lhs: Any, rhs: Any, schema: Schema, path: Path, c: Comparison) -> None:
    leaf = False

    def do_leaf() -> None:
        nonlocal leaf
        leaf = True
        if lhs is _MISSING:
            c.added.insert(path)
        elif rhs is _MISSING:
            c.removed.insert(path)
        elif lhs != rhs:
            c.modified.insert(path)

    both = [v for v in (lhs, rhs) if v is not _MISSING]
    if all(isinstance(v, dict) for v in both):
        atomic, _, _ = _map_shape(schema)
        if atomic or all(not v for v in both):
            do_leaf()
        else:
            left = lhs if lhs is not _MISSING else {}
            right = rhs if rhs is not _MISSING else {}
            for key in {**left, **right}:
                sub, _ = _child(schema, key)
                _compare(left.get(key, _MISSING), right.get(key, _MISSING), sub, (*path, f"f:{key}"), c)
    elif all(isinstance(v, list) for v in both):
        kind, keys, items = _list_shape(schema)
        if kind == "atomic" or all(not v for v in both):
            do_leaf()
        else:
            _compare_items(lhs, rhs, kind, keys, items, path, c)
    else:
        do_leaf()
    if not leaf and path:
        if lhs is _MISSING:
            c.added.insert(path)
        elif rhs is _MISSING:
            c.removed.insert(path)


def _compare_items(
    lhs: Any, rhs: Any, kind: str, keys: list[str], items: Schema, path: Path, c: Comparison
) -> None:
    left: dict[str, list[Any]] = {}
    right: dict[str, list[Any]] = {}
    for side, out in ((lhs, left), (rhs, right)):
        for item in side if side is not _MISSING else ():
            out.setdefault(_item_pe(item, kind, keys, items), []).append(item)
    for pe in {**left, **right}:
        lvals, rvals = left.get(pe, []), right.get(pe, [])
        here = (*path, pe)
        if len(lvals) <= 1 and len(rvals) <= 1:
            _compare(lvals[0] if lvals else _MISSING, rvals[0] if rvals else _MISSING, items, here, c)
        elif len(lvals) >= 2 and len(rvals) >= 2:
            if lvals != rvals:
                c.modified.insert(here)
        elif len(lvals) >= 2:
            if rvals:
                _compare(_MISSING, rvals[0], items, here, c)
            c.removed.insert(here)
        else:
            if lvals:
                _compare(lvals[0], _MISSING, items, here, c)
            c.added.insert(here)


def merge(lhs: Any, rhs: Any, schema: Schema) -> Any:
    """``rhs`` (an applied configuration) merged into ``lhs`` (``TypedValue.Merge``)."""
    if rhs is _MISSING:
        return copy.deepcopy(lhs)
    if lhs is _MISSING:
        lhs = type(rhs)() if isinstance(rhs, dict | list) else None
    if isinstance(lhs, dict) and isinstance(rhs, dict):
        atomic, _, _ = _map_shape(schema)
        if atomic:
            return copy.deepcopy(rhs)
        out = dict(copy.deepcopy(lhs))
        for key, value in rhs.items():
            out[key] = merge(lhs.get(key, _MISSING), value, _child(schema, key)[0])
        return out
    if isinstance(lhs, list) and isinstance(rhs, list):
        kind, keys, items = _list_shape(schema)
        if kind != "atomic" and (lhs or rhs):
            return _merge_items(lhs, rhs, kind, keys, items)
    return copy.deepcopy(rhs)


def _merge_items(lhs: list[Any], rhs: list[Any], kind: str, keys: list[str], items: Schema) -> list[Any]:
    """The merged list in structured-merge-diff's order: the live order, new items where applied."""
    rpes = [_item_pe(item, kind, keys, items) for item in rhs]
    seen: set[str] = set()
    for pe in rpes:
        if pe in seen:
            raise FieldPathError(f"duplicate entries for key {path_string((pe,))}")
        seen.add(pe)
    observed_r = dict(zip(rpes, rhs, strict=True))
    lpes = [_item_pe(item, kind, keys, items) for item in lhs]
    observed_l: dict[str, Any] = {}
    for pe, item in zip(lpes, lhs, strict=True):
        observed_l[pe] = None if pe in observed_l else item  # duplicates are not merged
    shared = [pe for pe in rpes if pe in observed_l]
    next_shared = shared.pop(0) if shared else None
    merged_r: set[str] = set()
    out: list[Any] = []
    li = ri = 0
    while li < len(lpes) or ri < len(rpes):
        if li < len(lpes) and ri < len(rpes):
            pe = lpes[li]
            if pe == rpes[ri]:
                merged_r.add(pe)
                out.append(_merge_item(observed_l.get(pe), observed_r[pe], items))
                li += 1
                ri += 1
                next_shared = shared.pop(0) if shared else None
                continue
            if pe in observed_r and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < len(lpes):
            pe = lpes[li]
            if pe not in observed_r:
                out.append(copy.deepcopy(lhs[li]))
                li += 1
                continue
            if pe in merged_r:
                li += 1
        if ri < len(rpes):
            pe = rpes[ri]
            merged_r.add(pe)
            out.append(_merge_item(observed_l.get(pe), observed_r[pe], items))
            ri += 1
            if next_shared is not None and next_shared == pe:
                next_shared = shared.pop(0) if shared else None
    return out


def _merge_item(lhs: Any, rhs: Any, items: Schema) -> Any:
    return merge(_MISSING if lhs is None else lhs, rhs, items)


def remove_items(value: Any, remove: FieldSet, schema: Schema) -> Any:
    """``value`` without the paths of ``remove`` (whole subtrees); emptied maps and lists become None."""
    if isinstance(value, dict):
        if not value:
            return value
        atomic, _, _ = _map_shape(schema)
        if atomic:
            return None
        out: dict[str, Any] = {}
        for key, child in value.items():
            pe = f"f:{key}"
            if pe in remove.members:
                continue
            sub = remove.children.get(pe)
            if sub is not None and not sub.empty():
                child = remove_items(child, sub, _child(schema, key)[0])
            out[key] = child
        return out or None
    if isinstance(value, list):
        if not value:
            return value
        kind, keys, items = _list_shape(schema)
        if kind == "atomic":
            return None
        kept = []
        for item in value:
            pe = _item_pe(item, kind, keys, items)
            if pe in remove.members:
                continue
            sub = remove.children.get(pe)
            if sub is not None and not sub.empty():
                item = remove_items(item, sub, items)
            kept.append(item)
        return kept or None
    return value


def named_fields(fields: FieldSet, schema: Schema) -> FieldSet:
    """``fields`` with the struct fields on the way to members owned too (``EnsureNamedFieldsAreMembers``)."""
    out = FieldSet()
    out.members = set(fields.members)
    _, props, _ = _map_shape(schema)
    _, _, items = _list_shape(schema)
    for pe, sub in fields.children.items():
        if pe.startswith("f:"):
            name = pe[2:]
            if name in props:
                out.members.add(pe)
            child_schema = _child(schema, name)[0]
        else:
            child_schema = items
        out.children[pe] = named_fields(sub, child_schema)
    return out


def _prune_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune_nulls(v) for v in value]
    return value


# --- managers ---------------------------------------------------------------------------------------


@dataclass
class Entry:
    """One ``managedFields`` entry."""

    manager: str
    operation: str
    api_version: str
    subresource: str
    time: str | None
    fields: FieldSet

    @property
    def key(self) -> str:
        return identity(self.manager, self.operation, self.api_version, self.subresource)


def identity(manager: str, operation: str, api_version: str, subresource: str = "") -> str:
    """``BuildManagerIdentifier``: appliers are one manager whatever version they applied."""
    ident: dict[str, str] = {"manager": manager, "operation": operation}
    if operation != APPLY:
        ident["apiVersion"] = api_version
    if subresource:
        ident["subresource"] = subresource
    return json.dumps(ident, separators=(",", ":"))


Managed = dict[str, Entry]


def decode(value: Any) -> Managed:
    """``DecodeManagedFields``: ``ValueError`` for an entry kube would not decode."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise ValueError("managedFields must be a list")
    managed: Managed = {}
    for raw in value:
        if not isinstance(raw, dict):
            raise ValueError("a managedFields entry must be an object")
        if raw.get("fieldsType") != FIELDS_V1:
            raise ValueError(f"invalid fieldsType {raw.get('fieldsType')!r}")
        texts = [raw.get(k, "") for k in ("manager", "operation", "apiVersion", "subresource", "time")]
        if not all(isinstance(t, str) for t in texts):
            raise ValueError("managedFields entry fields must be strings")
        manager, operation, api_version, subresource, time = texts
        if operation not in (APPLY, UPDATE):
            raise ValueError(f"invalid operation {operation!r}")
        fields = FieldSet.from_json(raw.get("fieldsV1"))
        entry = Entry(manager, operation, api_version, subresource, time or None, fields)
        if entry.key in managed:
            raise ValueError(f"duplicate manager {entry.key}")
        managed[entry.key] = entry
    return managed


def encode(managed: Managed) -> list[dict[str, Any]]:
    """Entries in kube's order: by operation, time, manager, apiVersion, subresource."""
    entries = sorted(
        managed.values(),
        key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource),
    )
    out = []
    for e in entries:
        item: dict[str, Any] = {"manager": e.manager, "operation": e.operation, "apiVersion": e.api_version}
        if e.time:
            item["time"] = e.time
        item["fieldsType"] = FIELDS_V1
        item["fieldsV1"] = e.fields.to_json()
        if e.subresource:
            item["subresource"] = e.subresource
        out.append(item)
    return out


def _reset_managed(value: Any) -> bool:
    """``[]`` or ``[{}]`` in a write clears managedFields (``isResetManagedFields``)."""
    return value == [] or value == [{}]


def _print_manager(key: str) -> str:
    ident = json.loads(key)
    text = json.dumps(ident["manager"], ensure_ascii=False)
    if ident.get("subresource"):
        text += f" with subresource {json.dumps(ident['subresource'])}"
    if ident["operation"] == UPDATE:
        text += f" using {ident.get('apiVersion', '')}"
    return text


def conflict_error(conflicts: dict[str, FieldSet]) -> Conflict:
    """409 as ``NewConflictError``: one cause per conflicting field, kube's message."""
    pairs = [(key, path) for key in sorted(conflicts) for path in conflicts[key].paths()]
    causes = [
        {
            "type": "FieldManagerConflict",
            "message": f"conflict with {_print_manager(k)}",
            "field": path_string(p),
        }
        for k, p in pairs
    ]
    if len(pairs) == 1:
        key, path = pairs[0]
        message = f"Apply failed with 1 conflict: conflict with {_print_manager(key)}: {path_string(path)}"
    else:
        lines = []
        for key in sorted(conflicts):
            lines.append(f"conflicts with {_print_manager(key)}:")
            lines += [f"- {path_string(p)}" for p in conflicts[key].paths()]
        message = f"Apply failed with {len(pairs)} conflicts: " + "\n".join(lines)
    return Conflict(message, {"causes": causes})


def manager_causes(manager: str) -> list[tuple[str, str, str]]:
    """``ValidateFieldManager``: at most 128 bytes of printable characters."""
    causes: list[tuple[str, str, str]] = []
    if len(manager.encode()) > FIELD_MANAGER_MAX_LENGTH:
        causes.append(
            (
                "fieldManager",
                "FieldValueTooLong",
                f"Too long: may not be more than {FIELD_MANAGER_MAX_LENGTH} bytes",
            )
        )
    for i, char in enumerate(manager):
        if not _printable(char):
            causes.append(
                (
                    "fieldManager",
                    "FieldValueInvalid",
                    f"Invalid value: {json.dumps(manager)}: invalid character U+{ord(char):04X} "
                    f"(at position {i})",
                )
            )
    return causes


def _printable(char: str) -> bool:
    """Go's ``unicode.IsPrint``: letters, marks, numbers, punctuation, symbols and the ASCII space."""
    return char == " " or unicodedata.category(char)[0] in "LMNPS"


def options_error(kind: str, causes: list[tuple[str, str, str]]) -> Invalid:
    """422 for invalid Create/Update/PatchOptions (``meta.k8s.io``, no name in the details)."""
    error = Invalid(kind, "meta.k8s.io", "", causes)
    if error.details is not None:
        error.details.pop("name", None)
    return error


def manager_from_user_agent(user_agent: str) -> str:
    """``prefixFromUserAgent``: the part before the first '/', printable, at most 128 bytes."""
    out = ""
    for char in user_agent.split("/")[0]:
        if not _printable(char):
            continue
        if len((out + char).encode()) > FIELD_MANAGER_MAX_LENGTH:
            break
        out += char
    return out


class FieldManager:
    """The managed fields of one kind's writes through one endpoint (main resource or a subresource)."""

    def __init__(
        self, schema: Schema, api_version: str, now: str, subresource: str = "", reset: FieldSet | None = None
    ) -> None:
        self.schema = schema
        self.api_version = api_version
        self.now = now
        self.subresource = subresource
        self.reset = reset or FieldSet()  # what this endpoint never changes (``GetResetFields``)

    # --- Update: create, update and non-apply patches -------------------------------------------

    def update(self, live: dict[str, Any] | None, new: dict[str, Any], manager: str) -> None:
        """Set ``new``'s managedFields: the entries to keep plus ``manager`` owning what it changed."""
        meta = new.setdefault("metadata", {})
        sent = meta.pop("managedFields", None)
        live_meta = (live or {}).get("metadata") or {}
        try:
            if self.subresource:
                managed = decode(live_meta.get("managedFields"))
            elif _reset_managed(sent):
                managed = {}
            else:
                try:
                    managed = decode(sent)
                except ValueError:
                    managed = {}
                if not managed:  # a client unaware of managedFields does not drop them
                    managed = decode(live_meta.get("managedFields"))
        except ValueError:
            managed = {}
        if not managed and live is not None:
            return  # an object without managed fields is not tracked until it is applied
        try:
            managed = self._update(live, new, managed, manager)
        except FieldPathError:
            return  # kube drops managedFields it cannot compute rather than fail the write
        self._store(new, managed)

    def _update(
        self, live: dict[str, Any] | None, new: dict[str, Any], managed: Managed, manager: str
    ) -> Managed:
        key = identity(manager, UPDATE, self.api_version, self.subresource)
        before = _without_managed(live) if live is not None else _empty_like(new)
        after = _without_managed(new)
        changes = self._changes(before, after, managed, "", force=True)
        owned = changes.modified.union(changes.added).recursive_difference(self.reset).difference(STRIPPED)
        if not owned.empty():
            previous = managed.get(key)
            fields = owned if previous is None else previous.fields.union(owned)
            managed[key] = Entry(manager, UPDATE, self.api_version, self.subresource, self.now, fields)
        return self._cap(managed)

    # --- Apply ------------------------------------------------------------------------------------

    def apply(
        self, live: dict[str, Any] | None, config: dict[str, Any], manager: str, force: bool
    ) -> dict[str, Any]:
        """The object after applying ``config`` as ``manager``, with its managedFields.

        Raises ``Conflict`` (409) when it would change fields others own and ``force`` is false,
        ``BadRequest`` for a configuration that cannot be applied. ``kubectl`` (kubectl's default
        manager for ``--server-side``) may take over what client-side apply last applied and nobody
        changed since, and keeps the ``last-applied-configuration`` annotation in step
        (``lastappliedmanager.go``, ``lastappliedupdater.go``).
        """
        if "managedFields" in (config.get("metadata") or {}):
            raise BadRequest("metadata.managedFields must be nil")
        config = _prune_nulls(config)
        try:
            try:
                result = self._apply(live, config, manager, force)
            except _Conflicts as found:
                allowed = self._upgradable(live) if manager == KUBECTL else None
                if allowed is None:
                    raise conflict_error(found.conflicts) from None
                rest = {k: c.difference(allowed) for k, c in found.conflicts.items()}
                rest = {k: c for k, c in rest.items() if not c.empty()}
                if rest:
                    raise conflict_error(rest) from None
                result = self._apply(live, config, manager, True)
        except FieldPathError as exc:
            raise BadRequest(f"failed to create typed patch object: {exc}") from exc
        annotations = (result.get("metadata") or {}).get("annotations") or {}
        if manager == KUBECTL and LAST_APPLIED in annotations:
            applied = copy.deepcopy(config)
            (applied.get("metadata") or {}).get("annotations", {}).pop(LAST_APPLIED, None)
            annotations[LAST_APPLIED] = json.dumps(applied, separators=(",", ":")) + "\n"
        return result

    def _upgradable(self, live: dict[str, Any] | None) -> FieldSet | None:
        """Fields client-side apply last applied that still hold those values; None without one."""
        text = (((live or {}).get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
        try:
            last = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            return None
        if not isinstance(last, dict):
            return None
        last = _prune_nulls(last)
        live_obj = _without_managed(live or {})
        return field_set(last, self.schema).difference(compare(last, live_obj, self.schema).modified)

    def _apply(
        self, live: dict[str, Any] | None, config: dict[str, Any], manager: str, force: bool
    ) -> dict[str, Any]:
        live_obj = _without_managed(live) if live is not None else {}
        try:
            managed = decode(((live or {}).get("metadata") or {}).get("managedFields"))
        except ValueError as exc:
            raise BadRequest(f"failed to decode managed fields: {exc}") from exc
        if not managed and live is not None:  # ``before-first-apply`` owns what is there already
            managed = self._update(_empty_like(live_obj), live_obj, managed, BEFORE_FIRST_APPLY)
        merged = merge(live_obj, config, self.schema)
        key = identity(manager, APPLY, self.api_version, self.subresource)
        last = managed.get(key)
        applied = field_set(config, self.schema).recursive_difference(self.reset).difference(STRIPPED)
        managed[key] = Entry(manager, APPLY, self.api_version, self.subresource, None, applied)
        if last is not None and not last.fields.empty():
            merged = self._prune(merged, managed, last.fields)
        self._changes(live_obj, merged, managed, key, force)
        entry = managed.get(key)
        if entry is not None:
            entry.time = self.now if merged != live_obj or last is None or not last.time else last.time
        result = dict(merged)
        self._store(result, self._cap(managed))
        return result

    def _prune(self, merged: dict[str, Any], managed: Managed, last: FieldSet) -> dict[str, Any]:
        """Remove what the applier owned and applies no more, unless someone else owns it."""
        schema = self.schema
        last = named_fields(last, schema)
        pruned = remove_items(merged, last, schema) or {}
        owned = FieldSet()
        for entry in managed.values():
            owned = owned.union(entry.fields)
        owned = named_fields(owned, schema)
        merged_set = named_fields(field_set(merged, schema), schema)
        pruned_set = named_fields(field_set(pruned, schema), schema)
        pruned = remove_items(merged, merged_set.difference(pruned_set.union(owned)), schema) or {}
        pruned_set = named_fields(field_set(pruned, schema), schema)
        result = remove_items(merged, merged_set.difference(pruned_set).intersection(last), schema) or {}
        return dict(_prune_nulls(result))

    def _changes(
        self, old: dict[str, Any], new: dict[str, Any], managed: Managed, workflow: str, force: bool
    ) -> Comparison:
        """``Updater.update``: others lose what changed (409 instead, unless forced) and what was removed."""
        changes = compare(old, new, self.schema).exclude(self.reset)
        changed = changes.modified.union(changes.added)
        conflicts: dict[str, FieldSet] = {}
        for key, entry in list(managed.items()):
            if key == workflow:
                continue
            overlap = entry.fields.intersection(changed)
            if not overlap.empty():
                conflicts[key] = overlap
        if conflicts and not force:
            raise _Conflicts(conflicts)
        for key, entry in list(managed.items()):
            if key == workflow:
                continue
            if key in conflicts:
                entry.fields = entry.fields.difference(conflicts[key])
            entry.fields = entry.fields.difference(changes.removed)
        for key in [k for k, e in managed.items() if e.fields.empty()]:
            del managed[key]
        return changes

    @staticmethod
    def _cap(managed: Managed) -> Managed:
        """At most ``MAX_UPDATE_MANAGERS`` Update entries: the oldest merge into ``ancient-changes``."""
        updaters = sorted(
            (e for e in managed.values() if e.operation == UPDATE), key=lambda e: (e.time or "", e.manager)
        )
        while len(updaters) > MAX_UPDATE_MANAGERS:
            oldest = updaters.pop(0)
            if oldest.manager == ANCIENT_CHANGES:
                continue
            del managed[oldest.key]
            bucket_key = identity(ANCIENT_CHANGES, UPDATE, oldest.api_version)
            bucket = managed.get(bucket_key)
            if bucket is None:
                bucket = Entry(ANCIENT_CHANGES, UPDATE, oldest.api_version, "", oldest.time, FieldSet())
                managed[bucket_key] = bucket
                updaters.insert(0, bucket)
                updaters.sort(key=lambda e: (e.time or "", e.manager))
            bucket.fields = bucket.fields.union(oldest.fields)
        return managed

    @staticmethod
    def _store(obj: dict[str, Any], managed: Managed) -> None:
        meta = obj.setdefault("metadata", {})
        encoded = encode({k: e for k, e in managed.items() if not e.fields.empty()})
        if encoded:
            meta["managedFields"] = encoded
        else:
            meta.pop("managedFields", None)


def _without_managed(obj: dict[str, Any]) -> dict[str, Any]:
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    meta.pop("managedFields", None)
    out["metadata"] = meta
    return out


def _empty_like(obj: dict[str, Any]) -> dict[str, Any]:
    """What Go's zero value of the kind serialises to: the structs ``metadata`` and ``spec`` exist, so
    an Update that creates the object does not own them as a whole (no ``"."`` under ``f:spec``)."""
    return {k: {} for k in ("metadata", "spec") if isinstance(obj.get(k), dict)}
