"""Benchmark: latency of the calls the procedure makes, against a real ``kymaprov serve``.

Run: ``python -m bench.bench_service [--rounds N]``. Prints p50/p95/max per call; asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import ssl
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml
from tests.support.server import Api, RunningServer, free_port


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    p50 = statistics.median(samples)
    print(f"{name:<34} n={len(samples):<4} p50={p50:7.1f} ms  p95={p95:7.1f} ms  max={ordered[-1]:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        srv = RunningServer(Path(tmp) / "data", free_port(), free_port(), provisioning_seconds=0).start()
        try:
            creds = srv.cis_credentials()
            uaa = creds["uaa"]
            report(
                "POST /oauth/token",
                timed(
                    lambda: httpx.post(
                        f"{uaa['url']}/oauth/token",
                        data={"grant_type": "client_credentials"},
                        auth=(uaa["clientid"], uaa["clientsecret"]),
                    ).raise_for_status(),
                    args.rounds,
                ),
            )
            api = Api(srv, srv.token_for(creds))
            report(
                "GET availableEnvironments",
                timed(lambda: api.request("GET", "/availableEnvironments"), args.rounds),
            )
            start = time.perf_counter()
            env_id = api.create_kyma(name="bench")
            api.wait_state(env_id)
            report("create environment until OK", [(time.perf_counter() - start) * 1000])
            report(
                "GET environment", timed(lambda: api.request("GET", f"/environments/{env_id}"), args.rounds)
            )

            def bind_and_revoke() -> None:
                r = api.request(
                    "PUT",
                    f"/environments/{env_id}/bindings",
                    json={"parameters": {"expiration_seconds": 600}},
                )
                r.raise_for_status()
                api.request(
                    "DELETE", f"/environments/{env_id}/bindings/{r.headers['location']}"
                ).raise_for_status()

            report("PUT + DELETE binding", timed(bind_and_revoke, max(5, args.rounds // 5)))
            r = api.request(
                "PUT", f"/environments/{env_id}/bindings", json={"parameters": {"expiration_seconds": 600}}
            )
            config = yaml.safe_load(r.json()["credentials"]["kubeconfig"])
            cluster = config["clusters"][0]["cluster"]
            context = ssl.create_default_context(
                cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
            )
            kube = httpx.Client(
                base_url=cluster["server"],
                verify=context,
                headers={"authorization": f"Bearer {config['users'][0]['user']['token']}"},
            )
            sni = {"sni_hostname": cluster["tls-server-name"]}
            report(
                "runtime GET pods (SA token)",
                timed(
                    lambda: kube.get("/api/v1/namespaces/default/pods", extensions=sni).raise_for_status(),
                    args.rounds,
                ),
            )
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
