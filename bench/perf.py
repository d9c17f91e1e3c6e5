"""Every performance figure of issue 8 with its reference, measured in one run; one table out.

Run: ``python -m bench.perf [--rounds N] [--repeat R]``; ``--smoke`` runs each figure a few times only
and never fails (CI runs it to prove the bench works). Otherwise the exit status is 1 when a target
is missed.

Server figures are the CPU time (utime+stime from ``/proc``) the server process spends per request,
steadier than latency on a shared machine. The kymaprov process also serves its embedded runtimes, so
a binding's figure counts both sides of its Kubernetes calls. Each figure and its reference are taken
in alternating blocks, ``--repeat`` times; the table shows the median block and the spread
(min-max) of the ratio. Client figures are wall time of a fresh process, against ``python -c pass``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from tests.cli.conftest import seed_variables
from tests.conftest import Api, RunningServer, free_port

from bench.bench_watch import cpu_seconds

SECTIONS = ["requests", "bindings", "client", "watch", "lists", "memory"]
SCALE_SECTIONS = ["seed", "postgres", "scale"]  # bench/perf_scale.py, each on servers of its own


@dataclass
class Row:
    name: str
    value: float
    unit: str
    reference: str = ""
    ratios: tuple[float, ...] = ()
    target: str = ""
    ok: bool | None = None

    def cells(self) -> list[str]:
        ratio = ""
        if self.ratios:
            mid = statistics.median(self.ratios)
            ratio = f"{mid:.2f}x ({min(self.ratios):.2f}-{max(self.ratios):.2f})"
        verdict = {None: "", True: "ok", False: "MISSED"}[self.ok]
        return [self.name, f"{self.value:.2f} {self.unit}", self.reference, ratio, self.target, verdict]


class Cpu:
    """Server CPU per call of ``fn``, in milliseconds."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def per_call(self, fn: Callable[[], object], n: int) -> float:
        fn()  # warm: a first call may fill caches or open connections
        before = cpu_seconds(self.pid)
        for _ in range(n):
            fn()
        return (cpu_seconds(self.pid) - before) * 1000 / n


def paired(
    name: str,
    measure: Callable[[], float],
    reference: Callable[[], float],
    ref_name: str,
    repeat: int,
    limit: float | None,
) -> Row:
    """``measure`` and ``reference`` in alternating blocks, so that load drifts hit both alike."""
    values, refs = [], []
    for _ in range(repeat):
        values.append(measure())
        refs.append(reference())
    ratios = tuple(v / max(r, 1e-6) for v, r in zip(values, refs, strict=True))
    ok = None if limit is None else statistics.median(ratios) <= limit
    ref = f"{ref_name} {statistics.median(refs):.2f} ms"
    target = "" if limit is None else f"<= {limit:g}x"
    return Row(name, statistics.median(values), "ms CPU", ref, ratios, target, ok)


def throughput(fn: Callable[[], object], concurrency: int, n: int) -> float:
    """Calls per second of ``fn`` from ``concurrency`` threads."""
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: fn(), range(concurrency)))  # warm every thread's connection
        start = time.perf_counter()
        list(pool.map(lambda _: fn(), range(n)))
        return n / (time.perf_counter() - start)


def wall_ms(argv: list[str], env: dict[str, str], n: int) -> float:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def start_reference(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.reference", str(port), str(tmp / "ref.db")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/hello").raise_for_status()
            return proc, url
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("the reference server did not start") from None
            time.sleep(0.1)


