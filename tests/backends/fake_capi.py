"""A management cluster for the ``cluster-api`` backend's tests: an embedded runtime with Cluster API's
``Cluster`` CRD, and a small controller (a thread acting only through that runtime's Kubernetes API)
that plays Cluster API's controllers.

It moves each Cluster through Cluster API's phases and conditions as the service clock passes
``minutes`` (a runtime named ``fail...`` fails instead), writes the ``<name>-kubeconfig`` Secret
once the control plane is initialized (pointing at ``workload``), acknowledges a topology change after
``minutes`` and removes its finalizer ``minutes`` after a deletion. ``hold`` (when cleared) keeps every
Cluster in Provisioning. A watch records every Cluster ever ADDED, to count creations.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from kymaprov.backends.base import ClusterAccess
from kymaprov.backends.kubeclient import KubeClient, KubeClientError
from tests.kubeapi.conftest import KubeServer, ca_context
from tests.support.server import RunningServer, free_port

NAMESPACE = "kyma-runtimes"
CLUSTERS = f"/apis/cluster.x-k8s.io/v1beta1/namespaces/{NAMESPACE}/clusters"
SECRETS = f"/api/v1/namespaces/{NAMESPACE}/secrets"
FINALIZER = "cluster.cluster.x-k8s.io"

CLUSTER_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "clusters.cluster.x-k8s.io"},
    "spec": {
        "group": "cluster.x-k8s.io",
        "scope": "Namespaced",
        "names": {"plural": "clusters", "singular": "cluster", "kind": "Cluster", "listKind": "ClusterList"},
        "versions": [
            {
                "name": "v1beta1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                ],
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}


def kubeconfig_text(access: ClusterAccess) -> str:
    """A kubeconfig as Cluster API writes one into ``<name>-kubeconfig`` (here with a token)."""
    cluster: dict[str, Any] = {"server": access.server, "certificate-authority-data": access.ca_data}
    if access.tls_server_name:
        cluster["tls-server-name"] = access.tls_server_name
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "workload", "cluster": cluster}],
            "users": [{"name": "workload-admin", "user": {"token": access.token}}],
            "contexts": [
                {
                    "name": "workload-admin@workload",
                    "context": {"cluster": "workload", "user": "workload-admin"},
                }
            ],
            "current-context": "workload-admin@workload",
        }
    )


def install(management: ClusterAccess) -> None:
    """The CRD (waiting until it is established) and the namespace the backend writes to."""
    with KubeClient(management) as kube:
        kube.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CLUSTER_CRD)
        kube.create(
            "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                kube.list(CLUSTERS)
                return
            except KubeClientError:
                assert time.monotonic() < deadline, "the Cluster CRD was not established"
                time.sleep(0.1)


def _conditions(now: float, **states: tuple[bool, str]) -> list[dict[str, Any]]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    return [
        {
            "type": kind,
            "status": "True" if ok else "False",
            "lastTransitionTime": stamp,
            **({} if ok else {"severity": "Info", "reason": reason, "message": f"Waiting: {reason}"}),
        }
        for kind, (ok, reason) in states.items()
    ]


def _summary(status: dict[str, Any]) -> tuple[Any, ...]:
    """A status without its timestamps."""
    conditions = [(c["type"], c["status"]) for c in status.get("conditions") or []]
    keys = ("phase", "infrastructureReady", "controlPlaneReady", "observedGeneration")
    return (*(status.get(k) for k in keys), conditions)


class FakeClusterApi:
    """Cluster API's controllers as far as the backend can tell; ``now`` is the service clock."""

    def __init__(
        self, management: ClusterAccess, workload: ClusterAccess, now: Callable[[], float], minutes: float = 3
    ) -> None:
        self.kube = KubeClient(management)
        self.management = management
        self.workload = workload
        self.now = now
        self.step = minutes * 60
        self.hold = threading.Event()
        self.hold.set()  # set: the Clusters may progress
        self.added: list[str] = []  # uid of every Cluster the watch saw ADDED, in order
        self.first_seen: dict[str, float] = {}  # uid -> service time
        self.changed: dict[tuple[str, int], float] = {}  # (uid, generation) -> service time first seen
        self.deleting: dict[str, float] = {}
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, daemon=True),
            threading.Thread(target=self._watch, daemon=True),
        ]
        self._watching = threading.Event()
        self.on_added: Callable[[], None] | None = None  # called in the watch's thread on each ADDED

    def start(self) -> FakeClusterApi:
        for thread in self._threads:
            thread.start()
        assert self._watching.wait(10), "the watch did not start"
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)
        self.kube.close()

    def _watch(self) -> None:
        """Every Cluster ever created, from an empty list on: ADDED events of one long watch."""
        with httpx.Client(
            base_url=self.management.service_url,
            verify=ca_context(self.management),
            headers={"authorization": f"Bearer {self.management.token}"},
            timeout=httpx.Timeout(10, read=None),
        ) as client:
            extensions = (
                {"sni_hostname": self.management.tls_server_name} if self.management.tls_server_name else {}
            )
            version = client.get(CLUSTERS, extensions=extensions).json()["metadata"]["resourceVersion"]
            while not self._stop.is_set():
                params = {"watch": "true", "resourceVersion": version, "timeoutSeconds": "2"}
                with client.stream("GET", CLUSTERS, params=params, extensions=extensions) as r:
                    self._watching.set()
                    for line in r.iter_lines():
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        version = event["object"]["metadata"]["resourceVersion"]
                        if event["type"] == "ADDED":
                            self.added.append(event["object"]["metadata"]["uid"])
                            if self.on_added is not None:
                                self.on_added()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            try:
                now = self.now()
                for cluster in self.kube.list(CLUSTERS):
                    self._reconcile(cluster, now)
            except (KubeClientError, httpx.HTTPError, KeyError):
                continue  # kymaprov restarting (its clock unreadable) or a conflict: next round

    def _status(self, name: str, status: dict[str, Any]) -> None:
        self.kube.merge_patch(f"{CLUSTERS}/{name}/status", {"status": status})

    def _reconcile(self, cluster: dict[str, Any], now: float) -> None:
        meta, status = cluster["metadata"], cluster.get("status") or {}
        name, uid, generation = meta["name"], meta["uid"], meta.get("generation", 1)
        if meta.get("deletionTimestamp"):
            since = self.deleting.setdefault(uid, now)
            if now - since >= self.step:
                self.kube.merge_patch(f"{CLUSTERS}/{name}", {"metadata": {"finalizers": None}})
            elif status.get("phase") != "Deleting":
                self._status(name, {"phase": "Deleting"})
            return
        if FINALIZER not in (meta.get("finalizers") or []):
            self.kube.merge_patch(f"{CLUSTERS}/{name}", {"metadata": {"finalizers": [FINALIZER]}})
        start = self.first_seen.setdefault(uid, now)
        elapsed = (now - start) / self.step if self.step else 3.0
        if not self.hold.is_set():  # Provisioning: infrastructure ready, the control plane not yet
            elapsed = min(elapsed, 1.5)
        if status.get("phase") == "Failed":
            return
        runtime_name = (meta.get("annotations") or {}).get("kyma-project.io/runtime-name", "")
        if runtime_name.startswith("fail") and elapsed >= 1:
            self._status(
                name,
                {
                    "phase": "Failed",
                    "failureReason": "InvalidConfiguration",
                    "failureMessage": "machine type not offered in region",
                },
            )
            return
        infrastructure, initialized, ready = elapsed >= 1, elapsed >= 2, elapsed >= 3
        if initialized:
            self._write_kubeconfig(name, uid)
        observed = status.get("observedGeneration", generation)
        if ready and observed < generation:  # a topology change: rolled out a step after it was seen
            seen = self.changed.setdefault((uid, generation), now)
            if now - seen >= self.step:
                observed = generation
        elif not ready:
            observed = generation
        wanted = {
            "phase": "Provisioned" if ready else "Provisioning",
            "infrastructureReady": infrastructure,
            "controlPlaneReady": ready,
            "observedGeneration": observed,
            "conditions": _conditions(
                now,
                Ready=(ready and observed == generation, "ControlPlaneNotReady"),
                InfrastructureReady=(infrastructure, "WaitingForInfrastructure"),
                ControlPlaneInitialized=(initialized, "WaitingForControlPlaneProviderInitialized"),
                ControlPlaneReady=(ready, "ScalingUp"),
                TopologyReconciled=(observed == generation, "MachineDeploymentsRollingOut"),
            ),
        }
        if _summary(status) != _summary(wanted):  # written only when it changes, as controllers do
            self._status(name, wanted)

    def _write_kubeconfig(self, name: str, uid: str) -> None:
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "cluster.x-k8s.io/secret",
            "metadata": {
                "name": f"{name}-kubeconfig",
                "labels": {"cluster.x-k8s.io/cluster-name": name},
                "ownerReferences": [
                    {
                        "apiVersion": "cluster.x-k8s.io/v1beta1",
                        "kind": "Cluster",
                        "name": name,
                        "uid": uid,
                        "controller": True,
                    }
                ],
            },
            "data": {"value": base64.b64encode(kubeconfig_text(self.workload).encode()).decode()},
        }
        self.kube.create(SECRETS, secret)  # an existing one stays


