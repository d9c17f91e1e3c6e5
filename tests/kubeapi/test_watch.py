"""Watch streams of the real embedded API: events, bounded duration, and an end when the credential goes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from kymaprov.backends.base import ClusterAccess
from tests.kubeapi.conftest import Kube, KubeServer, binding_token

CM = "/api/v1/namespaces/default/configmaps"


def _watch(
    client: Kube, params: dict[str, str] | None = None, during: Callable[[], object] | None = None
) -> tuple[list[dict[str, Any]], float]:
    """Stream a ConfigMap watch to its end; ``during`` runs once the first event (or a second) passed.

    Returns the events and the seconds the stream lasted. The client's read timeout (10 s) fails a
    stream that does not end.
    """
    events: list[dict[str, Any]] = []
    started = time.monotonic()
    query = {"watch": "true", **(params or {})}
    with client.client.stream(
        "GET", CM, params=query, extensions={"sni_hostname": client.access.tls_server_name}
    ) as r:
        assert r.status_code == 200, r.read()
        if during is not None:
            threading.Timer(0.5, during).start()
        for line in r.iter_lines():
            if line.strip():
                events.append(json.loads(line))
    return events, time.monotonic() - started


def test_watch_delivers_deleted_events(admin: Kube) -> None:
    admin.create(CM, {"metadata": {"name": "w"}, "data": {"a": "1"}})
    admin.create(CM, {"metadata": {"name": "kept"}})
    events, _ = _watch(
        admin,
        {"timeoutSeconds": "2", "fieldSelector": "metadata.name!=kube-root-ca.crt"},
        lambda: admin.delete(f"{CM}/w").raise_for_status(),
    )
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "kept"),
        ("ADDED", "w"),
        ("DELETED", "w"),
    ]
    deleted = events[-1]["object"]
    assert deleted["data"] == {"a": "1"} and int(deleted["metadata"]["resourceVersion"]) > int(
        events[1]["object"]["metadata"]["resourceVersion"]
    )


def test_revoked_binding_ends_its_watch(admin: Kube, access: ClusterAccess) -> None:
    bound = Kube(access, binding_token(admin, "kyma-binding-revoked"))
    try:

        def revoke() -> None:  # what a binding DELETE does: KEB's objects go
            for path in (
                "/api/v1/namespaces/kyma-system/serviceaccounts/kyma-binding-revoked",
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/kyma-binding-revoked",
                "/apis/rbac.authorization.k8s.io/v1/clusterroles/kyma-binding-revoked",
            ):
                assert admin.delete(path).status_code == 200

        _, lasted = _watch(bound, {"timeoutSeconds": "60"}, revoke)
        assert lasted < 5
        assert bound.get(CM).status_code == 401
    finally:
        bound.close()


def test_expired_token_ends_its_watch(kube_server: KubeServer, admin: Kube, access: ClusterAccess) -> None:
    bound = Kube(access, binding_token(admin, "kyma-binding-expiring", expiration=600))
    try:
        _, lasted = _watch(bound, {"timeoutSeconds": "60"}, lambda: kube_server.ctx.clock.advance(601))
        assert lasted < 5
        assert bound.get(CM).status_code == 401
    finally:
        bound.close()


def test_watch_duration_is_capped_by_min_request_timeout(
    kube_server: KubeServer, admin: Kube, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kube_server.ctx.settings, "min_request_timeout", 1)
    _, lasted = _watch(admin, {"timeoutSeconds": "100000"})
    assert lasted < 5
    _, lasted = _watch(admin)  # no timeoutSeconds: random in [cap, 2*cap)
    assert 1 <= lasted < 5
    for bad in ("-1", "abc", "1.5"):
        r = admin.get(CM, params={"watch": "true", "timeoutSeconds": bad})
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["reason"] == "BadRequest" and "timeoutSeconds" in r.json()["message"]
