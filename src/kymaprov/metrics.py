"""Prometheus metrics of one kymaprov process, served at ``/metrics`` on the API port.

Counters and histograms count what this process did (requests it answered, operations its worker
finished): each replica exposes its own and Prometheus sums them. Gauges that describe shared state
(live bindings, runtimes, pending operations) are read from the database at scrape time by collectors
given to ``Metrics``, so every replica reports the same, correct value.

Requests are labelled by route template (``/provisioning/v1/environments/{environmentInstanceId}``), never the
raw path, so the series stay bounded; a request no route matches is labelled ``unmatched``, a method
outside HTTP's usual ones ``other``. The page
shows counts and durations only, no ids, names or secrets, so it needs no token, as KEB's.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "unmatched"
# any other method a client sends is labelled "other": the label set stays bounded whatever arrives
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# lifecycle operations take from seconds (embedded runtimes) to many minutes (real clusters)
OPERATION_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)


class Metrics:
    """The registry of one server: its process counters and the shared-state collectors."""

    def __init__(self, collectors: Iterable[Collector] = ()) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "kymaprov_http_requests",
            "HTTP requests answered by this process, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "kymaprov_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            ["method", "route"],
            registry=self.registry,
        )
        self.operations = Counter(
            "kymaprov_lifecycle_operations",
            "Lifecycle operations this process's worker finished, by type and final state",
            ["type", "state"],
            registry=self.registry,
        )
        self.operation_seconds = Histogram(
            "kymaprov_lifecycle_operation_duration_seconds",
            "Service-clock time from an operation's request to its end, by type and final state",
            ["type", "state"],
            buckets=OPERATION_BUCKETS,
            registry=self.registry,
        )
        for collector in collectors:
            self.registry.register(collector)

    def operation_finished(self, type_: str, state: str, seconds: float) -> None:
        self.operations.labels(type_, state).inc()
        self.operation_seconds.labels(type_, state).observe(max(seconds, 0.0))

    def route(self) -> Route:
        def metrics(_: Request) -> Response:  # sync: the collectors query the database in a thread
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

        return Route("/metrics", metrics, methods=["GET"])


class RequestMetrics:
    """ASGI middleware counting each HTTP request by method, route template and status, with its time."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # (method, route template, status) -> its counter and histogram; bounded as the routes are
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # an exception that escapes every handler is answered 500 by the server

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")  # set by Starlette's router on the scope it was given
            template = getattr(route, "path", None) or UNMATCHED
            method = scope["method"] if scope["method"] in METHODS else "other"
            key = (method, template, status)
            series = self._series.get(key)
            if series is None:  # first time: look the children up once (the label look-up takes a lock)
                counter = self.metrics.requests.labels(method, template, str(status))
                series = self._series[key] = (counter, self.metrics.request_seconds.labels(method, template))
            series[0].inc()
            series[1].observe(time.perf_counter() - start)
