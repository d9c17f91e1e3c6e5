"""A Pod's connect subresources and its graceful deletion, as ``pkg/registry/core/pod`` serves them.

- ``binding`` (the scheduler's write): sets ``spec.nodeName`` and ``PodScheduled``;
- ``log``: the simulated log of a container (``simulation.py`` says what it prints), with
  ``container``, ``previous``, ``tailLines``, ``sinceSeconds``, ``sinceTime``, ``timestamps``,
  ``limitBytes`` and ``follow`` (held open while the container runs);
- ``exec``, ``attach``, ``portforward``: a clear ``BadRequest`` Status, since no process runs here
  (kubectl prints it as ``Error from server (BadRequest): ...``, over SPDY and after a refused
  WebSocket upgrade alike).

A pod's delete waits for its kubelet (the kubelet stand-in deletes it again with grace 0), unless it
never reached a node or has finished, as ``podStrategy.CheckGracefulDelete`` decides.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kymaprov.kubeapi import simulation
from kymaprov.kubeapi.deletion import DeleteOptions
from kymaprov.kubeapi.errors import BadRequest, Conflict, Invalid
from kymaprov.kubeapi.resources import CONFIGMAPS, PODS
from kymaprov.kubeapi.times import parse_rfc3339, rfc3339

if TYPE_CHECKING:
    from kymaprov.kubeapi.objects import ObjectStore

TEXT = "text/plain"
NO_PROCESSES = (
    "this Kyma runtime is simulated by kymaprov: it runs no containers, so there is no process to "
    '{action} in pod "{name}"{container}; `kubectl logs` shows the container\'s simulated log'
)


@dataclass(frozen=True)
class Call:
    """One request to a connect subresource."""

    verb: str
    namespace: str
    name: str
    query: dict[str, str]
    body: Any = None


@dataclass
class Answer:
    status: int
    body: Any
    content_type: str = "application/json"
    # for ``follow``: a check (run with a fresh read) whether to keep the stream open
    keep_open: Callable[[ObjectStore], bool] | None = field(default=None)


@dataclass(frozen=True)
class Connector:
    """A subresource served by a function rather than the generic object paths."""

    run: Callable[[ObjectStore, Call], Answer]
    writes: bool = False


def ready(pod: dict[str, Any]) -> bool:
    """``IsPodReady``: the pod's ``Ready`` condition is True."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def created() -> Answer:
    """The ``Success`` Status a ``binding`` or an ``eviction`` answers."""
    return Answer(
        201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    )


# --- graceful deletion -----------------------------------------------------------------------------


def graceful_delete(obj: dict[str, Any], options: DeleteOptions, now_text: str) -> dict[str, Any] | None:
    """The pod as marked for its kubelet (``deletionTimestamp`` = now + grace), or None to delete it
    at once: grace 0, never scheduled, or finished. A later delete may only shorten the grace."""
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, obj["metadata"]
    grace = options.grace_period_seconds
    if grace is None:
        grace = int(spec.get("terminationGracePeriodSeconds", 30) or 0)
    if grace < 0:
        grace = 1
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        grace = 0
    if grace == 0:
        return None
    now = parse_rfc3339(now_text) or 0.0
    if meta.get("deletionTimestamp"):
        current = parse_rfc3339(meta["deletionTimestamp"]) or now
        if now + grace >= current:
            return obj  # already deleting, no sooner
    marked = copy.deepcopy(obj)
    marked["metadata"]["deletionTimestamp"] = datetime.fromtimestamp(int(now + grace), tz=UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    marked["metadata"]["deletionGracePeriodSeconds"] = grace
    return marked


# --- binding -------------------------------------------------------------------------------------


def bind(old: dict[str, Any], binding: Any, now_text: str) -> dict[str, Any]:
    """``BindingREST.setPodNodeAndMetadata``: the pod with its node and ``PodScheduled``."""
    name = old["metadata"]["name"]
    target = binding.get("target") if isinstance(binding, dict) else None
    node = target.get("name") if isinstance(target, dict) else None
    if not node:
        raise Invalid("Binding", "", name, [("target.name", "FieldValueRequired", "Required value")])
    if old["metadata"].get("deletionTimestamp"):
        raise Conflict(f"pod {name} is being deleted, cannot be assigned to a host")
    if (old.get("spec") or {}).get("nodeName"):
        raise Conflict(
            f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} is already assigned to '
            f'node "{old["spec"]["nodeName"]}"',
            {"name": name, "kind": "pods/binding"},
        )
    bound = copy.deepcopy(old)
    bound["spec"]["nodeName"] = str(node)
    status = bound.setdefault("status", {})
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
    conditions.append(
        {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now_text}
    )
    status["conditions"] = conditions
    return bound


