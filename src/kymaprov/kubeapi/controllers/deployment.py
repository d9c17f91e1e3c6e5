"""The Deployment controller (``pkg/controller/deployment``): ReplicaSets per pod template, rolled.

As kube's ``syncDeployment``: claim the ReplicaSets (adopt matching orphans), find the new one (the
template equal to the Deployment's, ignoring ``pod-template-hash``) and the old ones, then
- being deleted: status only; paused, or a scaling event (the active sets' ``desired-replicas``
  annotation differs from ``spec.replicas``): scale proportionally, no rollout;
- ``Recreate``: old sets to 0, wait for their pods to go, then the new set at full size;
- ``RollingUpdate``: grow the new set within ``maxSurge``, shrink unhealthy then healthy old sets
  while ``maxUnavailable`` allows;
- once complete, delete old sets beyond ``revisionHistoryLimit``;
- the status (counts, ``Available``, ``Progressing`` with kube's reasons; ``ProgressDeadlineExceeded``
  once ``progressDeadlineSeconds`` pass without progress, on the service clock).
A new set is named ``<deployment>-<hash>`` and carries the revision annotations ``kubectl rollout
history`` reads; ``kubectl rollout undo`` patches the Deployment's template back to an old set's, which
this controller then finds as the new set and gives the next revision (with ``revision-history``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kymaprov.kubeapi.controllers.plan import (
    Create,
    Event,
    Obj,
    Plan,
    PlanController,
    Update,
    View,
    bodies,
    delete,
)
from kymaprov.kubeapi.controllers.replicaset import claim
from kymaprov.kubeapi.controllers.workload import (
    controlled_by,
    deleting,
    get_condition,
    int_of,
    meta,
    name,
    owner_ref,
    pod_active,
    scaled,
    spec,
    status,
    time_of,
    uid,
)
from kymaprov.kubeapi.times import rfc3339

KIND = "Deployment"
API_VERSION = "apps/v1"
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX = "deployment.kubernetes.io/max-replicas"
SKIP_ANNOTATIONS = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED,
    MAX,
    "deprecated.deployment.rollback.to",
}
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's SafeEncodeString alphabet


# --- hashing and templates ------------------------------------------------------------------------


def template_hash(template: Obj, collision_count: int = 0) -> str:
    """``ComputeHash``: FNV-1a (32 bit) of the template (canonical JSON here, where kube prints the Go
    struct) and the collision count, encoded in the alphabet kube uses for names."""
    h = 0x811C9DC5
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += collision_count.to_bytes(4, "little")
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_ALPHANUMS[b % len(_ALPHANUMS)] for b in str(h).encode())


def _without_hash(template: Any) -> Obj:
    t = copy.deepcopy(template) if isinstance(template, dict) else {}
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
        if not labels:
            t["metadata"].pop("labels")
    if "metadata" in t and not t["metadata"]:
        t.pop("metadata")
    return t


def equal_ignore_hash(a: Any, b: Any) -> bool:
    """``EqualIgnoreHash``: templates equal once the ``pod-template-hash`` label is dropped."""
    return _without_hash(a) == _without_hash(b)


def fenceposts(d: Obj) -> tuple[int, int]:
    """``ResolveFenceposts``: (maxSurge, maxUnavailable) of a rolling update, surge rounded up and
    unavailable down; both 0 would stall, so unavailable becomes 1."""
    rolling = (spec(d).get("strategy") or {}).get("rollingUpdate") or {}
    replicas = int_of(spec(d).get("replicas"), 1)
    surge = scaled(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = scaled(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _rolling(d: Obj) -> bool:
    return (spec(d).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def max_surge(d: Obj) -> int:
    return fenceposts(d)[0] if _rolling(d) else 0


def max_unavailable(d: Obj) -> int:
    replicas = int_of(spec(d).get("replicas"), 1)
    if not _rolling(d) or replicas == 0:
        return 0
    return min(fenceposts(d)[1], replicas)


def revision(rs: Obj) -> int:
    return int_of((meta(rs).get("annotations") or {}).get(REVISION))


# --- the sync -------------------------------------------------------------------------------------


class _Sync:
    """One sync of one Deployment over local copies of its ReplicaSets; ``plan()`` turns the changes
    into requests (one update per changed set, so none conflicts with another of the same pass)."""

    def __init__(self, d: Obj, rss: list[Obj], pods: list[Obj], now: float) -> None:
        self.d = d
        self.now = now
        self.now_text = rfc3339(now)
        self.replicas = int_of(spec(d).get("replicas"), 1)
        self.pods = pods
        self.result = Plan()
        self.original = {uid(rs): rs for rs in rss}
        self.rss = [copy.deepcopy(rs) for rs in rss]
        self.new_rs: Obj | None = None
        self.created: Obj | None = None  # a set this sync creates
        self.d_annotations = dict(meta(d).get("annotations") or {})
        self.conditions: list[Obj] = copy.deepcopy(list(status(d).get("conditions") or []))
        self.collision_count = int_of(status(d).get("collisionCount"))

    # --- finding the sets -----------------------------------------------------------------------

    def old(self) -> list[Obj]:
        return [rs for rs in self.rss if rs is not self.new_rs]

    def all(self) -> list[Obj]:
        return [*self.old(), *([self.new_rs] if self.new_rs is not None else [])]

    def find_new(self) -> None:
        template = spec(self.d).get("template")
        for rs in sorted(self.rss, key=lambda r: (time_of(meta(r).get("creationTimestamp")) or 0, name(r))):
            if equal_ignore_hash(spec(rs).get("template"), template):
                self.new_rs = rs
                return

    def sync_revision(self, create: bool, namespace_rss: list[Obj]) -> bool:
        """``getNewReplicaSet``: the new set's revision and annotations; create it if asked. False when
        this sync must stop here (a hash collision was found)."""
        max_old = max([revision(rs) for rs in self.old()], default=0)
        new_revision = str(max_old + 1)
        if self.new_rs is not None:
            rs = self.new_rs
            self._set_new_annotations(rs, new_revision)
            spec_ = rs.setdefault("spec", {})
            if int_of(spec_.get("minReadySeconds")) != int_of(spec(self.d).get("minReadySeconds")):
                spec_["minReadySeconds"] = int_of(spec(self.d).get("minReadySeconds"))
            self.d_annotations[REVISION] = (meta(rs).get("annotations") or {}).get(REVISION, new_revision)
            if get_condition(self.conditions, "Progressing") is None and self._has_deadline():
                self._set_condition(
                    "Progressing", "True", "FoundNewReplicaSet", f'Found new replica set "{name(rs)}"'
                )
            return True
        if not create:
            return True
        template = copy.deepcopy(spec(self.d).get("template") or {})
        hash_ = template_hash(template, self.collision_count)
        rs_name = f"{name(self.d)}-{hash_}"
        clash = next((r for r in namespace_rss if name(r) == rs_name), None)
        if clash is not None:  # another set has the name: kube bumps collisionCount and tries again
            if controlled_by(clash, self.d) and equal_ignore_hash(spec(clash).get("template"), template):
                return True
            self.collision_count += 1
            return False
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = hash_
        selector = copy.deepcopy(spec(self.d).get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = hash_
        new_replicas = self._new_rs_replicas(0)
        rs = {
            "apiVersion": API_VERSION,
            "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name,
                "namespace": meta(self.d).get("namespace", ""),
                "labels": dict(template["metadata"]["labels"]),
                "ownerReferences": [owner_ref(self.d, KIND, API_VERSION)],
                "annotations": {},
            },
            "spec": {
                "replicas": new_replicas,
                "minReadySeconds": int_of(spec(self.d).get("minReadySeconds")),
                "selector": selector,
                "template": template,
            },
        }
        self._set_new_annotations(rs, new_revision)
        self.result.actions.append(Create(API_VERSION, "replicasets", str(meta(rs)["namespace"]), rs))
        if new_replicas > 0:
            self._event(f"Scaled up replica set {rs_name} from 0 to {new_replicas}")
        self.created = rs
        self.new_rs = rs
        self.d_annotations[REVISION] = new_revision
        if self._has_deadline():
            self._set_condition(
                "Progressing", "True", "NewReplicaSetCreated", f'Created new replica set "{rs_name}"'
            )
        return True

    def _set_new_annotations(self, rs: Obj, new_revision: str) -> None:
        """``SetNewReplicaSetAnnotations``: the Deployment's own annotations, the revision (the old one
        moved to ``revision-history``) and the replica annotations."""
        annotations = rs.setdefault("metadata", {}).setdefault("annotations", {})
        for key, value in (meta(self.d).get("annotations") or {}).items():
            if key not in SKIP_ANNOTATIONS:
                annotations[key] = value
        old = annotations.get(REVISION, "")
        if int_of(old) < int_of(new_revision):
            annotations[REVISION] = new_revision
            if old:
                history = [h for h in str(annotations.get(REVISION_HISTORY, "")).split(",") if h]
                annotations[REVISION_HISTORY] = ",".join([*history, old])
        if not old:  # a set about to be made
            self._replica_annotations(rs)

    def _replica_annotations(self, rs: Obj) -> None:
        annotations = rs.setdefault("metadata", {}).setdefault("annotations", {})
        annotations[DESIRED] = str(self.replicas)
        annotations[MAX] = str(self.replicas + max_surge(self.d))

    # --- scaling --------------------------------------------------------------------------------

    def _event(self, message: str) -> None:
        self.result.actions.append(Event(self.d, "Normal", "ScalingReplicaSet", message))

    def scale(self, rs: Obj, to: int) -> bool:
        """``scaleReplicaSet``: the size and the replica annotations; an event when the size changes."""
        before = int_of(spec(rs).get("replicas"), 1)
        rs.setdefault("spec", {})["replicas"] = to
        annotations = (rs.get("metadata") or {}).get("annotations") or {}
        if annotations.get(DESIRED) != str(self.replicas) or annotations.get(MAX) != str(
            self.replicas + max_surge(self.d)
        ):
            self._replica_annotations(rs)
        if before != to:
            self._event(
                f"Scaled {'up' if to > before else 'down'} replica set {name(rs)} from {before} to {to}"
            )
            return True
        return False

    def _new_rs_replicas(self, current: int) -> int:
        """``NewRSNewReplicas``."""
        if not _rolling(self.d):
            return self.replicas
        total = sum(_size(rs) for rs in self.all() if rs is not self.created)
        max_total = self.replicas + max_surge(self.d)
        if total >= max_total:
            return current
        up = min(max_total - total, max(0, self.replicas - current))
        return current + up

    def is_scaling_event(self) -> bool:
        for rs in self.all():
            if _size(rs) > 0:
                desired = (meta(rs).get("annotations") or {}).get(DESIRED)
                if desired is not None and int_of(desired, -1) != self.replicas:
                    return True
        return False

    def proportional(self) -> None:
        """``scale``: one active set takes the size; a saturated new set empties the old ones; else
        the allowed size is shared in proportion to each set's ``max-replicas``."""
        active = [rs for rs in self.all() if _size(rs) > 0]
        only: Obj | None = None
        if len(active) == 1:
            only = active[0]
        elif not active:
            only = self.new_rs or max(self.old(), key=revision, default=None)
        if only is not None:
            self.scale(only, self.replicas)
            return
        if self._saturated():
            for rs in self.old():
                if _size(rs) > 0:
                    self.scale(rs, 0)
            return
        if not _rolling(self.d):
            return
        allowed = self.replicas + max_surge(self.d) if self.replicas > 0 else 0
        to_add = allowed - sum(_size(rs) for rs in active)
        newer_first = to_add > 0
        ordered = sorted(
            active,
            key=lambda r: (
                -_size(r),
                -(time_of(meta(r).get("creationTimestamp")) or 0) if newer_first else 0,
            ),
        )
        added = 0
        sizes: dict[int, int] = {}
        for i, rs in enumerate(ordered):
            proportion = 0
            if to_add != 0 and to_add != added:
                fraction = self._fraction(rs)
                left = to_add - added
                proportion = min(fraction, left) if to_add > 0 else max(fraction, left)
            sizes[i] = _size(rs) + proportion
            added += proportion
        if ordered and added != to_add:
            sizes[0] = max(sizes[0] + to_add - added, 0)
        for i, rs in enumerate(ordered):
            self.scale(rs, sizes[i])

    def _fraction(self, rs: Obj) -> int:
        if self.replicas == 0:
            return -_size(rs)
        total = self.replicas + max_surge(self.d)
        annotated = int_of((meta(rs).get("annotations") or {}).get(MAX), -1)
        if annotated <= 0:
            annotated = int_of(status(self.d).get("replicas"))
        if annotated <= 0:
            return 0
        return round(_size(rs) * total / annotated) - _size(rs)

    def _saturated(self) -> bool:
        rs = self.new_rs
        if rs is None:
            return False
        desired = (meta(rs).get("annotations") or {}).get(DESIRED)
        return (
            _size(rs) == self.replicas
            and int_of(desired, -1) == self.replicas
            and int_of(status(rs).get("availableReplicas")) == self.replicas
        )

    # --- strategies -----------------------------------------------------------------------------

    def rolling(self) -> None:
        if self.new_rs is not None and self.new_rs is not self.created:
            size = _size(self.new_rs)
            if size > self.replicas:
                self.scale(self.new_rs, self.replicas)
                return
            if size < self.replicas and self.scale(self.new_rs, self._new_rs_replicas(size)):
                return
        self._reconcile_old()

    def _reconcile_old(self) -> bool:
        old = self.old()
        if sum(_size(rs) for rs in old) == 0:
            return False
        all_pods = sum(_size(rs) for rs in self.all())
        min_available = self.replicas - max_unavailable(self.d)
        new_unavailable = 0
        if self.new_rs is not None:
            new_unavailable = _size(self.new_rs) - int_of(status(self.new_rs).get("availableReplicas"))
        max_down = all_pods - min_available - new_unavailable
        if max_down <= 0:
            return False
        by_age = sorted(old, key=lambda r: (time_of(meta(r).get("creationTimestamp")) or 0, name(r)))
        cleaned = 0
        for rs in by_age:  # ``cleanupUnhealthyReplicas``
            if cleaned >= max_down:
                break
            unhealthy = _size(rs) - int_of(status(rs).get("availableReplicas"))
            if _size(rs) == 0 or unhealthy <= 0:
                continue
            down = min(max_down - cleaned, unhealthy)
            self.scale(rs, _size(rs) - down)
            cleaned += down
        available = sum(int_of(status(rs).get("availableReplicas")) for rs in self.all())
        scaled = 0
        if available > min_available:  # ``scaleDownOldReplicaSetsForRollingUpdate``
            total = available - min_available
            for rs in by_age:
                if scaled >= total:
                    break
                if _size(rs) == 0:
                    continue
                down = min(_size(rs), total - scaled)
                self.scale(rs, _size(rs) - down)
                scaled += down
        return cleaned + scaled > 0

    def recreate(self, namespace_rss: list[Obj]) -> None:
        scaled = False
        for rs in self.old():
            if _size(rs) > 0:
                scaled = self.scale(rs, 0) or scaled
        if scaled:
            return
        old_uids = {uid(rs) for rs in self.old()}
        for pod in self.pods:
            ref = next((r for r in meta(pod).get("ownerReferences") or [] if r.get("controller")), None)
            if ref is not None and ref.get("uid") in old_uids and (pod_active(pod) or deleting(pod)):
                return  # ``oldPodsRunning``: wait for the old pods to go
        if any(int_of(status(rs).get("replicas")) > 0 for rs in self.old()):
            return
        if self.new_rs is None:
            if not self.sync_revision(True, namespace_rss):
                return
        elif _size(self.new_rs) != self.replicas:
            self.scale(self.new_rs, self.replicas)

    def cleanup(self) -> None:
        """``cleanupDeployment``: old sets beyond ``revisionHistoryLimit``, oldest revisions first."""
        limit = spec(self.d).get("revisionHistoryLimit")
        if limit is None:
            return
        alive = sorted(
            (rs for rs in self.old() if not deleting(rs)),
            key=lambda r: (revision(r), time_of(meta(r).get("creationTimestamp")) or 0),
        )
        for rs in alive[: max(len(alive) - int_of(limit), 0)]:
            if (
                int_of(status(rs).get("replicas"))
                or _size(rs)
                or int_of(meta(rs).get("generation"), 1) > int_of(status(rs).get("observedGeneration"))
            ):
                continue
            self.result.actions.append(delete(self.original.get(uid(rs), rs)))

    # --- status ---------------------------------------------------------------------------------

    def _has_deadline(self) -> bool:
        return spec(self.d).get("progressDeadlineSeconds") is not None

    def _set_condition(self, kind: str, truth: str, reason: str, message: str) -> None:
        """``SetDeploymentCondition``: unchanged if status and reason are; the transition time kept
        when the status is."""
        current = get_condition(self.conditions, kind)
        if current is not None and current.get("status") == truth and current.get("reason") == reason:
            return
        cond = {
            "type": kind,
            "status": truth,
            "lastUpdateTime": self.now_text,
            "lastTransitionTime": self.now_text,
            "reason": reason,
            "message": message,
        }
        if current is not None and current.get("status") == truth:
            cond["lastTransitionTime"] = current.get("lastTransitionTime", self.now_text)
        self.conditions = [c for c in self.conditions if c.get("type") != kind] + [cond]

    def calculate_status(self) -> Obj:
        rss = self.all()
        available = sum(int_of(status(rs).get("availableReplicas")) for rs in rss)
        total = sum(_size(rs) for rs in rss)
        new: Obj = {
            "observedGeneration": int_of(meta(self.d).get("generation"), 1),
            "replicas": sum(int_of(status(rs).get("replicas")) for rs in rss),
            "updatedReplicas": int_of(status(self.new_rs).get("replicas")) if self.new_rs else 0,
            "readyReplicas": sum(int_of(status(rs).get("readyReplicas")) for rs in rss),
            "availableReplicas": available,
            "unavailableReplicas": max(total - available, 0),
        }
        new = {k: v for k, v in new.items() if v}
        if self.collision_count:
            new["collisionCount"] = self.collision_count
        if available >= self.replicas - max_unavailable(self.d):
            self._set_condition(
                "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."
            )
        else:
            self._set_condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        return new

    def complete(self, new: Obj) -> bool:
        """``DeploymentComplete``."""
        return (
            int_of(new.get("updatedReplicas")) == self.replicas
            and int_of(new.get("replicas")) == self.replicas
            and int_of(new.get("availableReplicas")) == self.replicas
            and int_of(new.get("observedGeneration")) >= int_of(meta(self.d).get("generation"), 1)
        )

    def rollout_status(self) -> Obj:
        """``syncRolloutStatus``: counts, ``Available`` and ``Progressing``; wake at the deadline."""
        new = self.calculate_status()
        deadline = spec(self.d).get("progressDeadlineSeconds")
        if deadline is None:
            self.conditions = [c for c in self.conditions if c.get("type") != "Progressing"]
        current = get_condition(self.conditions, "Progressing")
        complete_before = (
            current is not None
            and current.get("reason") == "NewReplicaSetAvailable"
            and int_of(new.get("replicas")) == int_of(new.get("updatedReplicas"))
        )
        rs_name = name(self.new_rs) if self.new_rs is not None else ""
        what = f'ReplicaSet "{rs_name}"' if self.new_rs is not None else f'Deployment "{name(self.d)}"'
        if deadline is not None and not complete_before:
            old = status(self.d)
            progressing = (
                int_of(new.get("updatedReplicas")) > int_of(old.get("updatedReplicas"))
                or int_of(new.get("replicas")) - int_of(new.get("updatedReplicas"))
                < int_of(old.get("replicas")) - int_of(old.get("updatedReplicas"))
                or int_of(new.get("readyReplicas")) > int_of(old.get("readyReplicas"))
                or int_of(new.get("availableReplicas")) > int_of(old.get("availableReplicas"))
            )
            if self.complete(new):
                self._set_condition(
                    "Progressing", "True", "NewReplicaSetAvailable", f"{what} has successfully progressed."
                )
            elif progressing:
                self.conditions = [c for c in self.conditions if c.get("type") != "Progressing"]
                self._set_condition("Progressing", "True", "ReplicaSetUpdated", f"{what} is progressing.")
                if current is not None and current.get("status") == "True":
                    self.conditions[-1]["lastTransitionTime"] = current.get("lastTransitionTime")
            elif self._timed_out(current, int_of(deadline)):
                self._set_condition(
                    "Progressing", "False", "ProgressDeadlineExceeded", f"{what} has timed out progressing."
                )
        failure = next(
            (get_condition(status(rs).get("conditions"), "ReplicaFailure") for rs in self.all()), None
        )
        self.conditions = [c for c in self.conditions if c.get("type") != "ReplicaFailure"]
        if failure is not None:
            self._set_condition(
                "ReplicaFailure",
                failure.get("status", "True"),
                failure.get("reason", ""),
                failure.get("message", ""),
            )
        current = get_condition(self.conditions, "Progressing")
        if (
            deadline is not None
            and current is not None
            and current.get("reason") not in ("NewReplicaSetAvailable", "ProgressDeadlineExceeded")
            and not self.complete(new)
        ):
            since = time_of(current.get("lastUpdateTime"))
            if since is not None:
                self.result.wake(since + int_of(deadline) + 1)
        return self.with_conditions(new)

    def _timed_out(self, current: Obj | None, deadline: int) -> bool:
        if current is None or current.get("reason") == "NewReplicaSetAvailable":
            return False
        if current.get("reason") == "ProgressDeadlineExceeded":
            return True
        since = time_of(current.get("lastUpdateTime"))
        return since is not None and since + deadline < self.now

    def with_conditions(self, new: Obj) -> Obj:
        if self.conditions:
            new["conditions"] = self.conditions
        return new

    def paused_conditions(self) -> None:
        """``checkPausedConditions``."""
        if not self._has_deadline():
            return
        current = get_condition(self.conditions, "Progressing")
        if current is not None and current.get("reason") == "ProgressDeadlineExceeded":
            return
        paused_now = current is not None and current.get("reason") == "DeploymentPaused"
        if spec(self.d).get("paused") and not paused_now:
            self._set_condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")
        elif not spec(self.d).get("paused") and paused_now:
            self._set_condition("Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed")

    # --- the requests ---------------------------------------------------------------------------

    def finish(self, new_status: Obj) -> Plan:
        for rs in self.rss:
            before = self.original[uid(rs)]
            if rs.get("spec") != before.get("spec") or meta(rs).get("annotations") != meta(before).get(
                "annotations"
            ):
                self.result.actions.insert(0, Update(API_VERSION, "replicasets", rs))
        d_status = dict(new_status)
        annotations_changed = self.d_annotations != (meta(self.d).get("annotations") or {})
        if annotations_changed:
            body = copy.deepcopy(self.d)
            body["metadata"]["annotations"] = self.d_annotations
            self.result.actions.append(Update(API_VERSION, "deployments", body, then_status=d_status))
        elif d_status != status(self.d):
            body = copy.deepcopy(self.d)
            body["status"] = d_status
            self.result.actions.append(Update(API_VERSION, "deployments", body, "status"))
        return self.result