def server_rows(srv: RunningServer, ref_pid: int, ref_url: str, args: argparse.Namespace) -> list[Row]:
    assert srv.proc is not None
    n, repeat = args.rounds, args.repeat
    server, ref = Cpu(srv.proc.pid), Cpu(ref_pid)
    creds = srv.cis_credentials()
    uaa = creds["uaa"]
    api = Api(srv, srv.token_for(creds))
    plain = httpx.Client(timeout=60)
    hello = lambda: plain.get(f"{ref_url}/hello").raise_for_status()  # noqa: E731
    row = lambda: plain.get(f"{ref_url}/row").raise_for_status()  # noqa: E731
    env_id = api.create_kyma(name="bench")
    api.wait_state(env_id)

    def get_env() -> None:
        api.request("GET", f"/environments/{env_id}").raise_for_status()

    def token() -> None:
        plain.post(
            f"{uaa['url']}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(uaa["clientid"], uaa["clientsecret"]),
        ).raise_for_status()

    def catalog() -> None:
        api.request("GET", "/availableEnvironments").raise_for_status()

    def pair() -> None:
        r = api.request(
            "PUT", f"/environments/{env_id}/bindings", json={"parameters": {"expiration_seconds": 600}}
        )
        r.raise_for_status()
        api.request("DELETE", f"/environments/{env_id}/bindings/{r.headers['location']}").raise_for_status()

    rows: list[Row] = []
    if "requests" in args.only:
        rows += requests_rows(server, ref, get_env, row, token, hello, catalog, n, repeat)
        rows += list_rows(srv, server, ref, ref_url, n, repeat)
    if "bindings" in args.only:
        rows += binding_rows(server, pair, n, repeat)
    if "requests" in args.only:
        rows.append(concurrent_row(get_env, hello, n, repeat))
    return rows


def requests_rows(
    server: Cpu,
    ref: Cpu,
    get_env: Callable[[], object],
    row: Callable[[], object],
    token: Callable[[], object],
    hello: Callable[[], object],
    catalog: Callable[[], object],
    n: int,
    repeat: int,
) -> list[Row]:
    return [
        paired(
            "GET environment",
            lambda: server.per_call(get_env, n),
            lambda: ref.per_call(row, n),
            "row",
            repeat,
            2.0,
        ),
        paired(
            "POST /oauth/token",
            lambda: server.per_call(token, n),
            lambda: ref.per_call(hello, n),
            "hello",
            repeat,
            4.0,
        ),
        paired(
            "GET availableEnvironments",
            lambda: server.per_call(catalog, n),
            lambda: ref.per_call(hello, n),
            "hello",
            repeat,
            None,
        ),
    ]


LIST_BINDINGS = 10  # the most a Kyma environment may have


def list_rows(srv: RunningServer, server: Cpu, ref: Cpu, ref_url: str, n: int, repeat: int) -> list[Row]:
    """The list endpoints, each against the reference reading and rendering as many rows (``/rows``).

    Their environment is in a subaccount of its own (one Kyma environment per subaccount), so that its
    ``LIST_BINDINGS`` bindings leave the binding figures' environment under its limit.
    """
    creds = srv.cis_credentials(srv.new_subaccount("bench-lists"))
    api = Api(srv, srv.token_for(creds))
    env_id = api.create_kyma(name="bench-lists")
    api.wait_state(env_id)
    bindings = f"/environments/{env_id}/bindings"
    for _ in range(LIST_BINDINGS):
        api.request("PUT", bindings, json={"parameters": {"expiration_seconds": 3600}}).raise_for_status()
    assert len(api.request("GET", bindings).json()["bindings"]) == LIST_BINDINGS
    plain = httpx.Client(timeout=60)

    def get(path: str) -> Callable[[], object]:
        return lambda: api.request("GET", path).raise_for_status()

    def ref_rows(k: int) -> Callable[[], object]:
        return lambda: plain.get(f"{ref_url}/rows", params={"n": k}).raise_for_status()

    def figure(name: str, fn: Callable[[], object], k: int) -> Row:
        reference = ref_rows(k)
        measure = lambda: server.per_call(fn, n)  # noqa: E731
        return paired(name, measure, lambda: ref.per_call(reference, n), f"rows n={k}", repeat, 2.0)

    return [
        figure("GET environments (list of 1)", get("/environments"), 1),
        figure(f"GET bindings (list of {LIST_BINDINGS})", get(bindings), LIST_BINDINGS),
    ]


