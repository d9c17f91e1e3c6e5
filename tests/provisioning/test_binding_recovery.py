"""Bindings survive crashes, failures and races: a working binding or nothing, never a half.

Crashes are real (``kill -9`` of ``kymaprov serve``); the runtime is looked at through its Kubernetes
API with a binding's own (cluster-admin) kubeconfig; time past the stuck-row timeout is simulated by
moving the row's ``state_since`` back while the server is down.
"""

from __future__ import annotations

import base64
import signal
import sqlite3
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kymaprov.accounts.models import create_subaccount, ensure_defaults
from kymaprov.backends.base import ClusterAccess, ClusterShape, Progress
from kymaprov.backends.embedded import EmbeddedRuntimes
from kymaprov.backends.kubeclient import KubeClient
from kymaprov.provisioning.bindings import STUCK_SECONDS, BindingService
from kymaprov.provisioning.environments import EnvironmentService
from kymaprov.provisioning.exceptions import RuntimeFailure
from kymaprov.provisioning.lifecycle import LifecycleWorker
from kymaprov.provisioning.models import Environment, kyma_bindings
from kymaprov.uaa.models import Principal
from tests.conftest import Api, RunningServer, free_port, new_api
from tests.kubeapi.conftest import KubeServer
from tests.provisioning.test_bindings_api import kubectl, put_binding

SELECTOR = "app.kubernetes.io/managed-by=kcp-kyma-environment-broker"
LABELS = {"app.kubernetes.io/managed-by": "kcp-kyma-environment-broker"}
COLLECTIONS = {
    "ServiceAccount": "/api/v1/namespaces/kyma-system/serviceaccounts",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
}


class Runtime:
    """A runtime's Kubernetes API seen with a binding's kubeconfig (CA, SNI and token from it)."""

    def __init__(self, kubeconfig: str) -> None:
        config = yaml.safe_load(kubeconfig)
        cluster = config["clusters"][0]["cluster"]
        context = ssl.create_default_context(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
        )
        self.sni = {"sni_hostname": cluster["tls-server-name"]}
        self.client = httpx.Client(
            base_url=cluster["server"],
            verify=context,
            headers={"authorization": f"Bearer {config['users'][0]['user']['token']}"},
            timeout=30,
        )

    def binding_objects(self) -> dict[str, set[str]]:
        """Binding id -> kinds of its ``kyma-binding-*`` objects, found by KEB's label."""
        found: dict[str, set[str]] = {}
        for kind, path in COLLECTIONS.items():
            r = self.client.get(path, params={"labelSelector": SELECTOR}, extensions=self.sni)
            assert r.status_code == 200, r.text
            for item in r.json()["items"]:
                name = item["metadata"]["name"]
                assert name.startswith("kyma-binding-")
                found.setdefault(name.removeprefix("kyma-binding-"), set()).add(kind)
        return found

    def make_objects(self, binding_id: str, env_id: str | None) -> None:
        """What a PUT of environment ``env_id`` creates before its TokenRequest, through the real API;
        None: the same objects made by someone else (another broker sharing the cluster)."""
        name = f"kyma-binding-{binding_id}"
        meta: dict[str, Any] = {"name": name, "labels": LABELS}
        if env_id is not None:
            meta["annotations"] = {"kymaprov.io/instance-id": env_id}
        bodies: dict[str, dict[str, Any]] = {
            "ServiceAccount": {"metadata": meta},
            "ClusterRole": {
                "metadata": meta,
                "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
            },
            "ClusterRoleBinding": {
                "metadata": meta,
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "kyma-system"}],
            },
        }
        for kind, path in COLLECTIONS.items():
            version = "v1" if kind == "ServiceAccount" else "rbac.authorization.k8s.io/v1"
            r = self.client.post(
                path, json={"apiVersion": version, "kind": kind, **bodies[kind]}, extensions=self.sni
            )
            assert r.status_code == 201, r.text

    def remove_objects(self, binding_id: str) -> None:
        for path in COLLECTIONS.values():
            r = self.client.delete(f"{path}/kyma-binding-{binding_id}", extensions=self.sni)
            assert r.status_code == 200, r.text

    def close(self) -> None:
        self.client.close()


def wait_for(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.1)


def db(server: RunningServer) -> sqlite3.Connection:
    return sqlite3.connect(server.data_dir / "kymaprov.db", timeout=30, isolation_level=None)


def backdate_unfinished_rows(server: RunningServer) -> None:
    """While the server is down: the stuck-row timeout has passed for every unfinished row."""
    with db(server) as conn:
        conn.execute(
            "UPDATE kyma_bindings SET state_since = state_since - ? WHERE state != 'READY'",
            (STUCK_SECONDS + 60,),
        )


