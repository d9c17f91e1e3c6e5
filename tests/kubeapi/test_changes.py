"""The change hub tells in-process listeners which kinds a committed write touched (``kubeapi/changes.py``):
what lets the btp-operator ignore writes to kinds it does not watch."""

from __future__ import annotations

import threading

from kymaprov.backends.base import ClusterAccess
from kymaprov.backends.kubeclient import KubeClient
from kymaprov.kubeapi import changes
from kymaprov.kubeapi.changes import Kinds
from tests.kubeapi.conftest import KubeServer


def test_listeners_hear_the_kinds_each_write_touched(kube_server: KubeServer, access: ClusterAccess) -> None:
    heard: list[tuple[str, Kinds | None]] = []
    lock = threading.Lock()

    cluster = access.server.rstrip("/").rsplit("/", 1)[-1]  # .../clusters/<id>

    def listener(cluster_id: str, kinds: Kinds | None) -> None:
        if cluster_id == cluster:
            with lock:
                heard.append((cluster_id, kinds))

    stop = changes.hub(kube_server.ctx.store.engine).listen(listener)
    try:
        with KubeClient(access) as kube:
            kube.create("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "heard"}})
            kube.delete("/api/v1/namespaces/default/configmaps/heard")
            kube.create("/api/v1/namespaces/default/secrets", {"metadata": {"name": "heard"}})
    finally:
        stop()
    with lock:
        touched = [kinds for _, kinds in heard]
    # the controllers may write to the cluster meanwhile; our three writes are heard in order
    ours = [k for k in touched if k in ({("", "configmaps")}, {("", "secrets")})]
    assert ours == [frozenset({("", "configmaps")})] * 2 + [frozenset({("", "secrets")})]
