"""Benchmark: what fault injection costs a request, against a real ``kymaprov serve``.

Run: ``python -m bench.bench_faults [--rounds N]``. Prints p50/p95 of ``GET /provisioning/v1/environments``
with no rules, with a rule that matches other paths, and with a counted rule that matches other methods
(the request checks it and passes); asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from kymaprov.testing import start_subprocess, stop_subprocess


def sample(client: httpx.Client, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        client.get("/provisioning/v1/environments").raise_for_status()
        out.append((time.perf_counter() - start) * 1000)
    return out


def report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    print(f"{name:<40} n={len(samples):<5} p50={statistics.median(samples):6.2f} ms  p95={p95:6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=500)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as tmp:
        proc, server = start_subprocess(Path(tmp) / "data")
        try:
            credentials = server.cis_credentials()
            token = httpx.post(
                credentials.token_url,
                data={"grant_type": "client_credentials"},
                auth=(credentials.client_id, credentials.client_secret),
            ).json()["access_token"]
            with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {token}"}) as client:
                sample(client, 50)  # warm up
                report("no rules", sample(client, rounds))
                server.admin("POST", "/admin/faults", {"path": "/cis/*", "status": 500})
                time.sleep(0.6)
                report("a rule for other paths", sample(client, rounds))
                server.admin("DELETE", "/admin/faults")
                rule = {"method": "POST", "path": "/provisioning/*", "status": 500, "count": 1000}
                server.admin("POST", "/admin/faults", rule)
                time.sleep(0.6)
                report("a counted rule for another method", sample(client, rounds))
        finally:
            stop_subprocess(proc)


if __name__ == "__main__":
    main()