def _size(rs: Obj) -> int:
    return int_of(spec(rs).get("replicas"), 1)


def plan(d: Obj, replica_sets: list[Obj], pods: list[Obj], now: float) -> Plan:
    """One sync of Deployment ``d`` given the ReplicaSets and pods of its namespace."""
    mine, adopt = claim(d, replica_sets, KIND, API_VERSION, (API_VERSION, "replicasets"))
    s = _Sync(d, mine, pods, now)
    s.result.extend(adopt)
    s.find_new()
    if deleting(d):
        s.sync_revision(False, replica_sets)
        return s.finish(s.with_conditions(s.calculate_status()))
    s.paused_conditions()
    if spec(d).get("paused") or s.is_scaling_event():
        s.sync_revision(False, replica_sets)
        s.proportional()
        if spec(d).get("paused"):
            s.cleanup()
        return s.finish(s.with_conditions(s.calculate_status()))
    if not _rolling(d):
        s.sync_revision(False, replica_sets)
        s.recreate(replica_sets)
    else:
        if not s.sync_revision(True, replica_sets):
            return s.finish(s.with_conditions(dict(status(d), collisionCount=s.collision_count)))
        s.rolling()
    new_status = s.rollout_status()
    if s.complete(new_status):
        s.cleanup()
    return s.finish(new_status)


class DeploymentController(PlanController):
    name = "deployment"
    kinds = frozenset({("apps", "deployments"), ("apps", "replicasets"), ("", "pods")})
    watches = kinds
    component = "deployment-controller"

    def plans(self, view: View) -> list[Plan]:
        graph = view.graph
        result = []
        for d in bodies(graph.of_kind("apps", "deployments")):
            namespace = str(meta(d).get("namespace", ""))
            replica_sets = bodies(graph.of_kind("apps", "replicasets", namespace))
            owned = graph.owned_by(uid(d), "apps", "replicasets") if not _rolling(d) else []
            pods = [p for rs in owned for p in bodies(graph.owned_by(rs.uid, "", "pods"))]
            result.append(plan(d, replica_sets, pods, view.now))
        return result


CONTROLLERS = (DeploymentController(),)