def listed(api: Api, env_id: str) -> set[str]:
    r = api.request("GET", f"/environments/{env_id}/bindings")
    assert r.status_code == 200, r.text
    return {b["bindingId"] for b in r.json()["bindings"]}


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RunningServer]:
    """A server these tests may kill and restart on the same data."""
    srv = RunningServer(tmp_path / "data", free_port(), free_port(), provisioning_seconds=0.2).start()
    yield srv
    srv.stop()


def restart(server: RunningServer) -> None:
    """The same data and ports, so kubeconfigs and tokens handed out before still apply."""
    server.start()


def test_a_row_being_made_counts_is_hidden_and_is_removed_with_its_objects_after_a_crash(
    own_server: RunningServer, tmp_path: Path
) -> None:
    server = own_server
    api = new_api(server, "recover")
    env_id = api.create_kyma(name="rec-rt")
    api.wait_state(env_id)
    keeper = put_binding(api, env_id, {"parameters": {"expiration_seconds": 3600}})
    keeper_id = keeper.headers["location"]
    runtime = Runtime(keeper.json()["credentials"]["kubeconfig"])

    # a PUT in flight: its row is written, its objects made through the real API; plus an orphan
    making, orphan = str(uuid.uuid4()), str(uuid.uuid4())
    now_ms = int(time.time() * 1000)
    with db(server) as conn:
        conn.execute(
            "INSERT INTO kyma_bindings (id, environment_id, subaccount_id, expiration_seconds, created_by,"
            " created_ms, expires_ms, kubeconfig, cleaned, state, state_since)"
            " VALUES (?, ?, (SELECT subaccount_id FROM environments WHERE id = ?), 600, 'x', ?, ?, '', 0,"
            " 'MAKING', ?)",
            (making, env_id, env_id, now_ms, now_ms + 600_000, time.time()),
        )
    runtime.make_objects(making, env_id)
    runtime.make_objects(orphan, env_id)
    foreign = str(uuid.uuid4())
    runtime.make_objects(foreign, None)

    # not listed, not readable, but it counts toward the limit of 10 while it is being made
    assert listed(api, env_id) == {keeper_id}
    assert api.request("GET", f"/environments/{env_id}/bindings/{making}").status_code == 404
    # the reconcile removes the orphan, and never the objects of the binding being made
    wait_for(lambda: orphan not in runtime.binding_objects(), "the orphan objects are removed")
    assert set(runtime.binding_objects()) == {keeper_id, making, foreign}  # not another party's objects
    runtime.remove_objects(foreign)
    made = [put_binding(api, env_id, {"parameters": {"expiration_seconds": 600}}) for _ in range(8)]
    assert [r.status_code for r in made] == [202] * 8
    assert put_binding(api, env_id, {"parameters": {"expiration_seconds": 600}}).status_code == 400

    # the process that was making it dies; once the timeout has passed, a restarted server cleans up
    runtime.close()
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    backdate_unfinished_rows(server)
    restart(server)
    runtime = Runtime(keeper.json()["credentials"]["kubeconfig"])
    wait_for(lambda: making not in runtime.binding_objects(), "the stuck binding's objects are removed")
    expected = {keeper_id} | {r.headers["location"] for r in made}
    assert set(runtime.binding_objects()) == expected
    assert all(kinds == set(COLLECTIONS) for kinds in runtime.binding_objects().values())
    with db(server) as conn:
        assert conn.execute("SELECT count(*) FROM kyma_bindings WHERE id = ?", (making,)).fetchone()[0] == 0
    assert listed(api, env_id) == expected
    assert put_binding(api, env_id, {"parameters": {"expiration_seconds": 600}}).status_code == 202
    runtime.close()


def in_flight_rows(server: RunningServer) -> int:
    """Bindings whose PUT has not finished (the old and the new schema agree on an empty kubeconfig)."""
    with db(server) as conn:
        return int(conn.execute("SELECT count(*) FROM kyma_bindings WHERE kubeconfig = ''").fetchone()[0])


