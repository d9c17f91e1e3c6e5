"""The scheduler and kubelet stand-ins: pods bound, started, failing and finishing as on a cluster,
driven by the service clock (an advance moves them at once)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kymaprov.backends.base import ClusterAccess
from kymaprov.kubeapi import simulation
from tests.kubeapi.conftest import Kube, Kubectl, KubeServer
from tests.support.wait import wait_for

VERSIONS = ("1.30", "1.33")
PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture
def client(access: ClusterAccess) -> Iterator[Kube]:
    admin = Kube(access)
    yield admin
    admin.close()


def pod(name: str, image: str = "nginx:1.27", /, **spec: Any) -> dict[str, Any]:
    containers = spec.pop("containers", None) or [{"name": name, "image": image, **spec.pop("container", {})}]
    return {"metadata": {"name": name, "labels": spec.pop("labels", {"app": name})},
            "spec": {"containers": containers, **spec}}  # fmt: skip


def until(check: Callable[[], Any], what: str, timeout: float = 10) -> Any:
    return wait_for(check, what, timeout, interval=0.05)


def status(client: Kube, name: str) -> dict[str, Any]:
    r = client.get(f"{PODS}/{name}")
    assert r.status_code == 200, r.text
    return dict(r.json().get("status") or {})


def container(client: Kube, name: str) -> dict[str, Any]:
    statuses = status(client, name).get("containerStatuses") or [{}]
    return dict(statuses[0])


def reasons(client: Kube, name: str) -> list[str]:
    events = client.get(
        "/api/v1/namespaces/default/events", params={"fieldSelector": f"involvedObject.name={name}"}
    ).json()["items"]
    return [e["reason"] for e in sorted(events, key=lambda e: e["metadata"]["creationTimestamp"])]


@pytest.mark.parametrize("version", VERSIONS)
def test_pod_runs_and_kubectl_wait_returns(tmp_path: Path, access: ClusterAccess, version: str) -> None:
    kubectl = Kubectl(tmp_path, access, version=version)
    assert kubectl("run", "web", "--image=nginx:1.27", "--port=80").returncode == 0
    waited = kubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=20s")
    assert waited.returncode == 0, waited.stderr
    assert "pod/web condition met" in waited.stdout
    obj = json.loads(kubectl("get", "pod", "web", "-o", "json").stdout)
    st = obj["status"]
    assert st["phase"] == "Running" and st["podIP"] and st["hostIP"] and st["startTime"]
    assert obj["spec"]["nodeName"].endswith(".compute.internal")
    assert {c["type"] for c in st["conditions"] if c["status"] == "True"} >= {
        "Initialized", "ContainersReady", "Ready", "PodScheduled"
    }  # fmt: skip
    cs = st["containerStatuses"][0]
    assert cs["ready"] and cs["started"] and cs["restartCount"] == 0 and "running" in cs["state"]
    assert cs["containerID"].startswith("containerd://") and "@sha256:" in cs["imageID"]
    described = kubectl("describe", "pod", "web")
    for reason in ("Scheduled", "Pulling", "Pulled", "Created", "Started"):
        assert reason in described.stdout, described.stdout
    assert "default-scheduler" in described.stdout and "kubelet" in described.stdout
    events = kubectl("events", "--for", "pod/web")
    assert events.returncode == 0, events.stderr
    assert "Started container web" in events.stdout


@pytest.mark.parametrize("version", VERSIONS)
def test_unresolvable_image_backs_off(tmp_path: Path, access: ClusterAccess, version: str) -> None:
    kubectl = Kubectl(tmp_path, access, version=version)
    assert kubectl("run", "bad", "--image=doesnotexist.invalid/nope:0").returncode == 0
    client = Kube(access)
    until(lambda: container(client, "bad").get("state", {}).get("waiting", {}).get("reason") == "ImagePullBackOff",
          "the pod never went ImagePullBackOff")  # fmt: skip
    listed = kubectl("get", "pod", "bad")
    assert listed.stdout.splitlines()[1].split()[1:3] == ["0/1", "ImagePullBackOff"]
    assert {"Failed", "BackOff"} <= set(reasons(client, "bad"))
    described = kubectl("describe", "pod", "bad")
    assert "lookup doesnotexist.invalid: no such host" in described.stdout
    never = kubectl("wait", "--for=condition=Ready", "pod/bad", "--timeout=1s")
    assert never.returncode != 0
    client.close()


def test_malformed_image_and_reserved_hosts(client: Kube) -> None:
    client.create(PODS, pod("upper", "Nginx:latest"))
    until(lambda: container(client, "upper").get("state", {}).get("waiting", {}).get("reason") == "InvalidImageName",
          "a malformed reference is not InvalidImageName")  # fmt: skip
    assert "InspectFailed" in reasons(client, "upper")
    for host in ("registry.example", "x.test", "localhost:5000", "example.com"):
        assert simulation.unreachable_host(simulation.parse_image(f"{host}/app:1"))  # type: ignore[arg-type]
    for good in (
        "nginx",
        "ghcr.io/org/app:1.2",
        "europe-docker.pkg.dev/kyma-project/prod/x@sha256:" + "a" * 64,
    ):
        parsed = simulation.parse_image(good)
        assert isinstance(parsed, simulation.Image) and not simulation.unreachable_host(parsed)
    assert not isinstance(simulation.parse_image("bad image"), simulation.Image)


@pytest.mark.parametrize("version", VERSIONS)
def test_one_shot_pod_succeeds(tmp_path: Path, access: ClusterAccess, version: str) -> None:
    kubectl = Kubectl(tmp_path, access, version=version)
    ran = kubectl(
        "run", "once", "--image=busybox", "--restart=Never", "--", "sh", "-c", "echo hi; echo there"
    )
    assert ran.returncode == 0, ran.stderr
    done = kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/once", "--timeout=20s")
    assert done.returncode == 0, done.stderr
    terminated = json.loads(kubectl("get", "pod", "once", "-o", "json").stdout)["status"][
        "containerStatuses"
    ][0]
    assert terminated["state"]["terminated"]["exitCode"] == 0
    assert terminated["state"]["terminated"]["reason"] == "Completed"
    assert kubectl("get", "pod", "once").stdout.splitlines()[1].split()[2] == "Completed"
    logs = kubectl("logs", "once")
    assert logs.stdout.splitlines()[-2:] == ["hi", "there"]


def test_one_shot_with_restart_always_crash_loops_on_the_clock(kube_server: KubeServer, client: Kube) -> None:
    client.create(PODS, pod("loop", "busybox", container={"command": ["echo", "done"]}))
    until(lambda: container(client, "loop").get("lastState", {}).get("terminated"), "it never exited")
    until(lambda: container(client, "loop").get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff",
          "no CrashLoopBackOff after the first restart")  # fmt: skip
    before = container(client, "loop")["restartCount"]
    kube_server.ctx.clock.advance(600)  # several back-offs (10 s, 20 s, 40 s...) pass at once
    until(lambda: container(client, "loop")["restartCount"] >= before + 4, "the advance moved nothing")
    assert status(client, "loop")["phase"] == "Running"
    assert "BackOff" in reasons(client, "loop")


def test_readiness_delay_ends_with_a_clock_advance(kube_server: KubeServer, client: Kube) -> None:
    probe = {"readinessProbe": {"httpGet": {"path": "/", "port": 80}, "initialDelaySeconds": 3600}}
    client.create(PODS, pod("slow", container=probe))
    until(lambda: container(client, "slow").get("started"), "it never started")
    time.sleep(0.3)
    assert not container(client, "slow")["ready"]
    ready = next(c for c in status(client, "slow")["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ContainersNotReady"
    kube_server.ctx.clock.advance(3600)
    until(lambda: container(client, "slow")["ready"], "the advance did not make it ready", timeout=5)


def test_init_containers_run_first(client: Kube) -> None:
    spec: dict[str, Any] = {
        "initContainers": [{"name": "setup", "image": "busybox", "command": ["sh", "-c", "echo migrate"]}],
        "containers": [{"name": "app", "image": "nginx"}],
    }
    client.create(PODS, pod("withinit", **spec))
    final = until(lambda: (s := status(client, "withinit")).get("phase") == "Running" and s, "never Running")
    init = final["initContainerStatuses"][0]
    assert (
        init["state"]["terminated"]["reason"] == "Completed" and init["state"]["terminated"]["exitCode"] == 0
    )
    started = final["containerStatuses"][0]["state"]["running"]["startedAt"]
    assert init["state"]["terminated"]["finishedAt"] <= started


@pytest.mark.parametrize("version", VERSIONS)
def test_unschedulable_pod_stays_pending(tmp_path: Path, access: ClusterAccess, version: str) -> None:
    kubectl = Kubectl(tmp_path, access, version=version)
    overrides: dict[str, Any] = {
        "spec": {"containers": [{"name": "huge", "image": "nginx", "resources": {"requests": {"cpu": "64"}}}]}
    }
    assert kubectl("run", "huge", "--image=nginx", "--overrides", json.dumps(overrides)).returncode == 0
    overrides = {"spec": {"nodeSelector": {"disktype": "ssd"}}}
    assert kubectl("run", "picky", "--image=nginx", "--overrides", json.dumps(overrides)).returncode == 0
    client = Kube(access)
    until(lambda: "FailedScheduling" in reasons(client, "huge"), "no FailedScheduling event")
    until(lambda: "FailedScheduling" in reasons(client, "picky"), "no FailedScheduling event")
    described = kubectl("describe", "pod", "huge")
    assert "0/3 nodes are available: 3 Insufficient cpu." in described.stdout
    assert "didn't match Pod's node affinity/selector" in kubectl("describe", "pod", "picky").stdout
    scheduled = next(c for c in status(client, "huge")["conditions"] if c["type"] == "PodScheduled")
    assert scheduled["status"] == "False" and scheduled["reason"] == "Unschedulable"
    assert (
        status(client, "huge")["phase"] == "Pending"
        and "nodeName" not in client.get(f"{PODS}/huge").json()["spec"]
    )
    client.close()


def test_requests_fill_nodes(client: Kube) -> None:
    """Three m6i.large nodes (1920m allocatable each): three 1500m pods fit, the fourth does not."""
    for index in range(4):
        client.create(PODS, pod(f"big{index}", container={"resources": {"requests": {"cpu": "1500m"}}}))
    until(lambda: "FailedScheduling" in reasons(client, "big3") or "FailedScheduling" in reasons(client, "big2"),
          "a fourth 1500m pod was placed")  # fmt: skip
    nodes = [client.get(f"{PODS}/big{i}").json()["spec"].get("nodeName") for i in range(4)]
    assert len({n for n in nodes if n}) == 3 and nodes.count(None) == 1


def test_rules_make_pods_crash_and_stay_unready(kube_server: KubeServer, client: Kube) -> None:
    rules = """