def binding_rows(server: Cpu, pair: Callable[[], object], n: int, repeat: int) -> list[Row]:
    pairs = max(2, n // 5)
    cpu = statistics.median(server.per_call(pair, pairs) for _ in range(repeat))
    rate = statistics.median(throughput(pair, 4, pairs * 2) for _ in range(repeat))
    return [
        Row("binding PUT+DELETE (both sides)", cpu, "ms CPU", target="<= 10 ms", ok=cpu <= 10),
        Row("binding pairs/s at c=4", rate, "pairs/s", target=">= 100/s", ok=rate >= 100),
    ]


def concurrent_row(get_env: Callable[[], object], hello: Callable[[], object], n: int, repeat: int) -> Row:
    env_rates, hello_rates = [], []
    for _ in range(repeat):
        env_rates.append(throughput(get_env, 16, n * 4))
        hello_rates.append(throughput(hello, 16, n * 4))
    ratios = tuple(e / h for e, h in zip(env_rates, hello_rates, strict=True))
    return Row(
        "GET environment at c=16",
        statistics.median(env_rates),
        "req/s",
        f"hello {statistics.median(hello_rates):.0f} req/s",
        ratios,
        ">= 0.5x",
        statistics.median(ratios) >= 0.5,
    )


def client_rows(srv: RunningServer, tmp: Path, args: argparse.Namespace) -> list[Row]:
    n = max(3, args.rounds // 10)
    creds = srv.cis_credentials(srv.new_subaccount("bench-cli"))  # one Kyma environment per subaccount
    env = {**os.environ, **seed_variables(creds), "XDG_STATE_HOME": str(tmp / "state")}
    py = [sys.executable]
    nothing = wall_ms([*py, "-c", "pass"], env, n)
    ref = f"python -c pass {nothing:.0f} ms"
    btp = "import sys; from kymaprov.cli.btp import main; sys.argv[0] = 'btp'; main()"
    rows = []
    for name, argv in (
        ("kymaprov --help", [*py, "-m", "kymaprov", "--help"]),
        ("btp --help", [*py, "-c", btp, "--help"]),
    ):
        ms = wall_ms(argv, env, n)
        rows.append(Row(name, ms, "ms", ref, (ms / nothing,), "< 120 ms", ms < 120))
    kymaprov = [*py, "-m", "kymaprov"]
    kubeconfig, state = tmp / "kc.yaml", tmp / "exec-state.json"
    for step in (
        ["up", "bench-cli", "--user", "b@x", "-f", str(kubeconfig), "--interval", "0.1"],
        ["kubeconfig", "bench-cli", "--exec", "-f", str(tmp / "exec.yaml"), "--state", str(state)],
        ["exec-credential", "--state", str(state)],  # the first issues the binding
    ):
        subprocess.run([*kymaprov, *step], env=env, check=True, capture_output=True)
    ms = wall_ms([*kymaprov, "exec-credential", "--state", str(state)], env, n)
    rows.append(Row("exec-credential (live binding)", ms, "ms", ref, (ms / nothing,), "< 100 ms", ms < 100))
    return rows


def print_table(rows: list[Row]) -> None:
    header = ["figure", "value", "reference", "ratio (spread)", "target", ""]
    table = [header, *(r.cells() for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200, help="requests per measured block")
    parser.add_argument("--repeat", type=int, default=5, help="alternating blocks per figure")
    parser.add_argument("--smoke", action="store_true", help="a few calls each; never fails on a target")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS + SCALE_SECTIONS,
        default=SECTIONS + SCALE_SECTIONS,
        help="measure these sections only",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.rounds, args.repeat = 10, 1
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        ref_proc, ref_url = start_reference(tmp)
        srv = RunningServer(tmp / "data", free_port(), free_port(), provisioning_seconds=0).start()
        try:
            rows = server_rows(srv, ref_proc.pid, ref_url, args)
            if "client" in args.only:
                rows += client_rows(srv, tmp, args)
            from bench import perf_runtime  # imports this module

            if set(perf_runtime.SECTIONS) & set(args.only):
                rows += perf_runtime.rows(srv, ref_proc.pid, ref_url, tmp, args)
        finally:
            srv.stop()
            ref_proc.terminate()
            ref_proc.wait(10)
        from bench import perf_scale

        for section in (s for s in SCALE_SECTIONS if s in args.only):
            rows += perf_scale.section_rows(section, tmp, args)
    print_table(rows)
    missed = [r.name for r in rows if r.ok is False]
    if missed and not args.smoke:
        print(f"missed: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
