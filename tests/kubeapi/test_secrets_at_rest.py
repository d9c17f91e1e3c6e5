"""Kubernetes Secrets are sealed in the database (encryption at rest); every read path decrypts."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
from typing import Any

from tests.kubeapi.conftest import Kube, KubeServer

SECRETS = "/api/v1/namespaces/default/secrets"
VALUE = "s3cr3t-value-that-must-not-be-stored-in-clear"
ENCODED = base64.b64encode(VALUE.encode()).decode()


def _rows(server: KubeServer, cluster_id: str, name: str) -> list[str]:
    with sqlite3.connect(server.data_dir / "kymaprov.db") as db:
        rows = db.execute(
            "SELECT body FROM kube_objects WHERE cluster_id = ? AND resource = 'secrets' AND name = ?",
            (cluster_id, name),
        ).fetchall()
    return [str(r[0]) for r in rows]


def _cluster_id(admin: Kube) -> str:
    return admin.access.server.rstrip("/").rsplit("/", 1)[-1]


def test_secret_values_are_not_stored_in_clear(kube_server: KubeServer, admin: Kube) -> None:
    created = admin.create(
        SECRETS,
        {"metadata": {"name": "creds"}, "data": {"password": ENCODED}, "stringData": {"token": VALUE[::-1]}},
    )
    assert created["data"]["password"] == ENCODED
    [stored] = _rows(kube_server, _cluster_id(admin), "creds")
    for clear in (VALUE, ENCODED, VALUE[::-1], base64.b64encode(VALUE[::-1].encode()).decode()):
        assert clear not in stored
    assert stored.startswith("k8s:enc:aesgcm:v1:")
    assert admin.get(f"{SECRETS}/creds").json()["data"]["password"] == ENCODED
    listed = admin.get(SECRETS).json()["items"]
    assert [i["data"]["password"] for i in listed if i["metadata"]["name"] == "creds"] == [ENCODED]


def test_watch_decrypts_and_clear_rows_of_before_still_read(kube_server: KubeServer, admin: Kube) -> None:
    admin.create(SECRETS, {"metadata": {"name": "old"}, "data": {"password": ENCODED}})
    cluster = _cluster_id(admin)
    [sealed] = _rows(kube_server, cluster, "old")
    clear = kube_server.ctx.sealer.open_str(sealed.removeprefix("k8s:enc:aesgcm:v1:"))
    with sqlite3.connect(kube_server.data_dir / "kymaprov.db") as db:  # a row written before sealing
        db.execute("UPDATE kube_objects SET body = ? WHERE cluster_id = ? AND name = 'old'", (clear, cluster))
    assert admin.get(f"{SECRETS}/old").json()["data"]["password"] == ENCODED

    def later() -> None:
        time.sleep(0.5)
        admin.create(SECRETS, {"metadata": {"name": "new"}, "data": {"password": ENCODED}})
        r = admin.request(
            "PATCH", f"{SECRETS}/old", content=json.dumps({"metadata": {"labels": {"a": "b"}}}),
            headers={"content-type": "application/merge-patch+json"},
        )  # fmt: skip
        assert r.status_code == 200, r.text

    writer = threading.Thread(target=later)
    writer.start()
    with admin.client.stream(
        "GET", SECRETS, params={"watch": "true", "timeoutSeconds": "2"},
        extensions={"sni_hostname": admin.access.tls_server_name},
    ) as r:  # fmt: skip
        events: list[dict[str, Any]] = [json.loads(line) for line in r.iter_lines() if line.strip()]
    writer.join()  # before the fixture closes the client it uses
    seen = {(e["type"], e["object"]["metadata"]["name"]): e["object"] for e in events}
    assert {("ADDED", "old"), ("ADDED", "new"), ("MODIFIED", "old")} <= set(seen)
    assert all(obj["data"]["password"] == ENCODED for obj in seen.values())
    # the clear row was sealed when it was next written
    [rewritten] = _rows(kube_server, cluster, "old")
    assert rewritten.startswith("k8s:enc:aesgcm:v1:") and ENCODED not in rewritten


def test_the_change_log_holds_secrets_sealed(kube_server: KubeServer, admin: Kube) -> None:
    admin.create(SECRETS, {"metadata": {"name": "logged"}, "data": {"password": ENCODED}})
    r = admin.request(
        "PATCH", f"{SECRETS}/logged", content=json.dumps({"metadata": {"labels": {"a": "b"}}}),
        headers={"content-type": "application/merge-patch+json"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert admin.delete(f"{SECRETS}/logged").status_code == 200
    with sqlite3.connect(kube_server.data_dir / "kymaprov.db") as db:
        rows = db.execute(
            "SELECT type, body, prev_body FROM kube_events WHERE cluster_id = ? AND name = 'logged'"
            " ORDER BY resource_version",
            (_cluster_id(admin),),
        ).fetchall()
    assert [row[0] for row in rows] == ["ADDED", "MODIFIED", "DELETED"]
    stored = [text for row in rows for text in row[1:] if text is not None]
    assert len(stored) == 5 and all(text.startswith("k8s:enc:aesgcm:v1:") for text in stored)
    assert not any(VALUE in text or ENCODED in text for text in stored)
