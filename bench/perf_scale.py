"""The seed procedure, PostgreSQL against SQLite, and cost at scale: sections of ``bench.perf``.

- ``seed``: the documented procedure (btp, curl, jq, kubectl), built from the seed text by the test that
  runs it (``tests/e2e/test_seed_procedure.py``), against ``kymaprov serve --provisioning-seconds 0``;
  wall time end to end and per phase.
- ``postgres``: the same GET on a server backed by PostgreSQL and one backed by SQLite, in alternating
  blocks; and the time until N environments created at once are all OK on each. Skipped unless
  ``KYMAPROV_TEST_POSTGRES`` names a server.
- ``scale``: GET environment and GET binding (server CPU per request and latency) and the server's RSS
  with a few environments and bindings in the database, then with many. The many are written straight
  into the database (``bench.scale_rows``) rather than through the API, which would take hours.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from tests.conftest import drop_database
from tests.e2e.test_seed_procedure import build_script
from tests.support.server import KUBECTL_DIR, Api, RunningServer, free_port

from bench.perf import Cpu, Row, cpu_seconds, paired

ROOT = Path(__file__).resolve().parents[1]
SEED_TARGET = 2.0  # seconds, issue 8
POSTGRES_LIMIT = 1.3  # PostgreSQL's CPU per request against SQLite's
SCALE_LIMIT = 1.2  # at N environments against N=100
POLL_SECONDS = 1.0  # how often creates_to_ok asks for the environments' states


def start(base: Path, database_url: str | None = None) -> RunningServer:
    """A ``kymaprov serve`` with instant provisioning, its files under ``base``."""
    base.mkdir(parents=True, exist_ok=True)
    return RunningServer(base / "data", free_port(), free_port(), 0, database_url=database_url).start()


# -- seed -------------------------------------------------------------------------------------------

# the phases of the procedure, by the numbered blocks of build_script() they span
PHASES = {
    "btp (6 commands)": (1, 2, 3),
    "kubectl (2 commands)": (12, 15),
}


def timed_script(name: str) -> str:
    """The verbatim procedure with a timestamp at each block's start and end and around the polls."""
    script = build_script().replace("kyma-cis", name)  # a fresh cis instance name for each run
    script = re.sub(r'echo "@@(BEGIN|END) (\d+)', r'echo "@@\1 \2 $EPOCHREALTIME', script)
    return script.replace("\nfor i in", '\necho "@@POLL $EPOCHREALTIME"\nfor i in').replace(
        'echo "@@DONE', 'echo "@@POLLED $EPOCHREALTIME"\necho "@@DONE'
    )


