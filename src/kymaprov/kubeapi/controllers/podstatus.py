"""What a kubelet would report about a pod at a given service-clock time, computed rather than run.

Every container's life is a function of when the kubelet began creating it and of what it is
(``simulation.py``: image, command, the runtime's rules): ``ContainerCreating`` for ``PULL_SECONDS``
(plus a rule's delay), then running; a container that exits terminates (``Completed`` or ``Error``)
and, as its restart policy says, stays terminated or restarts after the kubelet's back-off (0 s,
then 10 s doubling to 300 s, ``CrashLoopBackOff`` meanwhile); an image that cannot be pulled is
``ErrImagePull`` then ``ImagePullBackOff``, retried on the same back-off; a malformed one is
``InvalidImageName``. Init containers run one after another first. Because the state at any time
follows from the pod's ``startTime``, a jump of the service clock lands where the pod would be, and
the events of the way there (``Pulling``, ``Created``, ``Started``, ``BackOff``...) are reported once.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any

from kymaprov.kubeapi import simulation
from kymaprov.kubeapi.times import parse_rfc3339, rfc3339

PULL_SECONDS = 1.0  # pulling an image and creating its container
FAILED_PULL_SECONDS = 1.0  # ErrImagePull shows this long before ImagePullBackOff
BACKOFF_START = 10.0
BACKOFF_MAX = 300.0
MAX_STEPS = 2000  # restarts followed in one computation (a clock jump of days stays cheap)
IMAGE_SIZE = 52_428_800  # what ``Pulled`` events report; nothing is downloaded


@dataclass
class Event:
    at: float
    type: str
    reason: str
    message: str
    field_path: str


@dataclass
class ContainerState:
    """One container at ``now``: its status entry, and facts the pod's phase and conditions need."""

    status: dict[str, Any]
    ready: bool = False
    started_once: bool = False
    done_at: float | None = None  # terminated for good at
    exit_code: int = 0
    next_change: float | None = None
    events: list[Event] = field(default_factory=list)


def backoff(restarts: int) -> float:
    """The kubelet's back-off before restart number ``restarts + 1`` (the first is immediate)."""
    return 0.0 if restarts == 0 else min(BACKOFF_START * 2 ** (restarts - 1), BACKOFF_MAX)


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _instance(container: dict[str, Any], pod_uid: str, number: int) -> dict[str, str]:
    image = simulation.parse_image(str(container.get("image", "")))
    repository = f"{image.domain}/{image.path}" if isinstance(image, simulation.Image) else "unknown"
    return {
        "imageID": f"{repository}@sha256:{_digest(str(container.get('image')))}",
        "containerID": f"containerd://{_digest(pod_uid, str(container.get('name')), str(number))}",
    }


