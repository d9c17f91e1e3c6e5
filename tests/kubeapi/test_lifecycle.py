"""Object lifecycle against a real server: finalizers and deletionTimestamp, namespace termination,
ownerReferences with the garbage collector (background, orphan, foreground), DeleteOptions; with
kubectl 1.27, 1.30 and 1.33 and the official Python client."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kymaprov.backends.base import ClusterAccess
from tests.kubeapi.conftest import Kube, Kubectl, KubeServer, write_kubeconfig

CM = "/api/v1/namespaces/default/configmaps"
VERSIONS = ["1.27", "1.30", "1.33"]


def wait(what: str, check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def events_since(admin: Kube, path: str, rv: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every watch event after ``rv`` (the watch ends after a second): type, name, metadata."""
    r = admin.get(path, params={"watch": "1", "resourceVersion": rv, "timeoutSeconds": "1"})
    assert r.status_code == 200, r.text
    events = [json.loads(line) for line in r.text.splitlines() if line.strip()]
    return [(e["type"], e["object"]["metadata"]["name"], e["object"]["metadata"]) for e in events]


def gone(admin: Kube, path: str) -> Callable[[], bool]:
    return lambda: admin.get(path).status_code == 404


def cm(name: str, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **meta}, "data": {"a": "1"}}


def owned_by(owner: dict[str, Any], block: bool = False) -> list[dict[str, Any]]:
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
    }
    if block:
        ref["blockOwnerDeletion"] = True
    return [ref]


