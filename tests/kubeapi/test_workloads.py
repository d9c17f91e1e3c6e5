"""StatefulSets, DaemonSets and HPAs with the real kubectl 1.33, run by the runtime's controllers."""

from __future__ import annotations

from pathlib import Path

from kymaprov.backends.base import ClusterAccess

from .conftest import Kubectl
from .test_deployments import eventually, get, ok, ready

STATEFULSET = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: "postgres:16"}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
"""

DAEMONSET = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: "busybox:1.36", command: [sh, -c, "while true; do sleep 5; done"]}]
"""

HPA = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 3
  maxReplicas: 5
"""


def test_a_stateful_set_makes_ordered_pods_with_claims(access: ClusterAccess, tmp_path: Path) -> None:
    kubectl = Kubectl(tmp_path, access, version="1.33")
    ok(kubectl, "apply", "-f", "-", stdin=STATEFULSET)
    assert "partitioned roll out complete" in ok(kubectl, "rollout", "status", "sts/db", "--timeout=45s")
    pods = sorted(get(kubectl, "pods", "-l", "app=db")["items"], key=lambda p: p["metadata"]["name"])
    assert [p["metadata"]["name"] for p in pods] == ["db-0", "db-1", "db-2"]
    assert all(ready(p) and p["spec"]["hostname"] == p["metadata"]["name"] for p in pods)
    started = [p["status"]["startTime"] for p in pods]
    assert started == sorted(started)  # OrderedReady: each after the one before was Ready
    claims = {c["metadata"]["name"] for c in get(kubectl, "pvc")["items"]}
    assert claims == {"data-db-0", "data-db-1", "data-db-2"}
    sts = get(kubectl, "sts", "db")
    assert sts["status"]["readyReplicas"] == 3
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"]
    assert ok(kubectl, "rollout", "history", "sts/db").splitlines()[2].split()[0] == "1"
    ok(kubectl, "scale", "sts/db", "--replicas=1")
    eventually(lambda: get(kubectl, "sts", "db")["status"]["replicas"] == 1, "scaled down to db-0")


def test_a_daemon_set_runs_one_pod_per_node(access: ClusterAccess, tmp_path: Path) -> None:
    kubectl = Kubectl(tmp_path, access, version="1.33")
    nodes = {n["metadata"]["name"] for n in get(kubectl, "nodes")["items"]}
    assert nodes
    ok(kubectl, "apply", "-f", "-", stdin=DAEMONSET)
    ok(kubectl, "rollout", "status", "ds/agent", "--timeout=45s")
    pods = get(kubectl, "pods", "-l", "app=agent")["items"]
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(nodes)
    ds = get(kubectl, "ds", "agent")["status"]
    assert ds["desiredNumberScheduled"] == ds["numberReady"] == ds["numberAvailable"] == len(nodes)


def test_an_hpa_keeps_its_target_in_range_and_says_there_are_no_metrics(
    access: ClusterAccess, tmp_path: Path
) -> None:
    kubectl = Kubectl(tmp_path, access, version="1.33")
    ok(kubectl, "create", "deployment", "web", "--image=nginx:1.25", "--replicas=1")
    ok(kubectl, "apply", "-f", "-", stdin=HPA)
    eventually(
        lambda: get(kubectl, "deploy", "web")["spec"]["replicas"] == 3, "the HPA scales up to its minimum"
    )
    hpa = eventually(
        lambda: (h := get(kubectl, "hpa", "web")).get("status", {}).get("currentReplicas") == 3 and h,
        "the HPA's status",
    )
    assert hpa["status"]["desiredReplicas"] == 3
    active = next(c for c in hpa["status"]["conditions"] if c["type"] == "ScalingActive")
    assert (active["status"], active["reason"]) == ("False", "FailedGetResourceMetric")
    assert "SuccessfulRescale" in ok(kubectl, "describe", "hpa", "web")