def container_state(
    pod: dict[str, Any],
    container: dict[str, Any],
    begin: float,
    policy: str,
    rules: list[simulation.Rule],
    now: float,
    field_path: str,
) -> ContainerState:
    """The container at ``now``, created from ``begin`` on, restarted as ``policy`` says."""
    name = str(container.get("name"))
    image_text = str(container.get("image", ""))
    # imageID is "" until a container ran, as the kubelet reports it (clients require the field)
    base: dict[str, Any] = {
        "name": name,
        "image": image_text,
        "imageID": "",
        "ready": False,
        "restartCount": 0,
    }
    behaviour = simulation.behaviour(rules, pod, container)
    image = simulation.parse_image(image_text)
    events: list[Event] = []

    def waiting(reason: str, message: str = "") -> dict[str, Any]:
        state: dict[str, Any] = {"reason": reason}
        if message:
            state["message"] = message
        return {**base, "started": False, "state": {"waiting": state}, "lastState": {}}

    if not isinstance(image, simulation.Image):
        message = (
            f'Failed to apply default image tag "{image_text}": '
            f'couldn\'t parse image name "{image_text}": {image}'
        )
        events.append(Event(begin, "Warning", "InspectFailed", message, field_path))
        events.append(Event(begin, "Warning", "Failed", "Error: InvalidImageName", field_path))
        return ContainerState(waiting("InvalidImageName", message), events=events)
    events.append(Event(begin, "Normal", "Pulling", f'Pulling image "{image_text}"', field_path))
    pulled_at = begin + PULL_SECONDS
    if behaviour.pull_error or simulation.unreachable_host(image):
        failure = f'Failed to pull image "{image_text}": ' + (
            simulation.pull_failure(image)
            if not behaviour.pull_error
            else f'rpc error: code = NotFound desc = failed to pull and unpack image "{image.full}": '
            f'{image.full}: not found (kymaprov simulation rule "{behaviour.pull_error}")'
        )
        if now < pulled_at:
            return ContainerState(waiting("ContainerCreating"), next_change=pulled_at, events=events)
        attempt, at = 0, pulled_at
        while True:  # pull attempts: at, then after each back-off
            events.append(Event(at, "Warning", "Failed", failure, field_path))
            events.append(Event(at, "Warning", "Failed", "Error: ErrImagePull", field_path))
            backoff_at = at + FAILED_PULL_SECONDS
            if now < backoff_at:
                return ContainerState(waiting("ErrImagePull", failure), next_change=backoff_at, events=events)
            events.append(
                Event(backoff_at, "Normal", "BackOff", f'Back-off pulling image "{image_text}"', field_path)
            )
            events.append(Event(backoff_at, "Warning", "Failed", "Error: ImagePullBackOff", field_path))
            attempt += 1
            retry = backoff_at + min(BACKOFF_START * 2 ** (attempt - 1), BACKOFF_MAX)
            if now < retry or attempt > MAX_STEPS:
                message = f'Back-off pulling image "{image_text}": ErrImagePull: {failure}'
                return ContainerState(waiting("ImagePullBackOff", message), next_change=retry, events=events)
            events.append(Event(retry, "Normal", "Pulling", f'Pulling image "{image_text}"', field_path))
            at = retry + PULL_SECONDS
    started = pulled_at + behaviour.delay
    if now < started:
        return ContainerState(waiting("ContainerCreating"), next_change=started, events=events)
    events.append(
        Event(
            pulled_at,
            "Normal",
            "Pulled",
            f'Successfully pulled image "{image_text}" in {PULL_SECONDS:g}s ({PULL_SECONDS:g}s including '
            f"waiting). Image size: {IMAGE_SIZE} bytes.",
            field_path,
        )
    )
    run = simulation.run_of(container, simulation.owned_by_job(pod))
    exits, seconds, code = run.exits, run.seconds, run.code
    if behaviour.crash_after is not None:
        exits, seconds, code = True, behaviour.crash_after, behaviour.crash_code
    probe = container.get("readinessProbe") if isinstance(container.get("readinessProbe"), dict) else None
    ready_delay = float((probe or {}).get("initialDelaySeconds", 0) or 0)
    last: dict[str, Any] = {}
    for number in range(MAX_STEPS):
        events.append(Event(started, "Normal", "Created", f"Created container: {name}", field_path))
        events.append(Event(started, "Normal", "Started", f"Started container {name}", field_path))
        ids = _instance(container, str(pod["metadata"].get("uid", "")), number)
        counted = {**base, **ids, "restartCount": number, "lastState": last}
        ends = started + seconds if exits else None
        if ends is None or now < ends:
            ready_at = started + ready_delay
            ready = not behaviour.not_ready and now >= ready_at
            upcoming = [
                t for t in (ends, None if ready or behaviour.not_ready else ready_at) if t is not None
            ]
            status = {
                **counted,
                "ready": ready,
                "started": True,
                "state": {"running": {"startedAt": rfc3339(started)}},
            }
            return ContainerState(status, ready, True, None, 0, min(upcoming) if upcoming else None, events)
        terminated = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": rfc3339(started),
            "finishedAt": rfc3339(ends),
            "containerID": ids["containerID"],
        }
        restarts = policy == "Always" or (policy == "OnFailure" and code != 0)
        if not restarts:
            status = {**counted, "started": False, "state": {"terminated": terminated}}
            return ContainerState(status, False, True, ends, code, None, events)
        delay = backoff(number)
        restart_at = ends + delay
        if delay:
            events.append(
                Event(
                    ends,
                    "Warning",
                    "BackOff",
                    f"Back-off restarting failed container {name} in pod "
                    f"{pod['metadata'].get('name')}_{pod['metadata'].get('namespace')}({pod['metadata'].get('uid')})",
                    field_path,
                )
            )
        if now < restart_at:
            message = (
                f"back-off {delay:g}s restarting failed container={name} pod="
                f"{pod['metadata'].get('name')}_{pod['metadata'].get('namespace')}({pod['metadata'].get('uid')})"
            )
            status = {
                **counted,
                "started": False,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": message}},
                "lastState": {"terminated": terminated},
            }
            return ContainerState(status, False, True, None, code, restart_at, events)
        last = {"terminated": terminated}
        started = restart_at
        events.append(
            Event(
                started,
                "Normal",
                "Pulled",
                f'Container image "{image_text}" already present on machine',
                field_path,
            )
        )
    status = {
        **base,
        "started": False,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": last,
    }
    return ContainerState(status, False, True, None, code, None, events)


def _initializing(container: dict[str, Any]) -> dict[str, Any]:
    """A container waiting for the init containers before it."""
    return {
        "name": container.get("name"),
        "image": container.get("image"),
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "started": False,
        "state": {"waiting": {"reason": "PodInitializing"}},
        "lastState": {},
    }


