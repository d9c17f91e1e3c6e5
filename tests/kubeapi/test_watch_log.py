"""Watch from the change log, with the official ``kubernetes`` client and kubectl against a real server:
every write after the watch's resourceVersion arrives, in order, once; compacted versions are 410."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client, config, watch

from kymaprov.backends.base import ClusterAccess
from tests.kubeapi.conftest import Kube, Kubectl, KubeServer, write_kubeconfig

CM = "/api/v1/namespaces/default/configmaps"


def _core(tmp_path: Path, access: ClusterAccess) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(str(write_kubeconfig(tmp_path / "kc", access))))


class Collector:
    """A raw watch stream read in a thread; ``wait_for(n)`` returns once ``n`` events arrived.

    Use it as a context manager: leaving ends the stream and joins the thread before the test's client
    is closed. Closing a connection that another thread still reads frees its descriptor; the next test's
    connection gets that number and the reader's TLS consumes its bytes (``BAD_RECORD_MAC``, "peer closed
    connection") under parallel runs.
    """

    def __init__(self, kube: Kube, params: dict[str, str]) -> None:
        self.events: list[dict[str, Any]] = []
        self._kube = kube
        self._params = {"watch": "true", "timeoutSeconds": "5", **params}
        self._socket: socket.socket | None = None
        self._done = threading.Event()
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Collector:
        self._thread.start()
        assert self.connected.wait(5), "the watch did not connect"
        return self

    def __exit__(self, *_: object) -> None:
        if self._socket is not None:  # unblocks the reader; unlike close, keeps the descriptor taken
            socket.socket.shutdown(self._socket, socket.SHUT_RDWR)
        self._thread.join(10)
        assert not self._thread.is_alive(), "the watch reader did not stop"

    def _run(self) -> None:
        try:
            with self._kube.client.stream(
                "GET", CM, params=self._params, extensions={"sni_hostname": self._kube.access.tls_server_name}
            ) as r:
                assert r.status_code == 200
                self._socket = r.extensions["network_stream"].get_extra_info("socket")
                self.connected.set()
                for line in r.iter_lines():
                    if line.strip():
                        self.events.append(json.loads(line))
        except httpx.HTTPError:  # the stream was shut down by __exit__
            pass
        finally:
            self._done.set()

    def wait_for(self, count: int, seconds: float = 5) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while len(self.events) < count and time.monotonic() < deadline and not self._done.is_set():
            time.sleep(0.02)
        return list(self.events)


def _summary(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events]


def test_watch_from_a_lists_version_delivers_a_delete_made_in_between(
    tmp_path: Path, access: ClusterAccess
) -> None:
    core = _core(tmp_path, access)
    core.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="gone"), data={"a": "1"})
    )
    core.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="kept"))
    )
    listed = core.list_namespaced_config_map("default")
    assert listed.metadata is not None and listed.metadata.resource_version is not None
    core.delete_namespaced_config_map("gone", "default")
    stream = watch.Watch()
    events = []
    for event in stream.stream(
        core.list_namespaced_config_map,
        "default",
        resource_version=listed.metadata.resource_version,
        timeout_seconds=3,
    ):
        events.append(event)
        stream.stop()
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("DELETED", "gone")]
    deleted = events[0]["object"]
    assert deleted.data == {"a": "1"}
    assert int(deleted.metadata.resource_version) > int(listed.metadata.resource_version)


def test_rapid_patches_arrive_as_one_modified_each_in_order(admin: Kube) -> None:
    created = admin.create(CM, {"metadata": {"name": "rapid"}, "data": {"n": "0"}})
    with Collector(admin, {"resourceVersion": created["metadata"]["resourceVersion"]}) as watcher:
        for i in range(1, 6):
            r = admin.request(
                "PATCH",
                f"{CM}/rapid",
                content=json.dumps({"data": {"n": str(i)}}),
                headers={"content-type": "application/merge-patch+json"},
            )
            assert r.status_code == 200, r.text
        events = watcher.wait_for(5)
    assert [(e["type"], e["object"]["data"]["n"]) for e in events] == [
        ("MODIFIED", str(i)) for i in range(1, 6)
    ]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions) and len(set(versions)) == 5


def test_a_short_lived_object_is_seen_added_and_deleted(admin: Kube) -> None:
    rv = admin.get(CM).json()["metadata"]["resourceVersion"]
    with Collector(admin, {"resourceVersion": rv}) as watcher:
        admin.create(CM, {"metadata": {"name": "blink"}})
        assert admin.delete(f"{CM}/blink").status_code == 200
        assert _summary(watcher.wait_for(2)) == [("ADDED", "blink"), ("DELETED", "blink")]


def test_selectors_turn_label_changes_into_added_and_deleted(admin: Kube) -> None:
    admin.create(CM, {"metadata": {"name": "sel", "labels": {"app": "x"}}})
    rv = admin.get(CM).json()["metadata"]["resourceVersion"]
    with Collector(admin, {"resourceVersion": rv, "labelSelector": "app=y"}) as watcher:
        for app in ("y", "y", "x"):
            body = {"metadata": {"labels": {"app": app}}, "data": {"at": str(time.monotonic())}}
            r = admin.request(
                "PATCH",
                f"{CM}/sel",
                content=json.dumps(body),
                headers={"content-type": "application/merge-patch+json"},
            )
            assert r.status_code == 200, r.text
        events = watcher.wait_for(3)
    assert _summary(events) == [("ADDED", "sel"), ("MODIFIED", "sel"), ("DELETED", "sel")]
    assert events[2]["object"]["metadata"]["labels"] == {"app": "y"}  # the last state that matched


def test_a_compacted_version_is_410_expired(
    tmp_path: Path, kube_server: KubeServer, admin: Kube, access: ClusterAccess
) -> None:
    old = admin.create(CM, {"metadata": {"name": "old"}})["metadata"]["resourceVersion"]
    admin.create(CM, {"metadata": {"name": "older"}})
    kube_server.ctx.clock.advance(301)  # past the log's 5 minutes: the next write compacts
    new = int(admin.create(CM, {"metadata": {"name": "new"}})["metadata"]["resourceVersion"])
    with admin.client.stream(
        "GET",
        CM,
        params={"watch": "true", "resourceVersion": old, "timeoutSeconds": "5"},
        extensions={"sni_hostname": access.tls_server_name},
    ) as r:
        assert r.status_code == 200
        lines = [json.loads(line) for line in r.iter_lines() if line.strip()]
    # the first write after the advance compacts everything before it: ours, or one of the runtime's
    # controllers (a node Lease renewal) if it wrote first
    message = lines[0]["object"]["message"] if len(lines) == 1 else ""
    found = re.fullmatch(rf"too old resource version: {old} \((\d+)\)", message)
    assert found and int(old) < int(found.group(1)) < new, lines
    compacted = int(found.group(1))
    assert lines == [
        {
            "type": "ERROR",
            "object": {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": message,
                "reason": "Expired",
                "code": 410,
            },
        }
    ]
    core = _core(tmp_path, access)
    with pytest.raises(client.ApiException) as gone:  # the client retries a 410 once, then raises it
        for _ in watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=old):
            pass
    assert gone.value.status == 410
    # the retained window still serves: from the compaction point on, the new object is ADDED
    with Collector(admin, {"resourceVersion": str(compacted), "timeoutSeconds": "1"}) as recent:
        assert _summary(recent.wait_for(1)) == [("ADDED", "new")]


@contextmanager
def _kubectl_watch(kubectl: Kubectl, *args: str) -> Iterator[list[str]]:
    """``kubectl get ... -w`` in the background; yields its stdout lines as they arrive."""
    proc = subprocess.Popen(
        [kubectl.binary, "--kubeconfig", str(kubectl.kubeconfig), "--cache-dir", str(kubectl.cache), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield lines
    finally:
        proc.terminate()
        proc.wait(10)
        reader.join(5)


def _until(lines: list[str], predicate: Any, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate(lines):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("version", ["1.27", "1.30", "1.33"])
def test_kubectl_watch_sees_added_modified_deleted_of_a_short_lived_object(
    tmp_path: Path, access: ClusterAccess, admin: Kube, version: str
) -> None:
    admin.create(CM, {"metadata": {"name": "anchor"}})
    kubectl = Kubectl(tmp_path, access, version=version)
    with _kubectl_watch(kubectl, "get", "cm", "-w", "--output-watch-events") as lines:
        assert _until(lines, lambda ls: any("anchor" in line for line in ls)), lines
        admin.create(CM, {"metadata": {"name": "blink"}, "data": {"a": "1"}})
        r = admin.request(
            "PATCH",
            f"{CM}/blink",
            content='{"data":{"b":"2"}}',
            headers={"content-type": "application/merge-patch+json"},
        )
        assert r.status_code == 200
        assert admin.delete(f"{CM}/blink").status_code == 200

        def seen(ls: list[str]) -> list[str]:
            return [line.split()[0] for line in ls if " blink " in f" {line} "]

        assert _until(lines, lambda ls: len(seen(ls)) >= 3), lines
        assert seen(lines) == ["ADDED", "MODIFIED", "DELETED"]
