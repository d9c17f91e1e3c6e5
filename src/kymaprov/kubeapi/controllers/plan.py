"""What a workload controller decides, as plain data: the API requests to make and when to look again.

The workload controllers (``replicaset.py``, ``deployment.py``, ...) are pure functions from the objects
they read (plain dicts, as the API serves them) and the service-clock time to a ``Plan``; ``apply`` then
makes the requests through the cluster's API like any client. Keeping decisions apart from requests is
how kube's controllers are tested too (fake clients recording actions), and it lets a pass be replayed.
What they read of objects is in ``workload.py``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from kymaprov.kubeapi.controllers.base import Pass, View, earliest
from kymaprov.kubeapi.controllers.client import ApiClient, ApiError, collection_path, object_path
from kymaprov.kubeapi.controllers.graph import Node
from kymaprov.kubeapi.controllers.workload import (
    Obj,
    get_condition,
    meta,
    name,
    status,
    uid,
)
from kymaprov.kubeapi.times import rfc3339

# --- actions --------------------------------------------------------------------------------------


@dataclass
class Create:
    """POST ``body`` into ``resource`` of ``namespace``; ``event`` (type, reason, message with ``{name}``
    for the created object's name) is recorded on ``about`` once the create succeeded. When the API
    refuses it, ``failed`` (type, reason, message with ``{error}``: the API's message) is recorded, and
    ``failure_condition`` (a condition type: ``ReplicaFailure``) is set True with reason
    ``FailedCreate`` in ``about``'s status, as kube's ``calculateStatus`` does with a create error."""

    api_version: str
    resource: str
    namespace: str
    body: Obj
    about: Obj | None = None
    event: tuple[str, str, str] | None = None
    failed: tuple[str, str, str] | None = None
    failure_condition: str = ""


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


# --- making actions -------------------------------------------------------------------------------


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
        self.failures: dict[str, tuple[Obj, Obj]] = {}  # uid -> (object, condition to report)

    def apply(self, plan: Plan) -> None:
        self.failures = {}
        for action in plan.actions:
            if self.work.exhausted:
                return
            self._one(action)
        for about, condition in list(self.failures.values()):  # no status update came: report it alone
            body = copy.deepcopy(about)
            body["status"] = _with_condition(status(about), condition)
            if body["status"] == status(about):
                continue
            self._one(Update(str(about.get("apiVersion", "")), _resource_of(about), body, "status"))

    def _create(self, action: Create) -> None:
        path = collection_path(action.api_version, action.resource, action.namespace)
        self.work.writes += 1
        try:
            made = self.client.create(path, action.body)
        except ApiError as exc:
            self.work.retry = True
            if action.failed is not None:
                kind, reason, message = action.failed
                self._event(action.about, (kind, reason, message.replace("{error}", exc.message)))
            if action.about is not None and action.failure_condition:
                condition = {
                    "type": action.failure_condition,
                    "status": "True",
                    "lastTransitionTime": rfc3339(self.view.now),
                    "reason": "FailedCreate",
                    "message": exc.message,
                }
                self.failures[uid(action.about)] = (action.about, condition)
            return
        self._event(action.about, action.event, name(made))

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
            self._create(action)
        elif isinstance(action, Delete):
            path = object_path(action.api_version, action.resource, action.namespace, action.name)
            if work.call(c.delete, path, action.uid, action.policy):
                self._event(action.about, action.event, action.name)
        elif isinstance(action, Update):
            failure = self.failures.pop(uid(action.body), None) if action.sub == "status" else None
            if failure is not None:
                reported = _with_condition(status(action.body), failure[1])
                if reported == status(failure[0]):
                    return  # already says so: no write while the creates keep failing
                action = Update(
                    action.api_version, action.resource, dict(action.body, status=reported), action.sub
                )
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


def _with_condition(current: Obj, condition: Obj) -> Obj:
    old = get_condition(current.get("conditions"), str(condition["type"]))
    if old is not None and old.get("status") == condition["status"]:
        condition = dict(condition, lastTransitionTime=old.get("lastTransitionTime"))
    others = [c for c in current.get("conditions") or [] if c.get("type") != condition["type"]]
    return dict(current, conditions=[*others, condition])


class PlanController:
    """A registered controller (``base.Controller``) made of pure plans: ``plans(view)`` decides, this
    class applies. The plans of a view are computed once: ``needs_work`` (is there any request to make
    or a time to wake?) and ``sync`` share them, so an idle cluster costs no lease and no write."""

    name = ""
    order = 50
    kinds: frozenset[tuple[str, str]] = frozenset()
    watches: frozenset[tuple[str, str]] | None = None  # a plan reads its kinds (and the clock: wake_at)
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
