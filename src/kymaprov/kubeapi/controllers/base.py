"""What every controller is to the manager, and what it gets for one pass over a cluster.

A controller is a module-level object with:

- ``name``: for logs and its timers;
- ``kinds``: the ``(group, resource)`` pairs whose whole bodies it reads from the graph (every other
  object is kept as metadata only);
- ``watches``: the ``(group, resource)`` pairs whose changes can give it work (None: any change);
  once ``needs_work`` said no, the manager asks again only after one of them changed, so its answer
  must depend on nothing else (time only through the wake-up times ``sync`` returns);
- ``needs_work(view)``: a cheap test on the graph; only when some controller says yes (or one of its
  timers is due) does the manager take the cluster's lease and call ``sync``;
- ``sync(view, client, work)``: acts through the API and returns the service-clock time (epoch
  seconds) at which it wants to run again even if nothing is written (a pod's readiness delay, a
  CronJob's next schedule), or None.

Controllers register themselves by being listed in a module's ``CONTROLLERS`` tuple anywhere in the
``kymaprov.kubeapi.controllers`` package (``registry.py`` finds them), so a new controller needs no
change to the manager.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from kymaprov.kubeapi.controllers.client import ApiClient, ApiError, object_path
from kymaprov.kubeapi.controllers.events import EventRecorder
from kymaprov.kubeapi.controllers.graph import Graph, Node


@dataclass
class View:
    """One cluster as a pass sees it."""

    cluster_id: str
    graph: Graph
    now: float  # the service clock, epoch seconds, when the pass began
    ca_pem: str  # the cluster's CA (the root CA publisher's ``ca.crt``)
    events: EventRecorder


class Controller(Protocol):
    name: str
    kinds: frozenset[tuple[str, str]]
    watches: frozenset[tuple[str, str]] | None

    def needs_work(self, view: View) -> bool: ...

    def sync(self, view: View, client: ApiClient, work: Pass) -> float | None: ...


def path_of(node: Node, sub: str = "") -> str:
    return object_path(node.api_version, node.resource, node.namespace, node.name, sub)


class Pass:
    """One pass's budget of API writes and whether anything failed and needs a retry."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.writes = 0
        self.retry = False

    @property
    def exhausted(self) -> bool:
        return self.writes >= self.budget

    def call(self, fn: Any, *args: Any) -> bool:
        """Make one write; False (and retry later) when the API refused it, except NotFound."""
        result = self.result(fn, *args)
        return result is not None

    def result(self, fn: Any, *args: Any) -> dict[str, Any] | None:
        """Make one write and return the API's answer; None (and retry later unless NotFound) when
        the API refused it."""
        self.writes += 1
        try:
            answer = fn(*args)
        except ApiError as exc:
            if exc.code != 404:
                self.retry = True
            return None
        return answer if isinstance(answer, dict) else {}


def earliest(*times: float | None) -> float | None:
    """The soonest of some wake-up times (None: no wish to wake)."""
    chosen = [t for t in times if t is not None]
    return min(chosen) if chosen else None