def keep_binding(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """What a write through ``binding`` may change: the node and the conditions, nothing else."""
    updated = copy.deepcopy(old)
    updated.setdefault("spec", {})["nodeName"] = (new.get("spec") or {}).get("nodeName")
    updated.setdefault("status", {})["conditions"] = (new.get("status") or {}).get("conditions") or []
    return updated


def _binding(store: ObjectStore, call: Call) -> Answer:

    bound = bind(store.get(PODS, call.namespace, call.name), call.body, rfc3339(store.now))
    store.update(PODS, call.namespace, call.name, bound, "binding")
    return created()


# --- logs ----------------------------------------------------------------------------------------


def _container(pod: dict[str, Any], wanted: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The container spec a log request names and its status; kube's errors when it names none."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    name = pod["metadata"]["name"]
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    inits = [c for c in spec.get("initContainers") or [] if isinstance(c, dict)]
    if not wanted:
        if len(containers) != 1:
            names = " ".join(str(c.get("name")) for c in containers)
            message = f"a container name must be specified for pod {name}, choose one of: [{names}]"
            if inits:
                message += (
                    " or one of the init containers: [" + " ".join(str(c.get("name")) for c in inits) + "]"
                )
            raise BadRequest(message)
        wanted = str(containers[0].get("name"))
    found = next((c for c in containers + inits if c.get("name") == wanted), None)
    if found is None:
        raise BadRequest(f"container {wanted} is not valid for pod {name}")
    statuses = (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or [])
    return found, next((s for s in statuses if s.get("name") == wanted), None)


_WAITING_MESSAGES = {
    "ErrImagePull": "trying and failing to pull image",
    "ImagePullBackOff": "trying and failing to pull image",
    "InvalidImageName": "image can't be pulled",
    "ErrImageNeverPull": "image can't be pulled",
}


def log_lines(
    pod: dict[str, Any], container: dict[str, Any], instance: dict[str, Any], rules: list[simulation.Rule]
) -> list[tuple[float, str]]:
    """What one run of a container printed, with the times it printed them."""
    started = parse_rfc3339(str(instance.get("startedAt", ""))) or 0.0
    image = simulation.parse_image(str(container.get("image", "")))
    shown = image.full if isinstance(image, simulation.Image) else str(container.get("image", ""))
    lines = [
        f"[kymaprov] container {container.get('name')} started from image {shown} "
        "(simulated: this runtime runs no processes)"
    ]
    for port in container.get("ports") or []:
        if isinstance(port, dict) and port.get("containerPort"):
            lines.append(f"[kymaprov] listening on {port['containerPort']}/{port.get('protocol', 'TCP')}")
    lines += simulation.run_of(container).output
    lines += simulation.behaviour(rules, pod, container).logs
    return [(started + index / 1_000_000, line) for index, line in enumerate(lines)]


def _micro(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}000Z"


def _int_option(query: dict[str, str], key: str) -> int | None:
    if key not in query:
        return None
    try:
        return int(query[key])
    except ValueError as exc:
        raise BadRequest(f'strconv.ParseInt: parsing "{query[key]}": invalid syntax') from exc


def _validate_log_options(call: Call) -> None:
    """``ValidatePodLogOptions``: 422 for PodLogOptions, with kube's messages."""
    causes = []
    tail, limit = _int_option(call.query, "tailLines"), _int_option(call.query, "limitBytes")
    since = _int_option(call.query, "sinceSeconds")
    if tail is not None and tail < 0:
        causes.append(
            ("tailLines", "FieldValueInvalid", f"Invalid value: {tail}: must be greater than or equal to 0")
        )
    if limit is not None and limit < 1:
        causes.append(("limitBytes", "FieldValueInvalid", f"Invalid value: {limit}: must be greater than 0"))
    if since is not None and call.query.get("sinceTime"):
        causes.append(
            (
                "",
                "FieldValueForbidden",
                "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified",
            )
        )
    elif since is not None and since < 1:
        causes.append(
            ("sinceSeconds", "FieldValueInvalid", f"Invalid value: {since}: must be greater than 0")
        )
    if causes:
        raise Invalid("PodLogOptions", "", call.name, causes)


def _log(store: ObjectStore, call: Call) -> Answer:

    _validate_log_options(call)
    pod = store.get(PODS, call.namespace, call.name)
    container, status = _container(pod, call.query.get("container", ""))
    cname, pname = container.get("name"), call.name
    if not (pod.get("spec") or {}).get("nodeName"):
        raise BadRequest(f"pod {pname} does not have a host assigned")
    previous = call.query.get("previous") in ("1", "t", "T", "true", "True", "TRUE")
    state = (status or {}).get("state") or {}
    if previous:
        instance = ((status or {}).get("lastState") or {}).get("terminated")
        if not instance:
            raise BadRequest(f'previous terminated container "{cname}" in pod "{pname}" not found')
    else:
        instance = state.get("running") or state.get("terminated")
        if not instance:
            reason = (state.get("waiting") or {}).get("reason", "ContainerCreating")
            shown = _WAITING_MESSAGES.get(reason, reason)
            raise BadRequest(f'container "{cname}" in pod "{pname}" is waiting to start: {shown}')
    rules = simulation.rules_of(
        store.find(CONFIGMAPS, simulation.RULES_NAMESPACE, simulation.RULES_CONFIGMAP)
    )
    lines = log_lines(pod, container, instance, rules)
    since = _int_option(call.query, "sinceSeconds")
    if since is not None:
        lines = [(t, line) for t, line in lines if t >= store.now - since]
    if call.query.get("sinceTime"):
        since_time = parse_rfc3339(call.query["sinceTime"])
        if since_time is None:
            raise BadRequest(f'parsing time "{call.query["sinceTime"]}" as RFC 3339 failed')
        lines = [(t, line) for t, line in lines if t >= since_time]
    tail = _int_option(call.query, "tailLines")
    if tail is not None and tail >= 0:
        lines = lines[len(lines) - tail :] if tail else []
    stamped = call.query.get("timestamps") in ("1", "t", "T", "true", "True", "TRUE")
    text = "".join(f"{_micro(t)} {line}\n" if stamped else f"{line}\n" for t, line in lines)
    limit = _int_option(call.query, "limitBytes")
    if limit is not None and limit > 0:
        text = text.encode()[:limit].decode(errors="ignore")
    follow = call.query.get("follow") in ("1", "t", "T", "true", "True", "TRUE") and not previous
    uid = pod["metadata"]["uid"]

    def running(fresh: ObjectStore) -> bool:
        """Keep a followed log open while the same container still runs."""
        now_pod = fresh.find(PODS, call.namespace, call.name)
        if now_pod is None or now_pod["metadata"]["uid"] != uid:
            return False
        statuses = (now_pod.get("status") or {}).get("containerStatuses") or []
        mine: dict[str, Any] = next((s for s in statuses if s.get("name") == cname), {})
        return bool((mine.get("state") or {}).get("running")) and mine.get("restartCount") == (
            status or {}
        ).get("restartCount")

    return Answer(200, text, TEXT, running if follow and state.get("running") else None)


# --- exec, attach, port-forward ------------------------------------------------------------------


def _no_processes(action: str) -> Callable[[ObjectStore, Call], Answer]:
    def refuse(store: ObjectStore, call: Call) -> Answer:

        pod = store.get(PODS, call.namespace, call.name)
        containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        container = call.query.get("container") or (containers[0] if containers else "")
        named = f' (container "{container}")' if container and action != "forward ports to" else ""
        raise BadRequest(NO_PROCESSES.format(action=action, name=call.name, container=named))

    return refuse


CONNECTORS: dict[str, Connector] = {
    "binding": Connector(_binding, writes=True),
    "log": Connector(_log),
    "exec": Connector(_no_processes("exec into")),
    "attach": Connector(_no_processes("attach to")),
    "portforward": Connector(_no_processes("forward ports to")),
}