rules:
- name: api-crashes
  selector: {matchLabels: {app: api}}
  crash: {afterSeconds: 5, exitCode: 3}
- name: never-ready
  image: "*/flaky:*"
  notReady: true
  logs: ["warming up", "still warming up"]
"""
    client.create("/api/v1/namespaces/kube-system/configmaps",
                  {"metadata": {"name": "kymaprov-simulation"}, "data": {"rules.yaml": rules}})  # fmt: skip
    client.create(PODS, pod("api"))
    client.create(PODS, pod("flaky", "ghcr.io/me/flaky:1"))
    until(lambda: container(client, "api").get("started"), "api never started")
    kube_server.ctx.clock.advance(120)
    crashed = until(
        lambda: (c := container(client, "api")).get("restartCount", 0) >= 2 and c, "it never crashed"
    )
    assert crashed["lastState"]["terminated"]["exitCode"] == 3
    assert crashed["lastState"]["terminated"]["reason"] == "Error"
    flaky = until(lambda: (c := container(client, "flaky")).get("started") and c, "flaky never started")
    assert not flaky["ready"] and "running" in flaky["state"]
    log = client.get(f"{PODS}/flaky/log")
    assert log.status_code == 200 and log.text.splitlines()[-2:] == ["warming up", "still warming up"]


def test_delete_waits_for_the_grace_period_of_a_container_that_ignores_sigterm(
    tmp_path: Path, kube_server: KubeServer, access: ClusterAccess, client: Kube
) -> None:
    looping = {"command": ["sh", "-c", "while true; do sleep 1; done"]}
    client.create(PODS, pod("stubborn", "busybox", container=looping, terminationGracePeriodSeconds=600))
    client.create(PODS, pod("polite"))
    until(lambda: container(client, "stubborn").get("ready") and container(client, "polite").get("ready"),
          "the pods never became ready")  # fmt: skip
    kubectl = Kubectl(tmp_path, access, version="1.33")
    deleted = kubectl("delete", "pod", "polite", "--timeout=20s")
    assert deleted.returncode == 0, deleted.stderr  # it stops on SIGTERM: gone within a second
    r = client.delete(f"{PODS}/stubborn")
    assert r.status_code == 200 and r.json()["metadata"]["deletionGracePeriodSeconds"] == 600
    until(lambda: "Killing" in reasons(client, "stubborn"), "no Killing event")
    time.sleep(1.5)
    assert client.get(f"{PODS}/stubborn").status_code == 200  # still Terminating
    assert kubectl("get", "pod", "stubborn").stdout.splitlines()[1].split()[2] == "Terminating"
    kube_server.ctx.clock.advance(600)
    until(lambda: client.get(f"{PODS}/stubborn").status_code == 404, "not deleted after the grace period")


def test_endpoints_and_services(client: Kube) -> None:
    ports = [{"name": "http", "containerPort": 8080}]
    client.create(PODS, pod("web-1", labels={"app": "web"}, container={"ports": ports}))
    client.create(PODS, pod("web-2", labels={"app": "web"}, container={"ports": ports}))
    client.create(
        PODS, pod("web-bad", "nope.invalid/web:1", labels={"app": "web"}, container={"ports": ports})
    )
    service = {"metadata": {"name": "web"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}}  # fmt: skip
    client.create("/api/v1/namespaces/default/services", service)
    lb = {"metadata": {"name": "web-lb"},
          "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]}}  # fmt: skip
    created = client.create("/api/v1/namespaces/default/services", lb)
    assert 30000 <= created["spec"]["ports"][0]["nodePort"] <= 32767

    def endpoints() -> dict[str, Any] | None:
        r = client.get("/api/v1/namespaces/default/endpoints/web")
        subsets = r.json().get("subsets") if r.status_code == 200 else None
        ready = subsets[0].get("addresses") if subsets else None
        return (
            r.json()
            if subsets and ready and len(ready) == 2 and subsets[0].get("notReadyAddresses")
            else None
        )

    found = until(endpoints, "the endpoints never listed the two ready pods")
    subset = found["subsets"][0]
    assert subset["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert sorted(a["targetRef"]["name"] for a in subset["addresses"]) == ["web-1", "web-2"]
    assert [a["targetRef"]["name"] for a in subset["notReadyAddresses"]] == ["web-bad"]
    slices = client.get("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
                        params={"labelSelector": "kubernetes.io/service-name=web"}).json()["items"]  # fmt: skip
    assert len(slices) == 1 and slices[0]["ports"][0]["port"] == 8080
    assert sorted((e["targetRef"]["name"], e["conditions"]["ready"]) for e in slices[0]["endpoints"]) == [
        ("web-1", True), ("web-2", True), ("web-bad", False)
    ]  # fmt: skip
    assert slices[0]["metadata"]["ownerReferences"][0]["kind"] == "Service"
    ingress = until(
        lambda: (
            client.get("/api/v1/namespaces/default/services/web-lb")
            .json()["status"]["loadBalancer"]
            .get("ingress")
        ),
        "the LoadBalancer got no address",
    )
    assert ingress[0]["ip"].startswith("203.0.113.")
    assert client.delete(f"{PODS}/web-1").status_code == 200
    until(lambda: len(client.get("/api/v1/namespaces/default/endpoints/web").json()["subsets"][0]["addresses"]) == 1,
          "a deleted pod stayed in the endpoints")  # fmt: skip


@pytest.mark.parametrize("version", VERSIONS)
def test_get_endpoints_with_kubectl(tmp_path: Path, access: ClusterAccess, version: str) -> None:
    kubectl = Kubectl(tmp_path, access, version=version)
    assert kubectl("run", "web", "--image=nginx", "--port=80", "--expose=true").returncode == 0
    assert kubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=20s").returncode == 0
    client = Kube(access)
    ip = client.get(f"{PODS}/web").json()["status"]["podIP"]

    def ready_addresses() -> list[str]:
        # The endpoints controller catches up with the pod's Ready condition asynchronously, as in
        # Kubernetes: until it does, the pod is listed under notReadyAddresses.
        subsets = client.get("/api/v1/namespaces/default/endpoints/web").json().get("subsets") or []
        return [a["ip"] for s in subsets for a in s.get("addresses", [])]

    until(lambda: ready_addresses() == [ip], "the ready pod never reached the endpoints")
    listed = kubectl("get", "endpoints", "web")
    assert listed.stdout.splitlines()[1].split()[:2] == ["web", f"{ip}:80"]
    slices = kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=web")
    assert slices.stdout.splitlines()[1].split()[1:4] == ["IPv4", "80", ip]
    client.close()


def test_an_idle_runtime_is_not_written_to(kube_server: KubeServer, client: Kube) -> None:
    """Once its pods are steady nothing writes to a runtime: no heartbeat, no status rewrites."""
    client.create(PODS, pod("steady"))
    until(lambda: container(client, "steady").get("ready"), "never ready")

    def settled() -> str | None:
        """The list version once it held still for half a second: the controllers have finished
        reacting to the pod's start (a periodic writer would never let it settle)."""
        before = client.get(PODS).json()["metadata"]["resourceVersion"]
        time.sleep(0.5)
        return before if client.get(PODS).json()["metadata"]["resourceVersion"] == before else None

    version = until(settled, "the runtime kept being written to", timeout=20)
    time.sleep(1.5)
    assert client.get(PODS).json()["metadata"]["resourceVersion"] == version


