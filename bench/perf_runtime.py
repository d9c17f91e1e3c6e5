"""Issue 8's figures for the embedded Kubernetes API and memory, as ``bench.perf`` sections.

- ``watch``: write-to-event latency of an open watch (from sending the POST to reading its event,
  the POST's own round trip as reference), and the server CPU added by idle watches.
- ``lists``: server CPU per JSON list of N ConfigMaps against the reference's ``/items`` (the same
  bodies read with ``sqlite3``, parsed and rendered with ``json`` by bare Starlette), and whether
  ``limit``/``continue`` pages cover the list exactly.
- ``memory``: the server's RSS after a burst of concurrent large lists, and in a fresh server after
  touching many runtimes (one TLS handshake with the runtime's SNI name and one authenticated GET
  each). Those runtimes are copies of one embedded cluster made with SQL before the server starts:
  creating 10,000 through the service (CA, certificates, seed objects each) would take an hour, and
  the server's per-runtime state (SNI contexts, keys, controller bookkeeping) does not care how the
  rows were made.
"""

from __future__ import annotations

import argparse
import ssl
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import sqlalchemy as sa
from tests.support.server import Api, RunningServer, free_port

from bench.bench_watch import CM, Cluster, write_to_event
from bench.perf import Cpu, Row, cpu_seconds, paired

SECTIONS = ["watch", "lists", "memory"]
RSS_LIMIT_MB = 150.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def new_cluster(srv: RunningServer, tmp: Path, name: str) -> Cluster:
    """A Kyma environment of its own subaccount and a binding's kubeconfig for it."""
    sub = srv.new_subaccount(name)
    api = Api(srv, srv.token_for(srv.cis_credentials(sub)))
    env_id = api.create_kyma(name=name)
    api.wait_state(env_id)
    r = api.request(
        "PUT", f"/environments/{env_id}/bindings", json={"parameters": {"expiration_seconds": 3600}}
    )
    r.raise_for_status()
    path = tmp / f"{name}.yaml"
    path.write_text(r.json()["credentials"]["kubeconfig"])
    return Cluster(path)


def rows(srv: RunningServer, ref_pid: int, ref_url: str, tmp: Path, args: argparse.Namespace) -> list[Row]:
    assert srv.proc is not None
    kube = new_cluster(srv, tmp, "bench-kube")
    out: list[Row] = []
    if "watch" in args.only:
        out += watch_rows(kube, srv.proc.pid, args)
    if "lists" in args.only or "memory" in args.only:
        fill(kube, 40 if args.smoke else 1000)
    if "lists" in args.only:
        out += list_rows(kube, Cpu(srv.proc.pid), Cpu(ref_pid), ref_url, args)
    if "memory" in args.only:
        out.append(burst_row(kube, srv.proc.pid, 4 if args.smoke else 20))
        out.append(runtimes_row(tmp, 20 if args.smoke else 10_000))
    return out


# --- watch ----------------------------------------------------------------------------------------


def watch_rows(kube: Cluster, pid: int, args: argparse.Namespace) -> list[Row]:
    idle = idle_row(kube, pid, 10 if args.smoke else 100, 1.0 if args.smoke else 10.0)
    writes = 5 if args.smoke else 50
    arrived, round_trips = write_to_event(kube, writes)
    latencies = [arrived.get(f"lat-{i}", 10_000.0) for i in range(writes)]  # a lost event counts as 10 s
    latency = statistics.median(latencies)
    post = statistics.median(round_trips)
    row = Row(
        "watch: write to event (median)",
        latency,
        "ms",
        f"POST round trip {post:.1f} ms",
        target="< 10 ms",
        ok=latency < 10,
    )
    return [row, idle]


def idle_row(kube: Cluster, pid: int, watches: int, window: float) -> Row:
    """Server CPU (% of a core) over ``window`` without watches, then with ``watches`` idle ones
    (which end on their own a little later, before the next figure writes to the cluster)."""

    def share() -> float:
        before, start = cpu_seconds(pid), time.monotonic()
        time.sleep(window)
        return 100 * (cpu_seconds(pid) - before) / (time.monotonic() - start)

    time.sleep(0.5)
    alone = share()
    threads, lasting = [], str(int(window) + 3)
    for _ in range(watches):
        started = threading.Event()
        threads.append(
            kube.watch({"timeoutSeconds": lasting, "labelSelector": "idle=yes"}, lambda e: None, started)
        )
        started.wait(10)
    time.sleep(1.0)
    added = share() - alone
    for thread in threads:
        thread.join(30)
    return Row(
        "idle watches: added server CPU",
        added,
        "% core",
        f"{watches} watches; none {alone:.2f} % core",
        target="< 0.5 % core",
        ok=added < 0.5,
    )


# --- lists ----------------------------------------------------------------------------------------


def fill(kube: Cluster, n: int) -> None:
    """``n`` ConfigMaps in ``default`` (of a few hundred bytes each, as a small app's config)."""
    have = len(kube.request("GET", CM).json()["items"])
    local = threading.local()

    def create(i: int) -> None:
        if not hasattr(local, "client"):
            local.client = kube.new_client()
        data = {"index": str(i), "settings.yaml": "replicas: 3\nimage: example/app:1.2.3\n" * 4}
        body = {"metadata": {"name": f"obj-{i:05d}", "labels": {"app": "bench"}}, "data": data}
        kube.request("POST", CM, local.client, json=body).raise_for_status()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, range(n - have)))


