"""The service's calls to an embedded runtime of its own process (``kubeapi/loopback.py``) answer as the
same calls over HTTPS do, and are authenticated and authorized as they are."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from kymaprov.backends.base import ClusterAccess
from kymaprov.backends.kubeclient import KubeClient, KubeClientError
from tests.kubeapi.conftest import Kube, KubeServer

CMS = "/api/v1/namespaces/default/configmaps"
SAS = "/api/v1/namespaces/kyma-system/serviceaccounts"


def over_https(access: ClusterAccess) -> ClusterAccess:
    return dataclasses.replace(access, loopback=None)


def comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """An object without what differs between two writes of it (uid, version, times)."""
    meta = {
        k: v for k, v in obj["metadata"].items() if k not in ("uid", "resourceVersion", "creationTimestamp")
    }
    meta["managedFields"] = [
        {k: v for k, v in f.items() if k != "time"} for f in meta.get("managedFields", [])
    ]
    return {**obj, "metadata": meta}


def test_the_access_of_an_embedded_runtime_calls_it_in_process(access: ClusterAccess) -> None:
    assert access.loopback is not None
    assert access.record().keys() == {f.name for f in dataclasses.fields(access)} - {"loopback"}


def test_loopback_and_https_give_the_same_answers(access: ClusterAccess) -> None:
    with KubeClient(access) as inside, KubeClient(over_https(access)) as outside:
        answers = []
        for client, name in ((inside, "in"), (outside, "out")):
            created = client.create(
                CMS, {"metadata": {"name": f"cm-{name}"}, "data": {"k": "v"}}, exist_ok=False
            )
            got = client.get(f"{CMS}/cm-{name}")
            assert got == created
            patched = client.merge_patch(f"{CMS}/cm-{name}", {"data": {"k": "w"}})
            with pytest.raises(KubeClientError) as exists:
                client.create(CMS, {"metadata": {"name": f"cm-{name}"}}, exist_ok=False)
            with pytest.raises(KubeClientError) as missing:
                client.get(f"{CMS}/none-{name}")
            listed = client.list(CMS, f"app notin (x),k!=v-{name}")
            client.delete(f"{CMS}/cm-{name}")
            client.delete(f"{CMS}/cm-{name}")  # NotFound is tolerated
            answers.append(
                (
                    comparable({**created, "metadata": {**created["metadata"], "name": "cm"}}),
                    patched["data"],
                    (exists.value.status, exists.value.message.replace(name, "*")),
                    (missing.value.status, missing.value.message.replace(name, "*")),
                    sorted(i["metadata"]["name"].replace(name, "*") for i in listed),
                )
            )
        assert answers[0] == answers[1]
        manager = answers[0][0]["metadata"]["managedFields"][0]["manager"]
        assert manager == "kyma-environment-broker"  # as on a runtime KEB writes to


def test_loopback_calls_are_authenticated_and_authorized(
    kube_server: KubeServer, access: ClusterAccess
) -> None:
    with KubeClient(dataclasses.replace(access, token="not-a-token")) as stranger:
        with pytest.raises(KubeClientError) as refused:
            stranger.get(CMS)
        assert refused.value.status == 401
    admin = Kube(access)
    admin.create(SAS, {"metadata": {"name": "loopback-viewer"}})
    admin.create(
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {
            "metadata": {"name": "loopback-view"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "loopback-viewer", "namespace": "kyma-system"}],
        },
    )
    token = admin.create(f"{SAS}/loopback-viewer/token", {"spec": {"expirationSeconds": 600}})["status"][
        "token"
    ]
    admin.close()
    with KubeClient(dataclasses.replace(access, token=token)) as viewer:
        assert viewer.list(CMS) is not None  # view may list
        with pytest.raises(KubeClientError) as forbidden:
            viewer.create(CMS, {"metadata": {"name": "nope"}}, exist_ok=False)
        assert forbidden.value.status == 403
    other = kube_server.cluster("other")
    with KubeClient(dataclasses.replace(access, token=other.token)) as wrong_cluster:
        with pytest.raises(KubeClientError) as refused:
            wrong_cluster.get(CMS)
        assert refused.value.status == 401


def test_a_deleted_runtime_refuses_loopback_calls(kube_server: KubeServer) -> None:
    access = kube_server.cluster("short-lived")
    with KubeClient(access) as kube:
        assert kube.list(SAS) is not None
        kube_server.runtimes.delete_cluster(access.server.rsplit("/", 1)[1])
        with pytest.raises(KubeClientError) as refused:
            kube.list(SAS)
        assert refused.value.status == 401


def test_a_watch_is_not_served_in_process(access: ClusterAccess) -> None:
    assert access.loopback is not None
    status, body = access.loopback.call(("GET", CMS, {"watch": "true"}), access.token, b"", "", "test")
    assert status == 406
    assert "HTTPS" in body["message"]
