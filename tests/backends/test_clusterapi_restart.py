"""A ``kymaprov serve`` killed (SIGKILL) during a runtime's create on Cluster API resumes the create when
it starts again on the same database, and the runtime gets no second Cluster.

Killed while Cluster API provisions (the operation waits between polls), or the moment the Cluster is
created (the worker is inside its step, holding the operation's lease, and may not have recorded that
the Cluster exists: the next kymaprov repeats the step, finds the Cluster, and waits for the lease)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kymaprov.backends.kubeclient import KubeClientError
from kymaprov.provisioning.models import operations
from tests.backends.fake_capi import CLUSTERS, capi_kymaprov
from tests.backends.test_clusterapi import create, message, wait_for
from tests.conftest import POSTGRES_URL, new_api


@pytest.mark.parametrize(
    ("when", "database"), [("provisioning", "sqlite"), ("created", "sqlite"), ("created", "postgres")]
)
def test_a_killed_worker_resumes_the_create_without_a_second_cluster(
    request: pytest.FixtureRequest, tmp_path: Path, when: str, database: str
) -> None:
    url = None
    if database == "postgres":
        if not POSTGRES_URL:
            pytest.skip("set KYMAPROV_TEST_POSTGRES to run against PostgreSQL")
        url = request.getfixturevalue("postgres_database")
    with capi_kymaprov(tmp_path, minutes=0, database_url=url) as (server, fake, _):
        fake.hold.clear()  # Cluster API keeps the Cluster Provisioning until released
        api = new_api(server, "capi-restart")
        assert server.proc is not None
        if when == "created":
            fake.on_added = server.proc.kill
        env_id = create(api, "survivor")
        name = f"kyma-{env_id.lower()}"

        def cluster() -> dict[str, Any] | None:
            try:
                return fake.kube.get(f"{CLUSTERS}/{name}")
            except KubeClientError:
                return None

        uid = wait_for(cluster, "the Cluster")["metadata"]["uid"]
        if when == "provisioning":
            message(api, env_id, f"Cluster {name} is Provisioning, waiting for control plane initialization")
            assert server.stop(signal.SIGKILL) == -signal.SIGKILL
        else:
            assert server.proc.wait(30) == -signal.SIGKILL
        engine = sa.create_engine(url or f"sqlite:///{tmp_path / 'data' / 'kymaprov.db'}")
        with engine.connect() as db:
            state = db.execute(sa.select(operations.c.state).where(operations.c.environment_id == env_id))
            assert state.scalar_one() == "pending"  # the create was cut short
        engine.dispose()

        fake.hold.set()  # Cluster API finishes while no kymaprov runs
        wait_for(lambda: ((cluster() or {}).get("status") or {}).get("phase") == "Provisioned", "Provisioned")
        server.start()  # the same data directory and ports
        env = api.wait_state(env_id, timeout=90)
        assert env["stateMessage"] == "Environment instance created."
        assert f'"APIServerURL":"{fake.workload.server}"' in env["labels"]
        time.sleep(1)  # a second Cluster would be seen by now
        assert [c["metadata"]["uid"] for c in fake.kube.list(CLUSTERS)] == [uid]
        assert fake.added == [uid]  # the watch saw one Cluster created, ever
