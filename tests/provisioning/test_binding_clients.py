"""A binding's kubeconfig, as the Provisioning Service ships it, with clients other than kubectl's
default path: lightkube and kopf (which ignore ``tls-server-name``) and ``kubectl proxy`` (which drops
the server URL's ``/clusters/<id>`` path)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import Api, RunningServer, kubectl_binary, new_api

OPERATOR = """
import os
import kopf

LOG = os.environ["OPERATOR_LOG"]


def note(line):
    with open(LOG, "a") as fh:
        fh.write(line + "\\n")


@kopf.on.create("configmaps", labels={"watched": "yes"})
def created(name, patch, **_):
    note(f"create {name}")
    patch.metadata.annotations["operator/seen"] = "created"


@kopf.on.update("configmaps", labels={"watched": "yes"}, field="data")
def updated(name, new, **_):
    note(f"update {name} {new['a']}")


@kopf.on.event("configmaps", labels={"watched": "yes"})
def event(type, name, **_):
    note(f"event {type} {name}")
"""


@pytest.fixture(scope="module")
def kubeconfig(server: RunningServer) -> str:
    """A binding's kubeconfig for a fresh runtime, exactly as the API returns it."""
    api: Api = new_api(server, "clients")
    env_id = api.create_kyma(name="clients-rt")
    api.wait_state(env_id)
    reply = api.request("PUT", f"/environments/{env_id}/bindings")
    assert reply.status_code in (201, 202), reply.text
    return str(reply.json()["credentials"]["kubeconfig"])