def test_a_job_pods_entrypoint_completes(client: Kube) -> None:
    """A Job's pod whose image runs its own entrypoint is taken to finish its work; elsewhere it runs."""
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl:5.34"}]}}
    job = client.create("/apis/batch/v1/namespaces/default/jobs", {"metadata": {"name": "pi"},
                        "spec": {"template": template, "manualSelector": True,
                                 "selector": {"matchLabels": {"job": "pi"}}}})  # fmt: skip
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": "pi", "uid": job["metadata"]["uid"]}
    work = pod("pi-work", "perl:5.34", restartPolicy="Never", labels={"other": "x"})
    work["metadata"]["ownerReferences"] = [owner]
    client.create(PODS, work)
    client.create(PODS, pod("server", "perl:5.34", restartPolicy="Never"))
    until(lambda: status(client, "pi-work").get("phase") == "Succeeded", "the job's pod never completed")
    until(lambda: container(client, "server").get("ready"), "the other pod never ran")
    assert status(client, "server")["phase"] == "Running"


def test_deleting_a_namespace_stops_its_pods(client: Kube) -> None:
    """The namespace controller deletes the pods (gracefully), the kubelet removes them, the namespace goes."""
    client.create("/api/v1/namespaces", {"metadata": {"name": "team"}})
    client.create("/api/v1/namespaces/team/pods", pod("app"))
    until(lambda: client.get("/api/v1/namespaces/team/pods/app").json().get("status", {}).get("phase") == "Running",
          "the pod never ran")  # fmt: skip
    assert client.delete("/api/v1/namespaces/team").status_code == 200
    until(lambda: client.get("/api/v1/namespaces/team").status_code == 404, "the namespace was not emptied")


def test_get_pods_shows_init_progress(tmp_path: Path, access: ClusterAccess, client: Kube) -> None:
    waits = {"initContainers": [{"name": "wait", "image": "busybox", "command": ["sleep", "infinity"]}],
             "containers": [{"name": "app", "image": "nginx"}]}  # fmt: skip
    client.create(PODS, pod("waiting", **waits))
    broken = {"initContainers": [{"name": "fetch", "image": "fetcher.invalid/f:1"}],
              "containers": [{"name": "app", "image": "nginx"}]}  # fmt: skip
    client.create(PODS, pod("broken", **broken))
    kubectl = Kubectl(tmp_path, access, version="1.33")

    def shown(name: str) -> str:
        return str(kubectl("get", "pod", name).stdout.splitlines()[1].split()[2])

    until(lambda: shown("waiting") == "Init:0/1", "no Init:0/1 while the init container runs")
    until(lambda: shown("broken") == "Init:ImagePullBackOff", "no Init:ImagePullBackOff")
    assert status(client, "waiting")["phase"] == "Pending"
    initialized = next(c for c in status(client, "waiting")["conditions"] if c["type"] == "Initialized")
    assert initialized["status"] == "False" and initialized["reason"] == "ContainersNotInitialized"
