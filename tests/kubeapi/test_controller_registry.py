"""The controller registry and the manager's service-clock timers, which new controllers build on."""

from __future__ import annotations

import time
from typing import Any

from kymaprov.backends.base import ClusterAccess
from kymaprov.kubeapi.controllers.base import Pass, View
from kymaprov.kubeapi.controllers.client import ApiClient
from kymaprov.kubeapi.controllers.manager import ControllerManager
from kymaprov.kubeapi.controllers.registry import all_controllers, kept_kinds
from tests.kubeapi.conftest import Kube, KubeServer


def test_every_controller_module_is_registered() -> None:
    names = [c.name for c in all_controllers()]
    assert names[:3] == ["garbagecollector", "namespace", "rootcacertpublisher"]
    assert {"scheduler", "kubelet", "nodelease", "endpoints"} <= set(names)
    assert ("", "pods") in kept_kinds(all_controllers())


class Probe:
    """Acts when the ConfigMap ``ping`` exists and asks to run again an hour later."""

    name = "probe"
    kinds = frozenset({("", "configmaps")})

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.seen: dict[str, Any] = {}

    def needs_work(self, view: View) -> bool:
        ping = view.graph.get("", "configmaps", "default", "ping")
        return ping is not None and not self.calls

    def sync(self, view: View, client: ApiClient, work: Pass) -> float | None:
        ping = view.graph.get("", "configmaps", "default", "ping")
        self.seen = dict((ping.body or {}).get("data") or {}) if ping else {}
        view.events.normal(ping or {}, "Pinged", "pinged", "probe") if ping else None
        self.calls.append(view.now)  # last: the test reads the event once it sees the call
        return view.now + 3600 if len(self.calls) == 1 else None


def test_a_plugged_in_controller_runs_on_writes_and_on_its_timer(
    kube_server: KubeServer, access: ClusterAccess
) -> None:
    probe = Probe()
    runtimes = kube_server.runtimes
    kube_server.controllers.stop()  # one manager per process acts on a cluster (the DB lease): swap it
    manager = ControllerManager(kube_server.ctx, runtimes.authenticator, runtimes.admin_token,
                                (*all_controllers(), probe))  # fmt: skip
    manager.start()
    admin = Kube(access)
    try:
        admin.create(
            "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "ping"}, "data": {"a": "1"}}
        )
        deadline = time.monotonic() + 10
        while not probe.calls:
            assert time.monotonic() < deadline, "the controller never ran"
            time.sleep(0.02)
        assert probe.seen == {"a": "1"}  # the graph keeps whole bodies of the kinds it asked for
        time.sleep(0.5)
        assert len(probe.calls) == 1  # its timer is an hour away
        kube_server.ctx.clock.advance(3600)  # the advance wakes it at once
        while len(probe.calls) < 2:
            assert time.monotonic() < deadline, "the advance did not wake the controller"
            time.sleep(0.02)
        assert probe.calls[1] - probe.calls[0] >= 3600
        events = admin.get(
            "/api/v1/namespaces/default/events", params={"fieldSelector": "reason=Pinged"}
        ).json()
        [event] = events["items"]  # a repeat is counted on the first event, not written again
        assert event["count"] == 2 and event["involvedObject"]["name"] == "ping"
        assert event["source"]["component"] == "probe" and event["type"] == "Normal"
    finally:
        manager.stop()
        kube_server.controllers = ControllerManager(
            kube_server.ctx, runtimes.authenticator, runtimes.admin_token
        )
        kube_server.controllers.start()
        admin.close()
