"""Benchmark: what the request-metrics middleware adds to one request, in process (no sockets, so the
figure is the middleware's own cost, not the machine's noise).

Run: ``python -m bench.bench_metrics [--requests N]``. Calls a one-route Starlette app with and without
``kymaprov.metrics.RequestMetrics`` through ASGI, alternating rounds; prints µs per request; then the time
of one scrape (the shared-state gauges' queries on a fresh SQLite store). Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from kymaprov import server  # noqa: F401 - registers every table before the store opens
from kymaprov.config import Settings
from kymaprov.context import Context
from kymaprov.metrics import Metrics, RequestMetrics
from kymaprov.provisioning.gauges import StateGauges


async def endpoint_async(_: Request) -> Response:
    return PlainTextResponse("ok")


def app(metrics: Metrics | None) -> Starlette:
    routes = [Route("/provisioning/v1/environments/{environmentInstanceId}", endpoint_async)]
    middleware = [Middleware(RequestMetrics, metrics=metrics)] if metrics else []
    return Starlette(routes=routes, middleware=middleware)


async def run(target: Any, n: int) -> float:
    """Seconds per request over ``n`` requests."""
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/provisioning/v1/environments/abc",
        "raw_path": b"/provisioning/v1/environments/abc",
        "query_string": b"",
        "headers": [],
        "root_path": "",
        "scheme": "http",
        "server": ("127.0.0.1", 8080),
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_: Any) -> None:
        return None

    start = time.perf_counter()
    for _ in range(n):
        await target(dict(scope), receive, send)
    return (time.perf_counter() - start) / n


async def main_async(requests: int, rounds: int) -> None:
    plain, counted = app(None), app(Metrics())
    await run(plain, 1000)
    await run(counted, 1000)
    without, with_ = [], []
    for _ in range(rounds):
        without.append(await run(plain, requests))
        with_.append(await run(counted, requests))
    a, b = statistics.median(without) * 1e6, statistics.median(with_) * 1e6
    print(f"request without metrics   {a:7.1f} µs (median of {rounds} rounds of {requests})")
    print(f"request with metrics      {b:7.1f} µs")
    print(f"middleware cost           {b - a:7.1f} µs per request")


def scrape(n: int = 200) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Context.open(Settings(data_dir=Path(tmp)))
        metrics = Metrics([StateGauges(ctx)])
        generate_latest(metrics.registry)
        start = time.perf_counter()
        for _ in range(n):
            generate_latest(metrics.registry)
        print(f"scrape (SQLite gauges)    {(time.perf_counter() - start) / n * 1e3:7.2f} ms")
        ctx.store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main_async(args.requests, args.rounds))
    scrape()


if __name__ == "__main__":
    main()