def test_kill_9_during_binding_puts_ends_in_working_bindings_or_nothing(
    own_server: RunningServer, tmp_path: Path
) -> None:
    server = own_server
    api = new_api(server, "killput")
    env_id = api.create_kyma(name="kill-rt")
    api.wait_state(env_id)
    headers = dict(api.client.headers)
    path = f"/provisioning/v1/environments/{env_id}/bindings"

    def churn(stop: threading.Event) -> None:
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
            while not stop.is_set():
                try:
                    r = client.put(path, json={"parameters": {"expiration_seconds": 600}})
                    if r.status_code == 202:
                        client.delete(f"{path}/{r.headers['location']}")
                except httpx.HTTPError:
                    return

    caught = 0
    for _ in range(5):  # kill while a PUT is in flight; a cycle that missed one is repeated
        stop = threading.Event()
        threads = [threading.Thread(target=churn, args=(stop,)) for _ in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while in_flight_rows(server) == 0 and time.monotonic() < deadline:
            time.sleep(0.002)
        server.stop(signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(30)
        caught = in_flight_rows(server)
        if caught:
            break
        restart(server)
    assert caught, "no PUT was in flight when the server was killed"

    backdate_unfinished_rows(server)
    restart(server)
    probe = put_binding(api, env_id, {"parameters": {"expiration_seconds": 600}})
    assert probe.status_code == 202, probe.text
    kubeconfig = probe.json()["credentials"]["kubeconfig"]
    runtime = Runtime(kubeconfig)

    def consistent() -> bool:
        ids = listed(api, env_id)
        objects = runtime.binding_objects()
        readable = all(
            "credentials" in api.request("GET", f"/environments/{env_id}/bindings/{i}").json() for i in ids
        )
        return readable and set(objects) == ids and all(k == set(COLLECTIONS) for k in objects.values())

    wait_for(consistent, "every listed binding is readable and owns exactly its three objects")
    # an interrupted PUT's row goes after its objects (or before any were made), in the reconcile's own time
    wait_for(lambda: in_flight_rows(server) == 0, "the interrupted PUTs' rows are removed")
    assert consistent()
    assert kubectl(kubeconfig, tmp_path, "get", "pods", "-A").returncode == 0
    runtime.close()


def test_delete_racing_put_of_the_same_binding_never_gives_500(
    own_server: RunningServer, tmp_path: Path
) -> None:
    server = own_server
    api = new_api(server, "race-del")
    env_id = api.create_kyma(name="race-del-rt")
    api.wait_state(env_id)
    keeper = put_binding(api, env_id, {"parameters": {"expiration_seconds": 3600}})
    keeper_id = keeper.headers["location"]
    headers = dict(api.client.headers)
    path = f"/provisioning/v1/environments/{env_id}/bindings"
    answers: list[tuple[str, int, str]] = []
    raced: set[str] = set()
    done = threading.Event()

    def putter(_: int) -> None:
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            for _ in range(12):
                r = client.put(path, json={"parameters": {"expiration_seconds": 600}})
                answers.append(("PUT", r.status_code, r.text))
                if r.status_code == 202:
                    d = client.delete(f"{path}/{r.headers['location']}")
                    answers.append(("DELETE", d.status_code, d.text))

    def deleter() -> None:
        """DELETEs every binding the moment its row exists, before its PUT has answered."""
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            while not done.is_set():
                with db(server) as conn:
                    ids = [r[0] for r in conn.execute("SELECT id FROM kyma_bindings WHERE kubeconfig = ''")]
                for binding_id in ids:
                    d = client.delete(f"{path}/{binding_id}")
                    answers.append(("DELETE in flight", d.status_code, d.text))
                    raced.add(binding_id)
                time.sleep(0.001)

    racer = threading.Thread(target=deleter)
    racer.start()
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(putter, range(3)))
    finally:
        done.set()
        racer.join(60)

    assert not [a for a in answers if a[1] >= 500], [a for a in answers if a[1] >= 500]
    assert raced, "the DELETEs never caught a PUT in flight"
    assert {a[1] for a in answers if a[0] == "PUT"} <= {202, 409, 400}
    assert {a[1] for a in answers if a[0] == "DELETE in flight"} <= {200, 404}
    # every PUT that lost its binding removed what it had made: only the keeper is left, at once
    runtime = Runtime(keeper.json()["credentials"]["kubeconfig"])
    assert set(runtime.binding_objects()) == {keeper_id}
    assert listed(api, env_id) == {keeper_id}
    assert in_flight_rows(server) == 0
    runtime.close()


class LimitedRuntimes:
    """The real embedded backend, but the service's token may not create ClusterRoleBindings."""

    def __init__(self, runtimes: EmbeddedRuntimes, token: str) -> None:
        self.runtimes = runtimes
        self.token = token

    def create(self, cluster_id: str, name: str, shape: ClusterShape) -> Progress:
        return self.runtimes.create(cluster_id, name, shape)

    def status(self, cluster_id: str) -> Progress:
        return self.runtimes.status(cluster_id)

    def update(self, cluster_id: str, shape: ClusterShape) -> Progress:
        return self.runtimes.update(cluster_id, shape)

    def delete(self, cluster_id: str) -> Progress:
        return self.runtimes.delete(cluster_id)

    def access(self, cluster_id: str) -> ClusterAccess | None:
        access = self.runtimes.access(cluster_id)
        return None if access is None else replace(access, token=self.token)

    def reset(self) -> None:
        self.runtimes.reset()


def limited_token(access: ClusterAccess) -> str:
    """A ServiceAccount allowed to create ServiceAccounts and ClusterRoles and delete all three kinds."""
    rbac = "rbac.authorization.k8s.io"
    with KubeClient(access) as admin:
        admin.create(
            "/api/v1/namespaces/kyma-system/serviceaccounts",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "limited"}},
        )
        admin.create(
            f"/apis/{rbac}/v1/clusterroles",
            {
                "apiVersion": f"{rbac}/v1",
                "kind": "ClusterRole",
                "metadata": {"name": "limited"},
                "rules": [
                    {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["create", "delete"]},
                    # escalate: it may create the binding's */*/* ClusterRole it does not hold itself
                    {
                        "apiGroups": [rbac],
                        "resources": ["clusterroles"],
                        "verbs": ["create", "delete", "escalate"],
                    },
                    {"apiGroups": [rbac], "resources": ["clusterrolebindings"], "verbs": ["delete"]},
                ],
            },
        )
        admin.create(
            f"/apis/{rbac}/v1/clusterrolebindings",
            {
                "apiVersion": f"{rbac}/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "limited"},
                "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "limited"},
                "subjects": [{"kind": "ServiceAccount", "name": "limited", "namespace": "kyma-system"}],
            },
        )
        return str(admin.request_token("kyma-system", "limited", 3600)["token"])


