"""Benchmark: does ``/oauth/token`` answer as fast for an unknown user as for a wrong password?

Run: ``python -m bench.bench_token_timing [--rounds N]``. Prints the median of each and their ratio;
asserts nothing. A ratio far from 1 would tell an attacker which user names exist (it was 62 ms
against 2.7 ms before unknown users got a dummy scrypt verification). The failure limits are lifted
for the run, else the tenth wrong password would be a fast 429.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from tests.support.server import RunningServer, free_port

from bench.bench_service import report

LIMITS = ("KYMAPROV_TOKEN_FAILURE_LIMIT", "KYMAPROV_TOKEN_ADDRESS_FAILURE_LIMIT")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        srv = RunningServer(Path(tmp) / "data", free_port(), free_port(), provisioning_seconds=0)
        srv.extra_env.update(
            {"KYMAPROV_TOKEN_FAILURE_LIMIT": "0", "KYMAPROV_TOKEN_ADDRESS_FAILURE_LIMIT": "0"}
        )
        srv.start()
        try:
            known, unknown = srv.login["user"], "nobody@example.com"
            samples: dict[str, list[float]] = {known: [], unknown: []}
            with httpx.Client(base_url=srv.url) as client:
                for _ in range(args.rounds):
                    for user in (known, unknown):  # interleaved, so drift hits both alike
                        data = {
                            "grant_type": "password",
                            "client_id": "btp-cli",
                            "username": user,
                            "password": "x",
                        }
                        start = time.perf_counter()
                        r = client.post("/oauth/token", data=data)
                        samples[user].append((time.perf_counter() - start) * 1000)
                        assert r.status_code == 401, r.text
            report("wrong password, known user", samples[known])
            report("any password, unknown user", samples[unknown])
            ratio = statistics.median(samples[unknown]) / statistics.median(samples[known])
            print(f"median ratio unknown/known: {ratio:.2f}")
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
