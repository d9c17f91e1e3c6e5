"""The controller registry and the manager's service-clock timers, which new controllers build on."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from kymaprov.backends.base import ClusterAccess
from kymaprov.kubeapi.controllers.base import Pass, View
from kymaprov.kubeapi.controllers.client import ApiClient
from kymaprov.kubeapi.controllers.graph import Graph
from kymaprov.kubeapi.controllers.manager import ControllerManager
from kymaprov.kubeapi.controllers.registry import all_controllers, kept_kinds
from kymaprov.kubeapi.objects import HISTORY_SECONDS
from tests.kubeapi.conftest import Kube, KubeServer


def test_every_controller_module_is_registered() -> None:
    names = [c.name for c in all_controllers()]
    assert names[:3] == ["garbagecollector", "namespace", "rootcacertpublisher"]
    assert {"scheduler", "kubelet", "nodelease", "endpoints"} <= set(names)
    assert ("", "pods") in kept_kinds(all_controllers())
    # each says which kinds wake it (None: every write); a workload controller is not woken by RBAC
    assert all(c.watches is None or c.kinds <= c.watches for c in all_controllers())
    woken = {c.name for c in all_controllers() if c.watches is None or ("", "serviceaccounts") in c.watches}
    assert woken == {"garbagecollector", "nodelease"}


class Probe:
    """Acts when the ConfigMap ``ping`` exists and asks to run again an hour later."""

    name = "probe"
    kinds = frozenset({("", "configmaps")})
    watches: frozenset[tuple[str, str]] | None = kinds

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


class Watcher:
    """Never has work; records what the graph held each time it was asked. ``watches`` None: every pass."""

    kinds: frozenset[tuple[str, str]] = frozenset()

    def __init__(self, name: str, watches: frozenset[tuple[str, str]] | None) -> None:
        self.name = name
        self.watches = watches
        self.asked: list[set[str]] = []
        self.graphs: list[int] = []  # the version each asked graph was built at (a rebuild asks again)

    def needs_work(self, view: View) -> bool:
        graph = view.graph
        names = {n.name for n in graph.of_kind("", "configmaps", "default")}
        self.asked.append(names | {n.name for n in graph.of_kind("", "serviceaccounts", "default")})
        self.graphs.append(graph.built)
        return False

    def sync(self, view: View, client: ApiClient, work: Pass) -> float | None:
        return None


def test_a_controller_is_asked_again_only_when_a_kind_it_watches_changed(
    kube_server: KubeServer, access: ClusterAccess
) -> None:
    """Writes to kinds a controller does not watch (a binding's ServiceAccount, roles) cost it nothing:
    the manager passes over the cluster (``every`` sees each write) without asking it."""
    configmaps = Watcher("configmaps-only", frozenset({("", "configmaps")}))
    every = Watcher("every-change", None)
    runtimes = kube_server.runtimes
    kube_server.controllers.stop()
    manager = ControllerManager(kube_server.ctx, runtimes.authenticator, runtimes.admin_token,
                                (*all_controllers(), configmaps, every))  # fmt: skip
    manager.start()
    admin = Kube(access)

    def seen_by(watcher: Watcher, name: str) -> None:
        deadline = time.monotonic() + 10
        while not any(name in names for names in watcher.asked):
            assert time.monotonic() < deadline, f"{watcher.name} never saw {name}"
            time.sleep(0.02)

    try:
        admin.create("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "first"}})
        seen_by(configmaps, "first")
        for i in range(3):  # one pass each: the next write waits until the manager passed over this one
            admin.create("/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": f"sa-{i}"}})
            seen_by(every, f"sa-{i}")
        admin.create("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "second"}})
        seen_by(configmaps, "second")
        assert len(every.asked) > len(configmaps.asked)
        # asked between the two ConfigMaps only if the graph was rebuilt in the meantime (a compaction
        # under load, say): a rebuilt graph cannot tell what changed since, so everyone is asked
        asked_between = [
            names
            for i, names in enumerate(configmaps.asked)
            if "sa-0" in names and "second" not in names and configmaps.graphs[i] == configmaps.graphs[i - 1]
        ]
        assert asked_between == []
        assert {"sa-0", "sa-1", "sa-2", "first", "second"} <= configmaps.asked[-1]
    finally:
        manager.stop()
        kube_server.controllers = ControllerManager(
            kube_server.ctx, runtimes.authenticator, runtimes.admin_token
        )
        kube_server.controllers.start()
        admin.close()


def test_a_plugged_in_controller_runs_on_writes_and_on_its_timer(tmp_path: Path) -> None:
    """On a server of its own: the session's server holds every other test's runtimes, and a manager's
    first pass over all of them can push this runtime's graph, and its event memory, out of the
    ``GRAPHS`` kept (a repeated event is then written anew, as after a controller-manager restart)."""
    server = KubeServer(tmp_path / "data")
    probe = Probe()
    runtimes = server.runtimes
    server.controllers.stop()  # one manager per process acts on a cluster (the DB lease): swap it
    manager = ControllerManager(server.ctx, runtimes.authenticator, runtimes.admin_token,
                                (*all_controllers(), probe))  # fmt: skip
    manager.start()
    admin = Kube(server.cluster())
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
        server.ctx.clock.advance(3600)  # the advance wakes it at once
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
        admin.close()
        server.stop()


def test_the_graph_follows_the_log_and_rebuilds_after_a_compaction(kube_server: KubeServer) -> None:
    """A graph reads only the log after its version, and is built again once the log no longer reaches
    back to it; either way it ends with the cluster's objects, and records which kinds changed."""
    cluster_id = f"c-{uuid.uuid4().hex[:12]}"
    access = kube_server.runtimes.create_cluster(cluster_id, "graph")
    graph = Graph(cluster_id, kube_server.ctx.sealer)
    admin = Kube(access)
    try:
        admin.create("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "one"}})
        with kube_server.ctx.store.read() as conn:
            graph.refresh(conn)
        built = graph.rv
        assert graph.get("", "configmaps", "default", "one") is not None and graph.built == built
        admin.create("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "two"}})
        admin.delete("/api/v1/namespaces/default/configmaps/one")
        with kube_server.ctx.store.read() as conn:
            graph.refresh(conn)
        assert graph.built == built  # followed the log
        assert graph.get("", "configmaps", "default", "one") is None
        assert graph.get("", "configmaps", "default", "two") is not None
        assert not graph.unchanged_since(built, frozenset({("", "configmaps")}))
        assert graph.unchanged_since(built, frozenset({("", "serviceaccounts")}))
        before = graph.rv
        admin.create("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "three"}})
        kube_server.ctx.clock.advance(HISTORY_SECONDS + 11)  # the next write compacts past ``before``
        admin.create("/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "late"}})
        with kube_server.ctx.store.read() as conn:
            graph.refresh(conn)
        assert graph.built > before  # built again
        assert graph.get("", "configmaps", "default", "three") is not None
        assert graph.get("", "serviceaccounts", "default", "late") is not None
        assert not graph.unchanged_since(before, frozenset({("", "serviceaccounts")}))
    finally:
        admin.close()