def provisioned(kube: KubeServer, name: str, p: Principal | None = None) -> tuple[Principal, Environment]:
    """The default subaccount's developer (or ``p``) and a Kyma environment of theirs, provisioned (OK)."""
    ctx = kube.ctx
    if p is None:
        login = ensure_defaults(ctx)
        assert login is not None
        p = Principal("c", "x", frozenset(), "password", login["subaccount"], None, "dev@example.com")
    env, _ = EnvironmentService(ctx).create(
        p,
        {
            "environmentType": "kyma",
            "serviceName": "kymaruntime",
            "planName": "aws",
            "parameters": {"name": name, "region": "eu-central-1"},
        },
    )
    ctx.clock.advance(ctx.settings.provisioning_seconds + 1)
    LifecycleWorker(ctx, kube.runtimes, BindingService(ctx, kube.runtimes)).run_due()
    return p, env


def test_a_put_the_runtime_refuses_midway_leaves_nothing_behind(tmp_path: Path) -> None:
    kube = KubeServer(tmp_path / "data")
    try:
        ctx = kube.ctx
        p, env = provisioned(kube, "refused-rt")
        admin = kube.runtimes.access(env.cluster_id)
        assert admin is not None
        service = BindingService(ctx, LimitedRuntimes(kube.runtimes, limited_token(admin)))

        with pytest.raises(RuntimeFailure) as failed:
            service.create(p, env.id, {"parameters": {"expiration_seconds": 600}})
        assert failed.value.status == 500 and failed.value.code == 42010
        assert "clusterrolebindings" in failed.value.message

        # the ServiceAccount and ClusterRole it had made are gone again, and so is its row
        with KubeClient(admin) as client:
            left = [
                item["metadata"]["name"]
                for path in COLLECTIONS.values()
                for item in client.list(path, SELECTOR)
            ]
        assert left == []
        with ctx.store.read() as conn:
            assert conn.execute(kyma_bindings.select()).all() == []
        assert service.list_all(p, env.id) == {"bindings": []}
    finally:
        kube.stop()


class DeprovisionedMidway:
    """The real embedded backend; the first ``access`` after ``arm()`` lets a deprovision land first
    (the environment turns DELETING and its runtime is deleted), then answers the access read before."""

    def __init__(self, runtimes: EmbeddedRuntimes, deprovision: Callable[[], None]) -> None:
        self.runtimes = runtimes
        self.deprovision: Callable[[], None] | None = None
        self._deprovision = deprovision

    def arm(self) -> None:
        self.deprovision = self._deprovision

    def access(self, cluster_id: str) -> ClusterAccess | None:
        access = self.runtimes.access(cluster_id)
        if self.deprovision is not None:
            deprovision, self.deprovision = self.deprovision, None
            deprovision()
        return access

    def __getattr__(self, name: str) -> Any:
        return getattr(self.runtimes, name)


