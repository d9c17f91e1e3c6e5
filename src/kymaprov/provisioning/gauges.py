"""Prometheus gauges of the shared state, read from the database at each scrape.

Every replica answers the same numbers, since they come from the rows and not from the process: live
Kyma bindings, runtimes by backend, and lifecycle operations not yet finished by type. Each is one
grouped ``COUNT`` over indexed or small tables; a failing database yields no samples, not a failed scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kymaprov.backends.runtimes import EMBEDDED, runtime_backends
from kymaprov.context import Context
from kymaprov.provisioning.bindings import READY
from kymaprov.provisioning.models import environments, kyma_bindings, operations

log = logging.getLogger(__name__)


class StateGauges(Collector):
    """Shared state read at scrape time; runtimes are labelled with the backend that made them
    (``runtime_backends``; clusters made before the router recorded it count as embedded)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def collect(self) -> Iterator[Metric]:
        now_ms = self._ctx.clock.now_ms()
        try:
            with self._ctx.store.read() as conn:
                live = conn.execute(
                    sa.select(sa.func.count()).where(
                        kyma_bindings.c.state == READY, kyma_bindings.c.expires_ms > now_ms
                    )
                ).scalar_one()
                backend = sa.func.coalesce(runtime_backends.c.backend, EMBEDDED)
                runtimes = conn.execute(
                    sa.select(backend, sa.func.count())
                    .select_from(
                        environments.outerjoin(
                            runtime_backends,
                            runtime_backends.c.cluster_id == sa.func.lower(environments.c.id),
                        )
                    )
                    .where(environments.c.cluster_access.is_not(None))
                    .group_by(backend)
                ).all()
                pending = conn.execute(
                    sa.select(operations.c.type, sa.func.count())
                    .where(operations.c.state == "pending")
                    .group_by(operations.c.type)
                ).all()
        except sa.exc.SQLAlchemyError:
            log.warning("metrics: the database did not answer; shared-state gauges left out", exc_info=True)
            return
        bindings = GaugeMetricFamily("kymaprov_kyma_bindings", "Kyma bindings that are ready and unexpired")
        bindings.add_metric([], live)
        yield bindings
        by_backend = GaugeMetricFamily(
            "kymaprov_runtimes", "Provisioned runtimes, by backend", labels=["backend"]
        )
        counts = {EMBEDDED: 0} | {str(name): int(count) for name, count in runtimes}
        for name, count in sorted(counts.items()):
            by_backend.add_metric([name], count)
        yield by_backend
        by_type = GaugeMetricFamily(
            "kymaprov_lifecycle_operations_pending",
            "Lifecycle operations not yet finished, by type",
            labels=["type"],
        )
        for kind, count in pending:
            by_type.add_metric([kind], count)
        yield by_type