@dataclass
class PodState:
    status: dict[str, Any]
    events: list[Event]
    next_change: float | None


def _conditions(
    old: list[dict[str, Any]], wanted: list[tuple[str, bool, str, str]], now_text: str
) -> list[dict[str, Any]]:
    """Conditions that keep their ``lastTransitionTime`` while their status stays."""
    before = {c.get("type"): c for c in old if isinstance(c, dict)}
    result = []
    for kind, truth, reason, message in wanted:
        status = "True" if truth else "False"
        previous = before.get(kind) or {}
        entry: dict[str, Any] = {
            "type": kind,
            "status": status,
            "lastProbeTime": None,
            "lastTransitionTime": previous.get("lastTransitionTime", now_text)
            if previous.get("status") == status
            else now_text,
        }
        if reason:
            entry["reason"] = reason
        if message:
            entry["message"] = message
        result.append(entry)
    return result


def pod_state(
    pod: dict[str, Any], host_ip: str, pod_ip: str, rules: list[simulation.Rule], now: float
) -> PodState:
    """The pod's status at ``now`` (admitted now if it has no ``startTime`` yet)."""
    spec = pod.get("spec") or {}
    status = copy.deepcopy(pod.get("status") or {})
    start = parse_rfc3339(str(status.get("startTime", ""))) if status.get("startTime") else None
    if start is None:
        start = now
        status["startTime"] = rfc3339(now)
    if pod_ip and not status.get("podIP"):
        status["podIP"], status["podIPs"] = pod_ip, [{"ip": pod_ip}]
    status["hostIP"], status["hostIPs"] = host_ip, [{"ip": host_ip}]
    policy = str(spec.get("restartPolicy", "Always"))
    events: list[Event] = []
    upcoming: list[float] = []
    begin = start
    init_statuses = []
    init_failed = False
    initialized = True
    for init in [c for c in spec.get("initContainers") or [] if isinstance(c, dict)]:
        path = f"spec.initContainers{{{init.get('name')}}}"
        if not initialized:
            init_statuses.append(_initializing(init))
            continue
        state = container_state(
            pod, init, begin, "Never" if policy == "Never" else "OnFailure", rules, now, path
        )
        events += state.events
        if state.next_change is not None:
            upcoming.append(state.next_change)
        init_statuses.append(state.status)
        if state.done_at is not None and state.exit_code == 0:
            begin = state.done_at
        else:
            initialized = False
            init_failed = init_failed or state.done_at is not None
    names = [str(c.get("name")) for c in spec.get("containers") or [] if isinstance(c, dict)]
    states: list[ContainerState] = []
    for container in [c for c in spec.get("containers") or [] if isinstance(c, dict)]:
        if not initialized:
            states.append(ContainerState(_initializing(container)))
            continue
        state = container_state(
            pod, container, begin, policy, rules, now, f"spec.containers{{{container.get('name')}}}"
        )
        events += state.events
        if state.next_change is not None:
            upcoming.append(state.next_change)
        states.append(state)
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    status["containerStatuses"] = [s.status for s in states]
    all_done = bool(states) and all(s.done_at is not None for s in states)
    if init_failed:
        phase = "Failed"
    elif all_done:
        phase = "Succeeded" if all(s.exit_code == 0 for s in states) else "Failed"
    elif initialized and any(s.started_once for s in states):
        phase = "Running"
    else:
        phase = "Pending"
    status["phase"] = phase
    unready = [n for n, s in zip(names, states, strict=True) if not s.ready]
    all_ready = not unready
    finished = phase in ("Succeeded", "Failed")
    not_ready_message = f"containers with unready status: [{' '.join(unready)}]" if unready else ""
    pending_inits = [
        str(s.get("name")) for s in init_statuses if not (s.get("state") or {}).get("terminated")
    ]
    wanted = [
        ("PodReadyToStartContainers", not finished, "", ""),
        (
            "Initialized",
            initialized,
            "PodCompleted"
            if finished and initialized and init_statuses
            else ""
            if initialized
            else "ContainersNotInitialized",
            "" if initialized else f"containers with incomplete status: [{' '.join(pending_inits)}]",
        ),
        (
            "Ready",
            all_ready and not finished,
            "PodCompleted" if finished else "" if all_ready else "ContainersNotReady",
            "" if finished or all_ready else not_ready_message,
        ),
        (
            "ContainersReady",
            all_ready and not finished,
            "PodCompleted" if finished else "" if all_ready else "ContainersNotReady",
            "" if finished or all_ready else not_ready_message,
        ),
        ("PodScheduled", True, "", ""),
    ]
    status["conditions"] = _conditions(status.get("conditions") or [], wanted, rfc3339(now))
    return PodState(status, events, min(upcoming) if upcoming else None)