@pytest.fixture
def kubeconfig_file(kubeconfig: str, tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig.yaml"
    path.write_text(kubeconfig)
    return path


def wait_for(what: str, check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_lightkube_lists_and_creates(kubeconfig: str, kubeconfig_file: Path) -> None:
    from lightkube import ALL_NS, Client, KubeConfig
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.apps_v1 import Deployment
    from lightkube.resources.core_v1 import ConfigMap

    config = KubeConfig.from_dict(yaml.safe_load(kubeconfig))
    client = Client(config)
    deployments = [d.metadata.name for d in client.list(Deployment, namespace=ALL_NS) if d.metadata]
    assert "istio-controller-manager" in deployments, "the runtime has Kyma's module Deployments"
    client.create(ConfigMap(metadata=ObjectMeta(name="from-lightkube"), data={"a": "1"}), namespace="default")

    from_file = Client(KubeConfig.from_file(str(kubeconfig_file)))
    assert from_file.get(ConfigMap, "from-lightkube", namespace="default").data == {"a": "1"}
    from_file.delete(ConfigMap, "from-lightkube", namespace="default")


PROXY = ("proxy", "--port=0")


@pytest.fixture
def proxy(kubeconfig_file: Path, tmp_path: Path) -> Iterator[str]:
    """``kubectl proxy`` on a free port chosen by kubectl; yields its base URL."""
    proc = subprocess.Popen(
        [kubectl_binary("1.30"), "--kubeconfig", str(kubeconfig_file), "--cache-dir", str(tmp_path), *PROXY],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "Starting to serve on 127.0.0.1:<port>", possibly after a warning
        while line and "Starting to serve on" not in line:
            line = proc.stdout.readline()
        assert "Starting to serve on" in line, line
        yield "http://" + line.strip().rsplit(" ", 1)[1]
    finally:
        proc.terminate()
        proc.wait(10)


def test_kubectl_proxy_serves_the_runtime(proxy: str) -> None:
    with httpx.Client(base_url=proxy, timeout=10) as client:
        api = client.get("/api")
        assert api.status_code == 200, api.text
        assert api.json()["kind"] == "APIVersions"
        created = client.post(
            "/api/v1/namespaces/default/configmaps",
            json={"metadata": {"name": "via-proxy"}, "data": {"a": "1"}},
        )
        assert created.status_code == 201, created.text
        listed = client.get("/api/v1/namespaces/default/configmaps")
        assert listed.status_code == 200
        assert "via-proxy" in [item["metadata"]["name"] for item in listed.json()["items"]]
        assert client.delete("/api/v1/namespaces/default/configmaps/via-proxy").status_code == 200


def test_kopf_operator_handles_configmaps(kubeconfig: str, kubeconfig_file: Path, tmp_path: Path) -> None:
    """``kopf run`` logs in with the kubeconfig; create and update handlers fire and their patch lands;
    the deletion reaches its event handler."""
    operator = tmp_path / "operator.py"
    operator.write_text(OPERATOR)
    log = tmp_path / "operator.log"
    env = {**os.environ, "KUBECONFIG": str(kubeconfig_file), "OPERATOR_LOG": str(log)}
    command = [sys.executable, "-m", "kopf", "run", "--standalone", "--namespace", "default", str(operator)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # the test's own writes use the official client (which honours tls-server-name)
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    core = k8s.CoreV1Api(k8s_config.new_client_from_config(config_file=str(kubeconfig_file)))

    def watched(name: str) -> k8s.V1ConfigMap:
        return k8s.V1ConfigMap(
            metadata=k8s.V1ObjectMeta(name=name, labels={"watched": "yes"}), data={"a": "1"}
        )

    def lines() -> list[str]:
        return log.read_text().splitlines() if log.exists() else []

    def annotated() -> bool:
        metadata = core.read_namespaced_config_map("cm", "default").metadata
        annotations = (metadata.annotations if metadata else None) or {}
        return annotations.get("operator/seen") == "created"

    try:
        # kopf starts watching asynchronously: a first object tells when it sees changes
        core.create_namespaced_config_map("default", watched("marker"))
        wait_for("kopf to handle the marker", lambda: "create marker" in lines(), timeout=30)
        core.create_namespaced_config_map("default", watched("cm"))
        wait_for("the create handler", lambda: "create cm" in lines())
        wait_for("the create handler's patch", annotated)
        core.patch_namespaced_config_map("cm", "default", {"data": {"a": "2"}})
        wait_for("the update handler", lambda: "update cm 2" in lines())
        core.delete_namespaced_config_map("cm", "default")
        wait_for("the deletion event", lambda: "event DELETED cm" in lines())
    except AssertionError as exc:
        proc.terminate()
        raise AssertionError(f"{exc}; kopf said:\n{proc.communicate(timeout=30)[0][-3000:]}") from None
    proc.terminate()
    output = proc.communicate(timeout=30)[0]
    assert "CERTIFICATE_VERIFY_FAILED" not in output, output


CRD_OPERATOR = """
import os
import kopf

LOG = os.environ["OPERATOR_LOG"]


def note(line):
    with open(LOG, "a") as fh:
        fh.write(line + "\\n")


@kopf.on.create("example.com", "v1", "widgets")
def created(name, spec, patch, **_):
    note(f"create {name} {spec['color']}")
    patch.status["phase"] = "Seen"


@kopf.on.update("example.com", "v1", "widgets", field="spec.color")
def updated(name, new, **_):
    note(f"update {name} {new}")


@kopf.on.delete("example.com", "v1", "widgets")
def deleted(name, **_):
    note(f"delete {name}")


@kopf.on.event("example.com", "v1", "widgets")
def event(type, name, **_):
    note(f"event {type} {name}")
"""


def test_kopf_operator_handles_a_crds_resources(kubeconfig_file: Path, tmp_path: Path) -> None:
    """kopf on a custom resource: create, update and delete handlers fire. The create handler's status
    patch lands through the status subresource; the delete handler runs while kopf's finalizer holds the
    object (deletionTimestamp set), and only then is the object gone."""
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    from tests.kubeapi.test_crds import WIDGET_CRD, widget

    api_client = k8s_config.new_client_from_config(config_file=str(kubeconfig_file))
    k8s.ApiextensionsV1Api(api_client).create_custom_resource_definition(
        k8s.V1CustomResourceDefinition.model_validate(WIDGET_CRD)
    )
    custom = k8s.CustomObjectsApi(api_client)
    args = ("example.com", "v1", "default", "widgets")
    operator = tmp_path / "operator.py"
    operator.write_text(CRD_OPERATOR)
    log = tmp_path / "operator.log"
    env = {**os.environ, "KUBECONFIG": str(kubeconfig_file), "OPERATOR_LOG": str(log)}
    command = [sys.executable, "-m", "kopf", "run", "--standalone", "--namespace", "default", str(operator)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def lines() -> list[str]:
        return log.read_text().splitlines() if log.exists() else []

    def w1() -> dict[str, Any]:
        got = custom.get_namespaced_custom_object(*args, "w1")
        assert isinstance(got, dict)
        return got

    def phase() -> Any:
        return (w1().get("status") or {}).get("phase")

    try:
        custom.create_namespaced_custom_object(*args, widget("marker", color="red"))
        wait_for("kopf to handle the marker", lambda: "create marker red" in lines(), timeout=30)
        custom.create_namespaced_custom_object(*args, widget("w1", color="red"))
        wait_for("the create handler", lambda: "create w1 red" in lines())
        wait_for("the create handler's status patch", lambda: phase() == "Seen")
        custom.patch_namespaced_custom_object(*args, "w1", {"spec": {"color": "blue"}})
        wait_for("the update handler", lambda: "update w1 blue" in lines())
        finalizers = w1()["metadata"].get("finalizers", [])
        assert "kopf.zalando.org/KopfFinalizerMarker" in finalizers
        custom.delete_namespaced_custom_object(*args, "w1")
        wait_for("the delete handler", lambda: "delete w1" in lines())
        wait_for("the deletion event", lambda: "event DELETED w1" in lines())
        assert lines().index("delete w1") < lines().index("event DELETED w1")
    except AssertionError as exc:
        proc.terminate()
        raise AssertionError(f"{exc}; kopf said:\n{proc.communicate(timeout=30)[0][-3000:]}") from None
    finally:
        k8s.ApiextensionsV1Api(api_client).delete_custom_resource_definition("widgets.example.com")
    proc.terminate()
    output = proc.communicate(timeout=30)[0]
    assert "CERTIFICATE_VERIFY_FAILED" not in output, output