def test_a_delete_overtaken_by_a_deprovision_is_not_a_500(tmp_path: Path) -> None:
    """The unbind read the environment while it was OK; before its Kubernetes calls the environment
    was deprovisioned and its runtime deleted (it answers 401). The objects went with the runtime:
    the unbind succeeds, as it does for an environment already DELETING."""
    kube = KubeServer(tmp_path / "data")
    try:
        ctx = kube.ctx
        p, env = provisioned(kube, "overtaken-rt")

        def deprovision() -> None:
            EnvironmentService(ctx).delete(p, env.id)
            kube.runtimes.delete_cluster(env.cluster_id)

        backend = DeprovisionedMidway(kube.runtimes, deprovision)
        service = BindingService(ctx, backend)
        binding_id = service.create(p, env.id, {"parameters": {"expiration_seconds": 600}}).id
        backend.arm()
        assert service.delete(p, env.id, binding_id)["bindingId"] == binding_id
        with ctx.store.read() as conn:
            assert conn.execute(kyma_bindings.select()).all() == []
    finally:
        kube.stop()


def test_the_reconcile_leaves_live_bindings_alone(tmp_path: Path) -> None:
    """Run by hand: a ready binding and a fresh one being made keep their objects; an orphan goes."""
    kube = KubeServer(tmp_path / "data")
    try:
        ctx = kube.ctx
        p, env = provisioned(kube, "rec-rt")
        service = BindingService(ctx, kube.runtimes)
        ready = service.create(p, env.id, {"parameters": {"expiration_seconds": 600}})
        runtime = Runtime(ready.body["credentials"]["kubeconfig"])
        making, orphan = str(uuid.uuid4()), str(uuid.uuid4())
        with ctx.store.write() as conn:
            conn.execute(
                kyma_bindings.insert().values(
                    id=making,
                    environment_id=env.id,
                    subaccount_id=p.subaccount_id,
                    expiration_seconds=600,
                    created_ms=0,
                    expires_ms=ctx.clock.now_ms() + 600_000,
                    kubeconfig="",
                    cleaned=False,
                    state="MAKING",
                    state_since=time.time(),
                )
            )
        runtime.make_objects(making, env.id)
        runtime.make_objects(orphan, env.id)
        assert service.reconcile(force=True) == 1
        assert set(runtime.binding_objects()) == {ready.id, making}
        runtime.close()
    finally:
        kube.stop()


def test_the_orphan_pass_looks_into_a_slice_of_the_runtimes_in_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each pass costs the same at any number of runtimes: with a slice of one, two runtimes with an
    orphan each are cleaned by two passes, one each, in the order of their ids; the third starts over."""
    monkeypatch.setattr("kymaprov.provisioning.bindings.ORPHAN_SLICE", 1)
    kube = KubeServer(tmp_path / "data")
    try:
        ctx = kube.ctx
        service = BindingService(ctx, kube.runtimes)
        login = ensure_defaults(ctx)
        assert login is not None
        runtimes = {}
        for name in ("slice-a", "slice-b"):  # one Kyma environment per subaccount: a subaccount each
            sub = create_subaccount(ctx, login["globalAccount"], name, name)
            p = Principal("c", "x", frozenset(), "password", sub.id, None, "dev@example.com")
            p, env = provisioned(kube, name, p)
            binding = service.create(p, env.id, {"parameters": {"expiration_seconds": 600}})
            runtime = Runtime(binding.body["credentials"]["kubeconfig"])
            orphan = str(uuid.uuid4())
            runtime.make_objects(orphan, env.id)
            runtimes[env.id] = (runtime, binding.id, orphan)
        first, second = sorted(runtimes)
        assert service.reconcile(force=True) == 1
        assert set(runtimes[first][0].binding_objects()) == {runtimes[first][1]}
        assert runtimes[second][2] in runtimes[second][0].binding_objects()
        assert service.reconcile(force=True) == 1
        assert set(runtimes[second][0].binding_objects()) == {runtimes[second][1]}
        runtimes[first][0].make_objects(orphan_again := str(uuid.uuid4()), first)
        assert service.reconcile(force=True) == 1  # started over at the first
        assert orphan_again not in runtimes[first][0].binding_objects()
        for runtime, _, _ in runtimes.values():
            runtime.close()
    finally:
        kube.stop()