CONFIG = """\
plans: {aws: capi, gcp: misplaced}
backends:
  capi:
    type: cluster-api
    kubeconfig: management.yaml
    namespace: kyma-runtimes
    clusterClass: kyma-aws
    classNamespace: capi-classes
    kubernetesVersion: v1.33.1
    controlPlaneReplicas: 3
    pollSeconds: 1
    variables: {imageRepository: registry.example.com/capi}
  misplaced:
    type: cluster-api
    kubeconfig: management.yaml
    namespace: no-such-namespace
    clusterClass: kyma-gcp
    kubernetesVersion: v1.33.1
"""


@contextmanager
def capi_kymaprov(
    base: Path, minutes: float, database_url: str | None = None
) -> Iterator[tuple[RunningServer, FakeClusterApi, KubeServer]]:
    """kymaprov serving the ``aws`` plan from Cluster API on a management cluster played by an embedded
    runtime (in this process), Cluster API played by ``FakeClusterApi``, a second runtime its workload."""
    kube = KubeServer(base / "kube")
    server: RunningServer | None = None
    fake: FakeClusterApi | None = None
    try:
        management, workload = kube.cluster("management"), kube.cluster("workload")
        install(management)
        (base / "management.yaml").write_text(kubeconfig_text(management))
        (base / "runtimes.yaml").write_text(CONFIG)
        server = RunningServer(
            base / "data",
            free_port(),
            free_port(),
            provisioning_seconds=0,
            database_url=database_url,
            extra_env={"KYMAPROV_RUNTIMES_CONFIG": str(base / "runtimes.yaml")},
        ).start()
        running = server
        # the phases follow kymaprov's clock; without time steps they need no kymaprov running
        now = time.time if not minutes else lambda: float(running.admin("GET", "/admin/clock")["now"])
        fake = FakeClusterApi(management, workload, now, minutes)
        yield server, fake.start(), kube
    finally:
        if fake is not None:
            fake.stop()
        if server is not None:
            server.stop()
        kube.stop()
