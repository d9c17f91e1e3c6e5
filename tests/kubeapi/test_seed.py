"""The seed's batches (``ObjectStore.seed``) skip decoding, validation and the per-object checks: they
must store exactly what the validated create path would, object for object and version for version."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kymaprov.backends.embedded import EmbeddedRuntimes
from kymaprov.config import Settings
from kymaprov.context import Context
from kymaprov.kubeapi.models import change_log, objects
from kymaprov.kubeapi.objects import ObjectStore
from tests.conftest import requires_postgres
from tests.support.server import free_port

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _stored(ctx: Context, cluster_id: str) -> list[tuple[Any, ...]]:
    """Every object and change-log row of the cluster, uids made neutral."""

    def neutral(text: str | None) -> Any:
        if text is None:
            return None
        return json.loads(_UUID.sub("UID", text))

    with ctx.store.read() as conn:
        rows = conn.execute(
            sa.select(objects.c.api_group, objects.c.resource, objects.c.namespace, objects.c.name,
                      objects.c.resource_version, objects.c.created_rv, objects.c.body)
            .where(objects.c.cluster_id == cluster_id)
            .order_by(objects.c.resource_version)
        ).all()  # fmt: skip
        log = conn.execute(
            sa.select(change_log.c.resource_version, change_log.c.type, change_log.c.api_group,
                      change_log.c.resource, change_log.c.namespace, change_log.c.name,
                      change_log.c.body, change_log.c.prev_body)
            .where(change_log.c.cluster_id == cluster_id)
            .order_by(change_log.c.resource_version)
        ).all()  # fmt: skip
    result: list[tuple[Any, ...]] = [(*r[:6], neutral(r[6])) for r in rows]
    result += [(*r[:6], neutral(r[6]), neutral(r[7])) for r in log]
    return result


def _seeded(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, database_url: str | None = None
) -> list[tuple[Any, ...]]:
    """A new cluster ``c-1`` at a fixed service time in a database of its own: what it stores."""
    settings = Settings(data_dir=data_dir, port=free_port(), kube_port=free_port(), database_url=database_url)
    ctx = Context.open(settings)
    try:
        monkeypatch.setattr(ctx.clock, "now", lambda: 1_800_000_000.25)
        monkeypatch.setattr(ctx.clock, "now_ms", lambda: 1_800_000_000_250)
        EmbeddedRuntimes(ctx).create_cluster("c-1", "r")
        return _stored(ctx, "c-1")
    finally:
        ctx.store.dispose()


def _validated(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[tuple[Any, ...]], set[str]]:
    """``_seeded`` on SQLite with every object of the seed's batches created one by one, decoded and
    validated; the kinds that were batched."""
    batched: list[str] = []
    seed = ObjectStore.seed

    def one_by_one(self: ObjectStore, items: Any) -> list[dict[str, Any]]:
        made = []
        for rt, namespace, body in items:
            batched.append(rt.resource)
            made.append(self.create(rt, namespace, body))
        return made

    monkeypatch.setattr(ObjectStore, "seed", one_by_one)
    checked = _seeded(data_dir, monkeypatch)
    monkeypatch.setattr(ObjectStore, "seed", seed)
    return checked, set(batched)


def test_seed_stores_what_the_validated_path_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seeded = _seeded(tmp_path / "seeded", monkeypatch)
    checked, skipped = _validated(tmp_path / "checked", monkeypatch)
    assert {"clusterroles", "nodes", "leases", "customresourcedefinitions", "deployments"} <= skipped
    assert len(seeded) > 60
    assert seeded == checked


@requires_postgres
def test_seed_on_postgres_stores_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_database: str
) -> None:
    seeded = _seeded(tmp_path / "seeded", monkeypatch, postgres_database)
    checked, _ = _validated(tmp_path / "checked", monkeypatch)
    assert seeded == checked
