"""What a workload controller decides, as plain data: the API requests to make and when to look again.

The workload controllers (``replicaset.py``, ``deployment.py``, ...) are pure functions from the objects
they read (plain dicts, as the API serves them) and the service-clock time to a ``Plan``; ``apply`` then
makes the requests through the cluster's API like any client. Keeping decisions apart from requests is
how kube's controllers are tested too (fake clients recording actions), and it lets a pass be replayed.
Shared helpers on pods, selectors, owner references and conditions live here as well.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from kymaprov.kubeapi.controllers.base import Pass, View, earliest
from kymaprov.kubeapi.controllers.client import ApiClient, collection_path, object_path
from kymaprov.kubeapi.controllers.graph import Node
from kymaprov.kubeapi.times import parse_rfc3339

Obj = dict[str, Any]


# --- actions --------------------------------------------------------------------------------------


@dataclass
class Create:
    """POST ``body`` into ``resource`` of ``namespace``; ``event`` (type, reason, message with ``{name}``
    for the created object's name) is recorded on ``about`` once the create succeeded."""

    api_version: str
    resource: str
    namespace: str
    body: Obj
    about: Obj | None = None
    event: tuple[str, str, str] | None = None
    failed_event: tuple[str, str, str] | None = None


@dataclass
class Delete:
    """DELETE with a UID precondition (never another object of the same name)."""

    api_version: str
    resource: str
    namespace: str
    name: str
    uid: str
    policy: str = "Background"
    about: Obj | None = None
    event: tuple[str, str, str] | None = None


@dataclass
class Update:
    """PUT the whole object (``sub="status"`` for the status subresource); its resourceVersion makes a
    concurrent change fail with a conflict, and the next pass decides again."""

    api_version: str
    resource: str
    body: Obj
    sub: str = ""
    then_status: Obj | None = None  # after the PUT, this status (on the object the PUT answered)


@dataclass
class Patch:
    """A JSON merge patch (with a UID precondition in the patch: ``metadata.uid``)."""

    api_version: str
    resource: str
    namespace: str
    name: str
    patch: Obj


@dataclass
class Event:
    """A core/v1 Event about ``about`` (``kubectl describe`` and ``kubectl events`` read these)."""

    about: Obj
    type: str
    reason: str
    message: str


Action = Create | Delete | Update | Patch | Event


@dataclass
class Plan:
    """The requests of one sync, in order, and the service-clock time to sync again (None: on change)."""

    actions: list[Action] = field(default_factory=list)
    wake_at: float | None = None

    def wake(self, at: float) -> None:
        self.wake_at = at if self.wake_at is None else min(self.wake_at, at)

    def extend(self, other: Plan) -> None:
        self.actions += other.actions
        if other.wake_at is not None:
            self.wake(other.wake_at)


# --- reading objects ------------------------------------------------------------------------------


def meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def status(obj: Obj) -> Obj:
    return obj.get("status") or {}


def uid(obj: Obj) -> str:
    return str(meta(obj).get("uid", ""))


def name(obj: Obj) -> str:
    return str(meta(obj).get("name", ""))


def deleting(obj: Obj) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def controller_of(obj: Obj) -> Obj | None:
    """The ownerReference with ``controller: true``, if any (``metav1.GetControllerOf``)."""
    for ref in meta(obj).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller") is True:
            return ref
    return None


def controlled_by(obj: Obj, owner: Obj) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == uid(owner)


def owner_ref(owner: Obj, kind: str, api_version: str) -> Obj:
    """The reference a controller sets on what it makes (``metav1.NewControllerRef``)."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name(owner),
        "uid": uid(owner),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def time_of(text: Any) -> float | None:
    return parse_rfc3339(text) if isinstance(text, str) else None


def int_of(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


# --- label selectors ------------------------------------------------------------------------------


def selector_matches(selector: Any, labels: Any) -> bool:
    """``metav1.LabelSelectorAsSelector(selector).Matches(labels)``; an empty or missing selector matches
    nothing here, as controllers treat it (kube's validation refuses it for workloads anyway)."""
    if not isinstance(selector, dict):
        return False
    labels = labels if isinstance(labels, dict) else {}
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return False
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expr in expressions:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def selector_text(selector: Any) -> str:
    """A label selector as the query parameter ``labelSelector`` spells it (HPA status, kubectl)."""
    if not isinstance(selector, dict):
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), ",".join(sorted(expr.get("values") or []))
        parts.append(
            {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": str(key)}.get(
                op, f"!{key}"
            )
        )
    return ",".join(parts)


# --- pods -----------------------------------------------------------------------------------------


def pod_condition(pod: Obj, kind: str) -> Obj | None:
    for cond in status(pod).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond
    return None


def pod_ready(pod: Obj) -> bool:
    cond = pod_condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def ready_since(pod: Obj) -> float | None:
    cond = pod_condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return None
    return time_of(cond.get("lastTransitionTime"))


def pod_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    """``podutil.IsPodAvailable``: Ready for at least ``minReadySeconds``."""
    since = ready_since(pod)
    if since is None:
        return False
    return min_ready_seconds <= 0 or since + min_ready_seconds <= now


def available_at(pod: Obj, min_ready_seconds: int) -> float | None:
    """When a ready pod becomes available (to wake then), or None."""
    since = ready_since(pod)
    return None if since is None else since + min_ready_seconds


def pod_active(pod: Obj) -> bool:
    """``controller.IsPodActive``: not finished and not being deleted."""
    return status(pod).get("phase") not in ("Succeeded", "Failed") and not deleting(pod)


def pod_from_template(template: Obj, owner: Obj, kind: str, api_version: str, generate_name: str) -> Obj:
    """``controller.GetPodFromTemplate``: the template's labels, annotations and spec, owned by ``owner``."""
    tmeta = template.get("metadata") or {}
    pmeta: Obj = {
        "generateName": generate_name,
        "namespace": meta(owner).get("namespace", ""),
        "ownerReferences": [owner_ref(owner, kind, api_version)],
    }
    for key in ("labels", "annotations", "finalizers"):
        if tmeta.get(key):
            pmeta[key] = copy.deepcopy(tmeta[key])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": pmeta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


# --- conditions -----------------------------------------------------------------------------------


def set_condition(conditions: list[Obj], new: Obj, now_text: str, update_time: bool = False) -> list[Obj]:
    """Replace the condition of ``new``'s type, keeping ``lastTransitionTime`` when the status and
    reason stay (``SetDeploymentCondition``), and ``lastUpdateTime`` too unless ``update_time``."""
    out: list[Obj] = []
    old = next((c for c in conditions if c.get("type") == new["type"]), None)
    cond = dict(new)
    if old is not None and old.get("status") == cond["status"]:
        cond["lastTransitionTime"] = old.get("lastTransitionTime", now_text)
    else:
        cond["lastTransitionTime"] = now_text
    if "lastUpdateTime" in cond or update_time:
        cond["lastUpdateTime"] = now_text
    if old is not None and {k: v for k, v in old.items() if k != "lastUpdateTime"} == {
        k: v for k, v in cond.items() if k != "lastUpdateTime"
    }:
        cond = old  # unchanged: keep it as it was
    for c in conditions:
        if c.get("type") != new["type"]:
            out.append(c)
    out.append(cond)
    return out


def get_condition(conditions: Any, kind: str) -> Obj | None:
    for cond in conditions or []:
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond
    return None


def strip_zero(fields: Obj) -> Obj:
    """Go's ``omitempty`` on int32 status fields: zeros are left out."""
    return {k: v for k, v in fields.items() if v not in (0, None)}


def with_status(obj: Obj, new_status: Obj) -> Update | None:
    """A status update when the status changed, else None."""
    if status(obj) == new_status:
        return None
    updated = copy.deepcopy(obj)
    updated["status"] = new_status
    return Update(str(obj.get("apiVersion", "")), _resource_of(obj), updated, "status")


_RESOURCES = {
    "Pod": "pods",
    "ReplicaSet": "replicasets",
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
    "Job": "jobs",
    "CronJob": "cronjobs",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "ControllerRevision": "controllerrevisions",
}


def _resource_of(obj: Obj) -> str:
    return _RESOURCES[str(obj.get("kind", ""))]


def update(obj: Obj) -> Update:
    return Update(str(obj.get("apiVersion", "")), _resource_of(obj), obj)


def delete(obj: Obj, about: Obj | None = None, event: tuple[str, str, str] | None = None) -> Delete:
    m = meta(obj)
    return Delete(
        str(obj.get("apiVersion", "")),
        _resource_of(obj),
        str(m.get("namespace", "")),
        str(m.get("name", "")),
        str(m.get("uid", "")),
        about=about,
        event=event,
    )


# --- making the requests --------------------------------------------------------------------------


class Applier:
    """Makes a plan's requests through the API within the pass's write budget (a refused write marks
    the pass for a retry); events go through the cluster's recorder, about objects of the graph."""

    def __init__(self, view: View, client: ApiClient, work: Pass, component: str) -> None:
        self.view = view
        self.client = client
        self.work = work
        self.component = component

    def apply(self, plan: Plan) -> None:
        for action in plan.actions:
            if self.work.exhausted:
                return
            self._one(action)

    def _event(self, about: Obj | None, event: tuple[str, str, str] | None, subject: str = "") -> None:
        if about is None or event is None:
            return
        node = self.view.graph.nodes.get(uid(about))
        if node is not None:
            kind, reason, message = event
            self.view.events.emit(node, kind, reason, message.format(name=subject), self.component)

    def _one(self, action: Action) -> None:
        c, work = self.client, self.work
        if isinstance(action, Create):
            made = work.result(
                c.create, collection_path(action.api_version, action.resource, action.namespace), action.body
            )
            if made is not None:
                self._event(action.about, action.event, name(made))
            else:
                self._event(action.about, action.failed_event)
        elif isinstance(action, Delete):
            path = object_path(action.api_version, action.resource, action.namespace, action.name)
            if work.call(c.delete, path, action.uid, action.policy):
                self._event(action.about, action.event, action.name)
        elif isinstance(action, Update):
            m = meta(action.body)
            path = object_path(
                action.api_version,
                action.resource,
                str(m.get("namespace", "")),
                name(action.body),
                action.sub,
            )
            answer = work.result(c.put, path, action.body)
            if (
                answer is not None
                and action.then_status is not None
                and answer.get("status") != action.then_status
            ):
                answer["status"] = action.then_status
                work.call(c.put, f"{path}/status", answer)
        elif isinstance(action, Patch):
            path = object_path(action.api_version, action.resource, action.namespace, action.name)
            work.call(c.merge_patch, path, action.patch)
        else:
            self._event(action.about, (action.type, action.reason, action.message))


class PlanController:
    """A registered controller (``base.Controller``) made of pure plans: ``plans(view)`` decides, this
    class applies. The plans of a view are computed once: ``needs_work`` (is there any request to make
    or a time to wake?) and ``sync`` share them, so an idle cluster costs no lease and no write."""

    name = ""
    order = 50
    kinds: frozenset[tuple[str, str]] = frozenset()
    component = ""

    def __init__(self) -> None:
        self._last: tuple[View, list[Plan]] | None = None

    def plans(self, view: View) -> list[Plan]:
        raise NotImplementedError

    def _plans(self, view: View) -> list[Plan]:
        if self._last is None or self._last[0] is not view:
            self._last = (view, self.plans(view))
        return self._last[1]

    def needs_work(self, view: View) -> bool:
        return any(p.actions or p.wake_at is not None for p in self._plans(view))

    def sync(self, view: View, client: ApiClient, work: Pass) -> float | None:
        plans = self._plans(view)
        self._last = None
        applier = Applier(view, client, work, self.component)
        for p in plans:
            applier.apply(p)
        return earliest(*(p.wake_at for p in plans))


def bodies(nodes: list[Node]) -> list[Obj]:
    return [n.body for n in nodes if n.body is not None]


def pods_for(view: View, owner: Obj) -> list[Obj]:
    """The pods ``owner`` may claim: those it controls and the orphans of its namespace."""
    graph = view.graph
    namespace = str(meta(owner).get("namespace", ""))
    owned = graph.owned_by(uid(owner), "", "pods")
    orphans = [n for n in graph.of_kind("", "pods", namespace) if n.controller_uid is None]
    return bodies(owned + orphans)
