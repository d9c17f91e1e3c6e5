"""Benchmark: watch and list of the embedded Kubernetes API, against a real ``kymaprov serve``.

Run: ``python -m bench.bench_watch [--writes N] [--window S] [--objects N]``. Prints figures; asserts
nothing. Measures write-to-event latency of an open watch, the server process's CPU (utime+stime from
``/proc/<pid>/stat``) over a fixed window with 0, 20 and 100 idle watches open, and a list of 1,000
ConfigMaps in one response and in pages.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from tests.support.server import RunningServer, free_port, seed_variables

from bench.bench_service import report, timed

CM = "/api/v1/namespaces/default/configmaps"


class Cluster:
    """HTTPS to the cluster a kubeconfig names (CA data, SNI name, bearer token)."""

    def __init__(self, kubeconfig: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
        self.server = cluster["server"]
        self.sni = cluster.get("tls-server-name", "")
        self.verify = ssl.create_default_context(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
        )
        self.headers = {"authorization": f"Bearer {user['token']}", "accept": "application/json"}
        self.client = self.new_client()

    def new_client(self) -> httpx.Client:
        return httpx.Client(base_url=self.server, verify=self.verify, headers=self.headers, timeout=60)

    def request(
        self, method: str, path: str, client: httpx.Client | None = None, **kw: Any
    ) -> httpx.Response:
        ext = {"sni_hostname": self.sni} if self.sni else {}
        return (client or self.client).request(method, path, extensions=ext, **kw)

    def watch(self, params: dict[str, str], on_event: Any, ready: threading.Event) -> threading.Thread:
        """A watch streamed in a thread of its own, with its own connection."""

        def run() -> None:
            with self.new_client() as client:
                ext = {"sni_hostname": self.sni} if self.sni else {}
                try:
                    with client.stream("GET", CM, params={"watch": "true", **params}, extensions=ext) as r:
                        ready.set()
                        for line in r.iter_lines():
                            if line.strip():
                                on_event(json.loads(line))
                except httpx.HTTPError:
                    pass

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=50)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--objects", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        srv = RunningServer(tmp / "data", free_port(), free_port(), provisioning_seconds=0).start()
        try:
            env = {
                **os.environ,
                **seed_variables(srv.cis_credentials()),
                "XDG_STATE_HOME": str(tmp / "state"),
            }
            kubeconfig = tmp / "kc.yaml"
            subprocess.run(
                [sys.executable, "-m", "kymaprov", "up", "bench", "--user", "b@x", "-f", str(kubeconfig)],
                env=env,
                check=True,
                capture_output=True,
            )
            assert srv.proc is not None
            run(Cluster(kubeconfig), srv.proc.pid, args)
        finally:
            srv.stop()


def write_to_event(kube: Cluster, writes: int) -> tuple[dict[str, float], list[float]]:
    """``writes`` ConfigMap creates under one open watch: each write's milliseconds from its POST to its
    watch event (the ones that arrived within 10 s), and each POST's own round trip."""
    arrived: dict[str, float] = {}
    ready = threading.Event()
    rv = kube.request("GET", CM).json()["metadata"]["resourceVersion"]

    def on_event(event: dict[str, Any]) -> None:
        arrived.setdefault(event["object"]["metadata"]["name"], time.perf_counter())

    kube.watch({"resourceVersion": rv, "timeoutSeconds": "600"}, on_event, ready)
    ready.wait(10)
    sent: dict[str, float] = {}
    round_trips = []
    for i in range(writes):
        name = f"lat-{i}"
        sent[name] = time.perf_counter()
        kube.request("POST", CM, json={"metadata": {"name": name}}).raise_for_status()
        round_trips.append((time.perf_counter() - sent[name]) * 1000)
        time.sleep(0.02)
    deadline = time.monotonic() + 10
    while len(arrived) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.005)
    return {n: (arrived[n] - sent[n]) * 1000 for n in sent if n in arrived}, round_trips


def run(kube: Cluster, pid: int, args: argparse.Namespace) -> None:
    # --- write-to-event latency of one open watch
    latencies, _ = write_to_event(kube, args.writes)
    report("watch: write to event", list(latencies.values()))
    print(f"{'':<34} {len(latencies)}/{args.writes} events arrived")

    # --- server CPU with idle watches
    opened = 0
    for target in (0, 20, 100):
        while opened < target:
            started = threading.Event()
            kube.watch({"timeoutSeconds": "600", "labelSelector": "idle=yes"}, lambda e: None, started)
            started.wait(10)
            opened += 1
        time.sleep(1.0)
        before, start = cpu_seconds(pid), time.monotonic()
        time.sleep(args.window)
        used = cpu_seconds(pid) - before
        share = 100 * used / (time.monotonic() - start)
        print(f"server CPU, {target:>3} idle watches       {share:6.2f} % of a core")

    # --- list of N objects, whole and paged
    for i in range(args.objects - args.writes):
        kube.request("POST", CM, json={"metadata": {"name": f"obj-{i:04d}"}, "data": {"i": str(i)}})

    whole = len(kube.request("GET", CM).json()["items"])  # the N objects and the root CA ConfigMap

    def paged(limit: int) -> None:
        token, count = "", 0
        while True:
            params = {"limit": str(limit), **({"continue": token} if token else {})}
            body = kube.request("GET", CM, params=params).json()
            count += len(body["items"])
            token = body["metadata"].get("continue", "")
            if not token:
                break
        assert count == whole, (count, whole)

    report(f"list {args.objects} (no limit)", timed(lambda: kube.request("GET", CM).raise_for_status(), 10))
    report(f"list {args.objects} (limit=500, all pages)", timed(lambda: paged(500), 10))
    report(f"list {args.objects} (limit=100, all pages)", timed(lambda: paged(100), 10))
    report("list first page (limit=100)", timed(lambda: kube.request("GET", CM, params={"limit": "100"}), 10))


if __name__ == "__main__":
    main()