def run_seed(srv: RunningServer, work: Path, run: int) -> tuple[float, dict[str, float]]:
    """One run of the procedure: its wall time and the seconds spent in each phase."""
    work.mkdir(parents=True, exist_ok=True)
    script = work / f"seed-{run}.sh"
    script.write_text(timed_script(f"kyma-cis-{run}"))
    env = srv.env
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), str(KUBECTL_DIR), env.get("PATH", "")])
    env["KUBECACHEDIR"] = str(work / f"kube-cache-{run}")
    env["HOME"] = str(work)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])  # btp of this tree
    assert srv.proc is not None
    server_before, clients_before = cpu_seconds(srv.proc.pid), children_cpu()
    start = time.perf_counter()
    done = subprocess.run(
        ["bash", str(script)], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    total = time.perf_counter() - start
    server_cpu, clients_cpu = cpu_seconds(srv.proc.pid) - server_before, children_cpu() - clients_before
    if "@@DONE" not in done.stdout or "HTTP 404" not in done.stdout:
        raise RuntimeError(f"the seed procedure did not finish:\n{done.stdout}\n{done.stderr}")
    marks = {(k, int(n)): float(t) for k, n, t in re.findall(r"@@(BEGIN|END) (\d+) ([\d.]+)", done.stdout)}
    polls = [float(t) for t in re.findall(r"@@POLL ([\d.]+)", done.stdout)]
    polled = float(re.findall(r"@@POLLED ([\d.]+)", done.stdout)[0])
    phases = {
        name: sum(marks[("END", b)] - marks[("BEGIN", b)] for b in blocks) for name, blocks in PHASES.items()
    }
    phases["wait for OK (polls)"] = marks[("BEGIN", 9)] - polls[0]
    phases["wait for deletion (polls)"] = polled - polls[1]
    phases["server CPU"] = server_cpu
    phases["client CPU (btp, curl, jq, kubectl)"] = clients_cpu
    return total, phases


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # of the children waited for so far
    return usage.ru_utime + usage.ru_stime


def seed_rows(tmp: Path, args: argparse.Namespace) -> list[Row]:
    srv = start(tmp / "seed")
    try:
        runs = [run_seed(srv, tmp / "seed", i) for i in range(1 if args.smoke else max(3, args.repeat))]
    finally:
        srv.stop()
    total = statistics.median(t for t, _ in runs)
    rows = [Row("seed procedure verbatim", total, "s", target=f"< {SEED_TARGET:g} s", ok=total < SEED_TARGET)]
    for phase in runs[0][1]:
        rows.append(Row(f"seed: {phase}", statistics.median(p[phase] for _, p in runs), "s"))
    return rows


# -- PostgreSQL against SQLite ----------------------------------------------------------------------


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A fresh database on ``server_url`` (as tests/conftest.py makes one), dropped afterwards."""
    import psycopg

    name = f"kymaprov_bench_{uuid.uuid4().hex[:8]}"
    admin = server_url.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server_url}/{name}"
    finally:
        drop_database(name, server_url)


def subaccount_apis(srv: RunningServer, count: int) -> list[Api]:
    """``count`` fresh subaccounts (one Kyma environment each), an API client for each: one platform
    token for every cis instance (a password grant is a slow scrypt check on purpose)."""
    headers = {"authorization": f"Bearer {srv.platform_token()}"}
    apis = []
    with httpx.Client(base_url=srv.url, headers=headers, timeout=60) as http:
        for _ in range(count):
            sub = srv.new_subaccount(f"b{uuid.uuid4().hex[:10]}")
            base = f"/cis/v1/subaccounts/{sub}"
            name = f"cis-{uuid.uuid4().hex[:8]}"
            body = {"name": name, "offering_name": "cis", "plan_name": "local", "parameters": {}}
            http.post(f"{base}/service_instances", json=body).raise_for_status()
            bound = http.post(f"{base}/service_bindings", json={"name": name, "service_instance_name": name})
            apis.append(Api(srv, srv.token_for(bound.raise_for_status().json()["credentials"])))
    return apis


def creates_to_ok(apis: list[Api]) -> float:
    """Seconds from the first of ``len(apis)`` creates (one per subaccount, back to back) until all are OK,
    by the server's own record of when each became OK (its ``modifiedDate``). The bench looks once a
    second: a poll loop of its own would load the server it measures, and more the slower it is."""
    start_ms = time.time() * 1000
    pending = {api.create_kyma(name=f"r{i}"): api for i, api in enumerate(apis)}
    done_ms = start_ms
    while pending:
        time.sleep(POLL_SECONDS)
        for env_id, api in list(pending.items()):
            try:
                env = api.request("GET", f"/environments/{env_id}").json()
            except httpx.TransportError:  # the server closed the idle keep-alive connection: ask again
                continue
            if env["state"] == "OK":
                done_ms = max(done_ms, env["modifiedDate"])
                del pending[env_id]
    return (done_ms - start_ms) / 1000


def postgres_rows(tmp: Path, args: argparse.Namespace) -> list[Row]:
    url = os.environ.get("KYMAPROV_TEST_POSTGRES")
    if not url:
        print("postgres: skipped (set KYMAPROV_TEST_POSTGRES to a PostgreSQL server URL)", flush=True)
        return []
    # the figure is 100 creates; fewer with fewer --rounds (a loaded machine takes ~1 s per create)
    n, repeat, creates = args.rounds, args.repeat, 3 if args.smoke else min(100, args.rounds)
    with postgres_database(url) as database:
        pg = start(tmp / "pg", database)
        lite = start(tmp / "lite")
        try:
            gets = []
            for srv in (pg, lite):
                api = subaccount_apis(srv, 1)[0]
                env_id = api.create_kyma(name="bench")
                api.wait_state(env_id)
                assert srv.proc is not None
                gets.append((Cpu(srv.proc.pid), partial(api.request, "GET", f"/environments/{env_id}")))
            (pg_cpu, pg_get), (lite_cpu, lite_get) = gets
            rows = [
                paired(
                    "GET environment, PostgreSQL",
                    lambda: pg_cpu.per_call(pg_get, n),
                    lambda: lite_cpu.per_call(lite_get, n),
                    "SQLite",
                    repeat,
                    POSTGRES_LIMIT,
                )
            ]
            pg_apis, lite_apis = subaccount_apis(pg, creates), subaccount_apis(lite, creates)
            before = commits(database)
            pg_s = creates_to_ok(pg_apis)
            per_create = (commits(database) - before) / creates
            # its runtimes' controllers go on settling for a while (a core's worth): not during SQLite's run
            pg.stop()
            lite_s = creates_to_ok(lite_apis)
        finally:
            pg.stop()
            lite.stop()
        sync, unsync = commit_ms(database, "on"), commit_ms(database, "off")
    rows.append(
        Row(
            f"{creates} creates to OK, PostgreSQL",
            pg_s,
            "s",
            f"SQLite {lite_s:.2f} s",
            (pg_s / lite_s,),
            f"<= {POSTGRES_LIMIT:g}x",
            pg_s / lite_s <= POSTGRES_LIMIT,
        )
    )
    # read-only transactions end with COMMIT too (Store.read), so they count here since 3 Dec (night)
    rows.append(Row("PostgreSQL commits per create (all transactions)", per_create, "commits"))
    rows.append(Row("PostgreSQL commit of one insert", sync, "ms", f"synchronous_commit=off {unsync:.2f} ms"))
    return rows


def _connect(database: str) -> Any:
    import psycopg

    return psycopg.connect(database.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def commits(database: str) -> int:
    """Transactions committed in ``database`` so far (the statistics collector's count)."""
    with _connect(database) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return int(row[0])


def commit_ms(database: str, synchronous: str, n: int = 100) -> float:
    """Milliseconds per one-row insert and commit: what a write transaction waits for its WAL flush."""
    with _connect(database) as conn:
        conn.execute(f"SET synchronous_commit = {synchronous}")
        conn.execute("CREATE TABLE IF NOT EXISTS bench_commit (v int)")
        start = time.perf_counter()
        for i in range(n):
            conn.execute("INSERT INTO bench_commit VALUES (%s)", (i,))
    return (time.perf_counter() - start) * 1000 / n


# -- the entry point for bench.perf -----------------------------------------------------------------


def section_rows(section: str, tmp: Path, args: argparse.Namespace) -> list[Row]:
    """The rows of one of this module's sections (``bench.perf`` lists them in ``--only``)."""
    if section == "seed":
        if not (shutil.which("jq") and shutil.which("curl")):
            print("seed: skipped (needs curl and jq)", flush=True)
            return []
        return seed_rows(tmp, args)
    if section == "postgres":
        return postgres_rows(tmp, args)
    return scale_rows(tmp, args)


# -- scale ------------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def populate(database_url: str, env_id: str, binding_id: str, environments: int, bindings: int) -> None:
    """Grow the database to ``environments`` Kyma environments and ``bindings`` bindings.

    Each added environment is a copy of the one the API made (``env_id``), in a subaccount of its own,
    with its provision operation as the worker left it; each added binding a copy of ``binding_id``
    (same sealed kubeconfig, a far expiry), spread evenly over the environments. The copies have no
    runtime (``cluster_access`` is empty): 10,000 embedded clusters would measure the clusters, and
    the background passes that visit every runtime would try to reach clusters that do not exist.
    """
    import sqlalchemy as sa

    from kymaprov.provisioning.models import environments as envs
    from kymaprov.provisioning.models import kyma_bindings, operations
    from kymaprov.store import Store

    store = Store(database_url)
    try:
        with store.write() as conn:
            env = conn.execute(sa.select(envs).where(envs.c.id == env_id)).one()._asdict()
            op = conn.execute(sa.select(operations).where(operations.c.environment_id == env_id)).first()
            binding = conn.execute(sa.select(kyma_bindings).where(kyma_bindings.c.id == binding_id)).one()
            have_envs = conn.execute(sa.select(sa.func.count()).select_from(envs)).scalar_one()
            have_bindings = conn.execute(sa.select(sa.func.count()).select_from(kyma_bindings)).scalar_one()
        new_envs = [str(uuid.uuid4()).upper() for _ in range(environments - have_envs)]
        env_rows = [
            {**env, "id": i, "subaccount_id": str(uuid.uuid4()), "cluster_access": None} for i in new_envs
        ]
        op_rows = (
            [
                {
                    **op._asdict(),
                    "id": str(uuid.uuid4()),
                    "environment_id": r["id"],
                    "subaccount_id": r["subaccount_id"],
                }
                for r in env_rows
            ]
            if op is not None
            else []
        )
        targets = new_envs or [env_id]
        far = int(time.time() * 1000) + 365 * 86400 * 1000
        binding_rows = [
            {**binding._asdict(), "id": str(uuid.uuid4()), "environment_id": targets[i % len(targets)],
             "expires_ms": far}
            for i in range(bindings - have_bindings)
        ]  # fmt: skip
        for table, rows in ((envs, env_rows), (operations, op_rows), (kyma_bindings, binding_rows)):
            for chunk in range(0, len(rows), 5000):
                with store.write() as conn:
                    conn.execute(sa.insert(table), rows[chunk : chunk + 5000])
    finally:
        store.dispose()


class Probe:
    """Server CPU and latency per GET, RSS and idle CPU of one server."""

    def __init__(self, srv: RunningServer, get_env: Any, get_binding: Any) -> None:
        assert srv.proc is not None
        self.pid, self.cpu = srv.proc.pid, Cpu(srv.proc.pid)
        self.get_env, self.get_binding = get_env, get_binding

    def measure(self, n: int, repeat: int, idle_seconds: float) -> dict[str, float]:
        time.sleep(idle_seconds)  # what a fresh process does once (first passes, caches) is not measured
        before = cpu_seconds(self.pid)
        time.sleep(idle_seconds)
        idle = (cpu_seconds(self.pid) - before) * 100 / idle_seconds
        figures: dict[str, list[float]] = {"idle CPU": [idle]}
        for _ in range(repeat):
            for name, fn in (("GET environment", self.get_env), ("GET binding", self.get_binding)):
                figures.setdefault(f"{name} CPU", []).append(self.cpu.per_call(fn, n))
                start = time.perf_counter()
                for _ in range(n):
                    fn()
                figures.setdefault(f"{name} latency", []).append((time.perf_counter() - start) * 1000 / n)
        return {**{k: statistics.median(v) for k, v in figures.items()}, "RSS": rss_mb(self.pid)}


SCALE_UNITS = {"idle CPU": "% of a core", "CPU": "ms CPU", "latency": "ms", "RSS": "MB"}


def scale_rows(tmp: Path, args: argparse.Namespace) -> list[Row]:
    small, big_envs, big_bindings = (10, 500, 5_000) if args.smoke else (100, 10_000, 100_000)
    srv = start(tmp / "scale")
    database = f"sqlite:///{srv.data_dir / 'kymaprov.db'}"
    results = {}
    try:
        api = subaccount_apis(srv, 1)[0]
        token = api.client.headers["authorization"].split(" ", 1)[1]
        env_id = api.create_kyma(name="scale")
        api.wait_state(env_id)
        put = api.request(
            "PUT", f"/environments/{env_id}/bindings", json={"parameters": {"expiration_seconds": 3600}}
        )
        binding_id = put.raise_for_status().headers["location"]
        srv.stop()
        for label, envs, bindings in ((small, small, small * 10), (big_envs, big_envs, big_bindings)):
            populate(database, env_id, binding_id, envs, bindings)
            srv.start()  # a fresh process, so RSS is what these rows cost it
            api = Api(srv, token)
            get_env = partial(api.request, "GET", f"/environments/{env_id}")
            get_binding = partial(api.request, "GET", f"/environments/{env_id}/bindings/{binding_id}")
            assert get_binding().status_code == 200
            results[label] = Probe(srv, get_env, get_binding).measure(
                args.rounds, args.repeat, 1 if args.smoke else 5
            )
            srv.stop()
    finally:
        srv.stop()
    print(f"scale: {big_envs:,} environments and {big_bindings:,} bindings against {small} and {small * 10}")
    rows = []
    base, top = results[small], results[big_envs]
    for figure in base:
        unit = next(u for k, u in SCALE_UNITS.items() if figure.endswith(k))
        ratio = top[figure] / max(base[figure], 1e-6)
        flat = figure != "idle CPU" and not figure.endswith("latency")  # latency: noisy, shown only
        rows.append(
            Row(
                f"scale: {figure}",
                top[figure],
                unit,
                f"N={small}: {base[figure]:.2f}",
                (ratio,),
                f"<= {SCALE_LIMIT:g}x" if flat else "",
                ratio <= SCALE_LIMIT if flat else None,
            )
        )
    return rows
