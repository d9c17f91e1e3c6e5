"""The change hub tells in-process listeners which kinds a committed write touched (``kubeapi/changes.py``):
what lets the btp-operator ignore writes to kinds it does not watch."""

from __future__ import annotations

import threading
from pathlib import Path

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
    # the controllers may write to the cluster meanwhile; our three writes are heard, in order
    wanted: list[Kinds] = [frozenset({("", "configmaps")})] * 2 + [frozenset({("", "secrets")})]
    for kinds in touched:
        if wanted and kinds == wanted[0]:
            wanted.pop(0)
    assert not wanted, touched


def test_a_version_seen_first_by_the_poll_still_tells_its_kinds(tmp_path: Path) -> None:
    """The cross-process poll can read a commit's version before that commit's own callback runs (and
    a later commit's callback can run first): the listeners still hear the kinds, once each."""
    import sqlalchemy as sa

    hub = changes.Hub(sa.create_engine(f"sqlite:///{tmp_path / 'hub.db'}"))
    heard: list[tuple[str, Kinds | None]] = []
    stop = hub.listen(lambda cluster_id, kinds: heard.append((cluster_id, kinds)))
    secrets = frozenset({("", "secrets")})
    configmaps = frozenset({("", "configmaps")})
    hub.notify("c", 10)  # the poll: kinds unknown
    hub.notify("c", 10, secrets)  # the commit's own callback, after it
    hub.notify("c", 10)  # the poll again: nothing new
    hub.notify("c", 9, configmaps)  # an earlier commit's callback, late
    stop()
    assert heard == [("c", None), ("c", secrets), ("c", configmaps)]
    assert hub.seen("c") == 10
