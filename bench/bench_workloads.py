"""Benchmark: workloads in the embedded runtime, run by its controllers (in-process server).

Run: ``python -m bench.bench_workloads [--replicas N] [--runtimes N] [--window S]``. Prints figures;
asserts nothing. Measures
- a Deployment of ``--replicas`` (50) from create to all pods Ready and available (the Deployment
  reports them): wall time and service-clock seconds, and the API writes that took (resourceVersion);
- the process CPU (user+system, ``resource.getrusage``) over ``--window`` (30) seconds with
  ``--runtimes`` (100) runtimes idle after their controllers settled: what the controller thread
  (and the idle server) cost when nothing happens.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.kubeapi.conftest import Kube, KubeServer

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def deployment(replicas: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
            },
        },
    }


def rollout(server: KubeServer, replicas: int) -> None:
    access = server.cluster("bench")
    client = Kube(access)
    rv_before = int(client.get("/api/v1/namespaces").json()["metadata"]["resourceVersion"])
    wall, service, cpu = time.monotonic(), server.ctx.clock.now(), cpu_seconds()
    client.create(DEPLOYMENTS, deployment(replicas))
    while True:
        status = client.get(f"{DEPLOYMENTS}/web").json().get("status", {})
        if status.get("availableReplicas") == replicas and status.get("readyReplicas") == replicas:
            break
        if time.monotonic() - wall > 600:
            print(f"  not rolled out after 600 s: {status}")
            return
        time.sleep(0.1)
    took, clock, used = time.monotonic() - wall, server.ctx.clock.now() - service, cpu_seconds() - cpu
    rv_after = int(client.get("/api/v1/namespaces").json()["metadata"]["resourceVersion"])
    print(f"deployment of {replicas} replicas to all Ready (the Deployment's status says so)")
    print(f"  wall time             {took:8.2f} s")
    print(f"  service-clock time    {clock:8.2f} s")
    print(f"  process CPU           {used:8.2f} s")
    print(f"  API writes            {rv_after - rv_before:8d} (resourceVersions)")
    client.close()


def idle(server: KubeServer, runtimes: int, window: float) -> None:
    start = time.monotonic()
    for i in range(runtimes):
        server.cluster(f"idle-{i}")
    made = time.monotonic() - start
    settle = time.monotonic()
    manager = server.controllers
    while time.monotonic() - settle < 120:  # until no pass is pending and a resync went by
        time.sleep(manager_quiet_interval())
        with manager._cond:
            busy = bool(manager._dirty or manager._retry_at)
        if not busy:
            break
    settled = time.monotonic() - settle
    cpu = cpu_seconds()
    time.sleep(window)
    used = cpu_seconds() - cpu
    print(f"{runtimes} idle runtimes (made in {made:.1f} s, controllers settled in {settled:.1f} s)")
    print(f"  process CPU over {window:.0f} s  {used:8.2f} s  ({100 * used / window:.1f}% of one core)")


def manager_quiet_interval() -> float:
    return 6.0  # a little more than the manager's resync interval


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=50)
    parser.add_argument("--runtimes", type=int, default=100)
    parser.add_argument("--window", type=float, default=30.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        server = KubeServer(Path(tmp) / "data")
        try:
            rollout(server, args.replicas)
            idle(server, args.runtimes, args.window)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
