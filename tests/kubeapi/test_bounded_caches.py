"""Per-runtime state stays bounded while every runtime keeps working: the controller manager keeps the
graphs of its most recently passed clusters only, and a cluster passed again rebuilds its graph."""

from __future__ import annotations

import time

import pytest

from kymaprov.kubeapi.controllers import manager

from .conftest import Kube, KubeServer, root_cas_published


def test_controllers_act_on_a_cluster_whose_graph_was_dropped(
    kube_server: KubeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manager, "GRAPHS", 1)
    first, second = kube_server.cluster(), kube_server.cluster()
    for access in (first, second):
        root_cas_published(access, timeout=30)
    for i, access in enumerate((first, second, first, second)):
        kube = Kube(access)
        name = f"bounded-{i}"
        kube.create("/api/v1/namespaces", {"metadata": {"name": name}})
        deadline = time.monotonic() + 30
        while kube.get(f"/api/v1/namespaces/{name}/configmaps/kube-root-ca.crt").status_code != 200:
            assert time.monotonic() < deadline, "the root CA publisher did not act"
            time.sleep(0.05)
        kube.close()
    assert len(kube_server.controllers._graphs) <= 1