def list_rows(kube: Cluster, server: Cpu, ref: Cpu, ref_url: str, args: argparse.Namespace) -> list[Row]:
    items = kube.request("GET", CM).json()["items"]
    plain = httpx.Client(timeout=60)
    plain.post(f"{ref_url}/items", json=items).raise_for_status()
    n = max(3, args.rounds // 10)
    whole = paired(
        "kube list of ConfigMaps, JSON",
        lambda: server.per_call(lambda: kube.request("GET", CM).raise_for_status(), n),
        lambda: ref.per_call(lambda: plain.get(f"{ref_url}/items").raise_for_status(), n),
        f"{len(items)} items; sqlite3+json",
        args.repeat,
        1.2,
    )
    limit, pages, seen = max(1, len(items) // 10), 0, []
    token = ""
    while True:
        params = {"limit": str(limit), **({"continue": token} if token else {})}
        body = kube.request("GET", CM, params=params).json()
        pages += 1
        seen += [o["metadata"]["name"] for o in body["items"]]
        token = body["metadata"].get("continue", "")
        if not token or pages > len(items):
            break
    exact = seen == [o["metadata"]["name"] for o in items] and pages == -(-len(items) // limit)
    paging = Row(
        "kube list, limit/continue pages",
        pages,
        "pages",
        f"{len(items)} items, limit {limit}",
        target="all, once",
        ok=exact,
    )
    return [whole, paging]


# --- memory ---------------------------------------------------------------------------------------


def burst_row(kube: Cluster, pid: int, concurrency: int) -> Row:
    before = rss_mb(pid)

    def one(_: int) -> None:
        with kube.new_client() as client:
            kube.request("GET", CM, client).raise_for_status()

    with ThreadPoolExecutor(concurrency) as pool:
        for _ in range(2):
            list(pool.map(one, range(concurrency)))
    time.sleep(2.0)  # the server gives freed memory back a second after the last large reply
    after = rss_mb(pid)
    return Row(
        "RSS after a burst of lists",
        after,
        "MB",
        f"{concurrency} concurrent x2; before {before:.0f} MB",
        target=f"< {RSS_LIMIT_MB:g} MB",
        ok=after < RSS_LIMIT_MB,
    )


def clone_clusters(data_dir: Path, count: int) -> tuple[list[str], str]:
    """One embedded cluster created as the service creates it, then ``count - 1`` copies of its rows."""
    import kymaprov.server  # noqa: F401 - registers every layer's tables
    from kymaprov.backends.embedded import EmbeddedRuntimes
    from kymaprov.config import Settings
    from kymaprov.context import Context
    from kymaprov.kubeapi.models import clusters, objects

    ctx = Context.open(Settings(data_dir=data_dir))
    try:
        access = EmbeddedRuntimes(ctx).create_cluster("rt-0", "rt-0")
        ids = ["rt-0"] + [f"rt-{i}" for i in range(1, count)]
        with ctx.store.write() as conn:
            row = dict(conn.execute(sa.select(clusters).where(clusters.c.id == "rt-0")).one()._mapping)
            objs = [
                dict(r._mapping)
                for r in conn.execute(sa.select(objects).where(objects.c.cluster_id == "rt-0"))
            ]
            for o in objs:
                del o["id"]
            for start in range(1, count, 500):
                batch = ids[start : start + 500]
                conn.execute(sa.insert(clusters), [{**row, "id": c} for c in batch])
                conn.execute(sa.insert(objects), [{**o, "cluster_id": c} for c in batch for o in objs])
    finally:
        ctx.store.engine.dispose()
    return ids, access.token


def runtimes_row(tmp: Path, count: int) -> Row:
    """A fresh server on ``count`` runtimes, each touched once over its own TLS connection (SNI)."""
    from kymaprov.kubeapi.tls import server_name

    data_dir = Path(tempfile.mkdtemp(dir=tmp))
    ids, token = clone_clusters(data_dir / "data", count)
    srv = RunningServer(data_dir / "data", free_port(), free_port(), provisioning_seconds=0).start()
    assert srv.proc is not None
    try:
        start_rss = rss_mb(srv.proc.pid)
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE  # copies carry the first cluster's certificate

        def touch(cluster_id: str) -> None:
            with httpx.Client(verify=insecure, timeout=60) as client:
                client.get(
                    f"https://127.0.0.1:{srv.kube_port}/clusters/{cluster_id}/api/v1/namespaces/default/configmaps",
                    headers={"authorization": f"Bearer {token}"},
                    extensions={"sni_hostname": server_name(cluster_id)},
                ).raise_for_status()

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(touch, ids))
        time.sleep(1.0)
        after = rss_mb(srv.proc.pid)
    finally:
        srv.stop()
    return Row(
        "RSS after touching runtimes",
        after,
        "MB",
        f"{count} runtimes; at start {start_rss:.0f} MB",
        target=f"< {RSS_LIMIT_MB:g} MB",
        ok=after < RSS_LIMIT_MB,
    )