@pytest.mark.parametrize("version", VERSIONS)
def test_kubectl_finalizer_holds_delete(
    admin: Kube, access: ClusterAccess, tmp_path: Path, version: str
) -> None:
    kubectl = Kubectl(tmp_path, access, version=version)
    created = admin.create(CM, cm("held", finalizers=["example.com/hold"]))
    rv = created["metadata"]["resourceVersion"]

    deleted = kubectl("delete", "configmap", "held", "--wait=false")
    assert deleted.returncode == 0, deleted.stderr
    assert 'configmap "held" deleted' in deleted.stdout
    held = admin.get(f"{CM}/held").json()
    meta = held["metadata"]
    assert meta["deletionTimestamp"] and meta["deletionGracePeriodSeconds"] == 0
    assert meta["finalizers"] == ["example.com/hold"]

    again = admin.delete(f"{CM}/held")  # idempotent: the object, unchanged
    assert again.status_code == 200 and again.json()["metadata"] == meta
    more = admin.request(
        "PATCH",
        f"{CM}/held",
        content=json.dumps({"metadata": {"finalizers": ["example.com/hold", "example.com/new"]}}),
        headers={"content-type": "application/merge-patch+json"},
    )
    assert more.status_code == 422
    assert more.json()["message"] == (
        'ConfigMap "held" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the '
        'object is being deleted, found new finalizers []string{"example.com/new"}'
    )
    unset = admin.request(  # deletionTimestamp cannot be unset; spec (data) may still change
        "PATCH",
        f"{CM}/held",
        content=json.dumps({"metadata": {"deletionTimestamp": None}, "data": {"a": "2"}}),
        headers={"content-type": "application/merge-patch+json"},
    )
    assert (
        unset.status_code == 200
        and unset.json()["metadata"]["deletionTimestamp"] == meta["deletionTimestamp"]
    )

    released = kubectl("patch", "configmap", "held", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    assert released.returncode == 0, released.stderr
    assert admin.get(f"{CM}/held").status_code == 404
    seen = [(kind, name) for kind, name, _ in events_since(admin, CM, rv)]
    assert seen == [("MODIFIED", "held"), ("MODIFIED", "held"), ("DELETED", "held")]


@pytest.mark.parametrize("version", VERSIONS)
def test_kubectl_namespace_terminates_after_content(
    admin: Kube, access: ClusterAccess, tmp_path: Path, version: str
) -> None:
    kubectl = Kubectl(tmp_path, access, version=version)
    ns = "/api/v1/namespaces/team"
    created = admin.create("/api/v1/namespaces", {"metadata": {"name": "team"}})
    assert created["spec"] == {"finalizers": ["kubernetes"]}
    admin.create(f"{ns}/configmaps", cm("held", finalizers=["example.com/hold"]))
    admin.create(f"{ns}/configmaps", cm("plain"))

    deleted = kubectl("delete", "namespace", "team", "--wait=false")
    assert deleted.returncode == 0, deleted.stderr
    wait("the unheld content to go", gone(admin, f"{ns}/configmaps/plain"))

    def reported() -> bool:
        conditions = admin.get(ns).json()["status"].get("conditions") or []
        return any(c["type"] == "NamespaceFinalizersRemaining" and c["status"] == "True" for c in conditions)

    wait("the namespace's conditions", reported)
    namespace = admin.get(ns).json()
    assert namespace["status"]["phase"] == "Terminating" and namespace["metadata"]["deletionTimestamp"]
    conditions = {c["type"]: c for c in namespace["status"]["conditions"]}
    assert conditions["NamespaceContentRemaining"]["message"] == (
        "Some resources are remaining: configmaps. has 1 resource instances"
    )
    assert conditions["NamespaceFinalizersRemaining"]["message"] == (
        "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
    )
    assert admin.get(f"{ns}/configmaps/held").json()["metadata"]["deletionTimestamp"]
    listed = kubectl("get", "namespace", "team")
    assert "Terminating" in listed.stdout, listed.stdout

    refused = kubectl("create", "configmap", "late", "-n", "team")
    assert refused.returncode != 0
    assert (
        'configmaps "late" is forbidden: unable to create new content in namespace team because it is being '
        "terminated" in refused.stderr
    )

    released = kubectl("patch", "configmap", "held", "-n", "team", "--type=json",
                       "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')  # fmt: skip
    assert released.returncode == 0, released.stderr
    wait("the namespace to go", gone(admin, ns))


def test_create_in_terminating_namespace_is_forbidden(admin: Kube) -> None:
    admin.create("/api/v1/namespaces", {"metadata": {"name": "closing"}})
    admin.create("/api/v1/namespaces/closing/configmaps", cm("held", finalizers=["example.com/hold"]))
    assert admin.delete("/api/v1/namespaces/closing").json()["status"]["phase"] == "Terminating"
    r = admin.post("/api/v1/namespaces/closing/configmaps", cm("late"))
    assert r.status_code == 403
    status = r.json()
    assert status["reason"] == "Forbidden"
    assert status["message"] == (
        'configmaps "late" is forbidden: unable to create new content in namespace closing because it is '
        "being terminated"
    )
    assert status["details"]["causes"] == [
        {
            "reason": "NamespaceTerminating",
            "message": "namespace closing is being terminated",
            "field": "metadata.namespace",
        }
    ]


def test_namespace_finalize_subresource(admin: Kube) -> None:
    """``PUT namespaces/<name>/finalize`` sets spec.finalizers; emptied on a deleting namespace, it goes."""
    ns = admin.create("/api/v1/namespaces", {"metadata": {"name": "fin", "finalizers": ["example.com/x"]}})
    ns["spec"]["finalizers"] = ["kubernetes", "example.com/other"]
    r = admin.request("PUT", "/api/v1/namespaces/fin/finalize", json=ns)
    assert r.status_code == 200, r.text
    assert r.json()["spec"]["finalizers"] == ["kubernetes", "example.com/other"]
    admin.delete("/api/v1/namespaces/fin")

    def waiting_on_other() -> bool:
        return admin.get("/api/v1/namespaces/fin").json()["spec"]["finalizers"] == ["example.com/other"]

    wait("the controller to remove its finalizer", waiting_on_other)
    current = admin.get("/api/v1/namespaces/fin").json()
    current["spec"]["finalizers"] = []
    assert admin.request("PUT", "/api/v1/namespaces/fin/finalize", json=current).status_code == 200
    assert admin.get("/api/v1/namespaces/fin").json()["metadata"]["finalizers"] == ["example.com/x"]
    patch = {"metadata": {"finalizers": None}}
    r = admin.request("PATCH", "/api/v1/namespaces/fin", content=json.dumps(patch),
                      headers={"content-type": "application/merge-patch+json"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert admin.get("/api/v1/namespaces/fin").status_code == 404


@pytest.mark.parametrize("version", VERSIONS)
def test_kubectl_cascade(admin: Kube, access: ClusterAccess, tmp_path: Path, version: str) -> None:
    kubectl = Kubectl(tmp_path, access, version=version)

    # background (kubectl's default): the dependent goes after its owner
    owner = admin.create(CM, cm("owner-bg"))
    admin.create(CM, cm("dep-bg", ownerReferences=owned_by(owner)))
    assert kubectl("delete", "configmap", "owner-bg").returncode == 0
    wait("the dependent to be collected", gone(admin, f"{CM}/dep-bg"))

    # orphan: the owner goes, the dependent stays without the reference
    owner = admin.create(CM, cm("owner-or"))
    admin.create(CM, cm("dep-or", ownerReferences=owned_by(owner)))
    orphaned = kubectl("delete", "configmap", "owner-or", "--cascade=orphan")
    assert orphaned.returncode == 0, orphaned.stderr
    wait("the owner to go", gone(admin, f"{CM}/owner-or"))
    dependent = admin.get(f"{CM}/dep-or").json()
    assert "ownerReferences" not in dependent["metadata"]

    # foreground: the owner waits with foregroundDeletion until its blocking dependent is gone
    owner = admin.create(CM, cm("owner-fg"))
    admin.create(
        CM, cm("dep-fg", ownerReferences=owned_by(owner, block=True), finalizers=["example.com/hold"])
    )
    held = kubectl("delete", "configmap", "owner-fg", "--cascade=foreground", "--wait=false")
    assert held.returncode == 0, held.stderr
    wait(
        "the dependent to be deleted",
        lambda: "deletionTimestamp" in admin.get(f"{CM}/dep-fg").json()["metadata"],
    )
    meta = admin.get(f"{CM}/owner-fg").json()["metadata"]
    assert meta["finalizers"] == ["foregroundDeletion"] and meta["deletionTimestamp"]
    time.sleep(0.3)  # the collector must keep holding it
    assert admin.get(f"{CM}/owner-fg").status_code == 200
    kubectl("patch", "configmap", "dep-fg", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    wait("the owner to go after its dependent", gone(admin, f"{CM}/owner-fg"))
    assert admin.get(f"{CM}/dep-fg").status_code == 404


def test_python_client_delete_options(admin: Kube, access: ClusterAccess, tmp_path: Path) -> None:
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    core = k8s.CoreV1Api(
        k8s_config.new_client_from_config(config_file=str(write_kubeconfig(tmp_path / "kc", access)))
    )
    owner = core.create_namespaced_config_map("default", k8s.V1ConfigMap.model_validate(cm("py-owner")))
    assert owner.metadata is not None
    core.create_namespaced_config_map(
        "default",
        k8s.V1ConfigMap.model_validate(
            cm("py-dep", ownerReferences=[{"apiVersion": "v1", "kind": "ConfigMap", "name": "py-owner",
                                           "uid": owner.metadata.uid, "blockOwnerDeletion": True}])
        ),
    )  # fmt: skip
    dry = core.delete_namespaced_config_map(
        "py-owner", "default", dry_run="All", propagation_policy="Foreground"
    )
    # the client expects a V1Status and hands back the object kube answers as a dict
    assert isinstance(dry, dict)
    assert dry["metadata"]["deletionTimestamp"] and dry["metadata"]["finalizers"] == ["foregroundDeletion"]
    still = core.read_namespaced_config_map("py-owner", "default")
    assert still.metadata is not None and still.metadata.deletion_timestamp is None
    kept = core.delete_namespaced_config_map("py-owner", "default", propagation_policy="Foreground")
    assert isinstance(kept, dict)
    assert kept["metadata"]["finalizers"] == ["foregroundDeletion"]
    wait("both to go", lambda: admin.get(f"{CM}/py-owner").status_code == 404)
    assert admin.get(f"{CM}/py-dep").status_code == 404
    with pytest.raises(k8s.ApiException) as refused:
        core.delete_namespaced_config_map("py-none", "default", propagation_policy="Sideways")
    assert refused.value.status == 422
    assert refused.value.body is not None
    assert json.loads(refused.value.body)["message"] == (
        'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Sideways": '
        'supported values: "Foreground", "Background", "Orphan", "nil"'
    )


def test_generation_bumped_when_deletion_starts(admin: Kube) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments"
    body = {
        "metadata": {"name": "web", "finalizers": ["example.com/hold"]},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        },
    }
    assert admin.create(path, body)["metadata"]["generation"] == 1
    marked = admin.delete(f"{path}/web")
    assert marked.status_code == 200
    assert marked.json()["metadata"]["generation"] == 2
    assert admin.delete(f"{path}/web").json()["metadata"]["generation"] == 2  # once


def test_orphan_dependents_false_answers_202(admin: Kube) -> None:
    """kube answers 202 for a delete that did not finish only when ``orphanDependents: false`` asked
    for it (no foregroundDeletion finalizer then: an explicit orphanDependents overrides both)."""
    admin.create(CM, cm("legacy", finalizers=["example.com/hold"]))
    r = admin.request("DELETE", f"{CM}/legacy", json={"orphanDependents": False})
    assert r.status_code == 202
    assert r.json()["metadata"]["finalizers"] == ["example.com/hold"]
    admin.create(CM, cm("plain"))
    r = admin.request("DELETE", f"{CM}/plain", json={"orphanDependents": False})
    assert r.status_code == 200 and r.json()["kind"] == "Status"


def test_one_replica_acts_per_cluster(kube_server: KubeServer, access: ClusterAccess) -> None:
    """The lease: a second manager on the same database neither takes the cluster nor acts on it."""
    from kymaprov.kubeapi.controllers.manager import ControllerManager

    other = ControllerManager(
        kube_server.ctx, kube_server.runtimes.authenticator, kube_server.runtimes.admin_token
    )
    cluster = access.server.rsplit("/", 1)[1]
    assert kube_server.controllers._lease(cluster)
    assert not other._lease(cluster)
    assert kube_server.controllers._lease(cluster)  # renewed by its holder


def test_a_deleted_cluster_leaves_no_controller_lease(kube_server: KubeServer, access: ClusterAccess) -> None:
    """Deleting a cluster drops its lease, and a pass still running for it cannot take a new one."""
    import sqlalchemy as sa

    from kymaprov.kubeapi.models import controller_leases

    cluster = access.server.rsplit("/", 1)[1]
    leases = sa.select(controller_leases.c.cluster_id).where(controller_leases.c.cluster_id == cluster)
    assert kube_server.controllers._lease(cluster)
    with kube_server.ctx.store.read() as conn:
        assert conn.execute(leases).all()
    kube_server.runtimes.delete_cluster(cluster)
    with kube_server.ctx.store.read() as conn:
        assert not conn.execute(leases).all()
    assert not kube_server.controllers._lease(cluster)  # a pass that began before the delete
    with kube_server.ctx.store.read() as conn:
        assert not conn.execute(leases).all()
