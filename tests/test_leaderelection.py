"""Leader election through a Lease in a real embedded runtime's API (HTTPS): one holder at a time, a
Lease left unrenewed passes on after its duration as each candidate's own clock sees it, a holder
renews only when its renewal is old, and of two candidates writing at once one wins."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kymaprov.backends.kubeclient import KubeClient
from kymaprov.leaderelection import LEASE_SECONDS, RENEW_AFTER, Election
from tests.kubeapi.conftest import KubeServer


class Clock:
    """A candidate's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def kube_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeServer]:
    server = KubeServer(tmp_path_factory.mktemp("election") / "data")
    yield server
    server.stop()


@pytest.fixture
def kube(kube_server: KubeServer) -> Iterator[KubeClient]:
    client = KubeClient(kube_server.cluster())
    yield client
    client.close()


def candidates(*names: str) -> list[tuple[Election, Clock]]:
    made = []
    for name in names:
        clock = Clock()
        made.append((Election("kyma-system", "test-lease", name, clock=clock), clock))
    return made


def lease(kube: KubeClient) -> dict[str, Any]:
    return kube.get("/apis/coordination.k8s.io/v1/namespaces/kyma-system/leases/test-lease")


def test_the_first_candidate_takes_the_lease_and_another_waits(kube: KubeClient) -> None:
    (a, _), (b, _) = candidates("a", "b")
    assert a.lead(kube, "c1") is True
    first = lease(kube)
    spec = first["spec"]
    assert spec["holderIdentity"] == "a" and spec["leaseDurationSeconds"] == LEASE_SECONDS
    assert spec["leaseTransitions"] == 0 and spec["acquireTime"] == spec["renewTime"]
    assert spec["renewTime"].endswith("Z") and len(spec["renewTime"]) == len("2026-12-04T03:10:00.123456Z")
    assert b.lead(kube, "c1") is False
    assert b.lead(kube, "c1") is False
    assert lease(kube)["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]  # no write


def test_an_unrenewed_lease_passes_on_after_its_duration_by_the_waiting_candidates_clock(
    kube: KubeClient,
) -> None:
    (a, a_clock), (b, b_clock) = candidates("a", "b")
    assert a.lead(kube, "c1")
    assert not b.lead(kube, "c1")  # b first sees a's record now
    b_clock.now += LEASE_SECONDS - 0.1
    assert not b.lead(kube, "c1")
    b_clock.now += 0.2
    assert b.lead(kube, "c1")
    spec = lease(kube)["spec"]
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1
    assert spec["acquireTime"] == spec["renewTime"]
    a_clock.now += RENEW_AFTER + 1  # a's own renewal is old: it reads, and finds b's live Lease
    assert not a.lead(kube, "c1")


def test_a_holder_renews_only_when_its_renewal_is_old_and_keeps_the_lease_so(kube: KubeClient) -> None:
    (a, a_clock), (b, b_clock) = candidates("a", "b")
    assert a.lead(kube, "c1")
    version = lease(kube)["metadata"]["resourceVersion"]
    assert not b.lead(kube, "c1")
    a_clock.now += RENEW_AFTER - 0.5
    assert a.lead(kube, "c1") and lease(kube)["metadata"]["resourceVersion"] == version
    a_clock.now += 1
    assert a.lead(kube, "c1")
    renewed = lease(kube)
    assert renewed["metadata"]["resourceVersion"] != version
    assert renewed["spec"]["acquireTime"] != renewed["spec"]["renewTime"]
    assert renewed["spec"]["leaseTransitions"] == 0
    b_clock.now += LEASE_SECONDS + 1  # longer than a Lease, but the record changed meanwhile
    assert not b.lead(kube, "c1")


def test_of_two_candidates_taking_an_expired_lease_at_once_one_wins(kube: KubeClient) -> None:
    (a, a_clock), (b, b_clock), (c, _) = candidates("a", "b", "c")
    assert c.lead(kube, "c1")  # then c is gone
    assert not a.lead(kube, "c1") and not b.lead(kube, "c1")
    a_clock.now += LEASE_SECONDS + 1
    b_clock.now += LEASE_SECONDS + 1
    stale = lease(kube)  # what b read before a wrote
    assert a.lead(kube, "c1")
    assert b._write(kube, "c1", stale, b_clock()) is False  # its write carries the old version: 409
    assert lease(kube)["spec"]["holderIdentity"] == "a"
    assert not b.lead(kube, "c1")


def test_each_cluster_has_its_own_lease(kube_server: KubeServer, kube: KubeClient) -> None:
    (a, _), (b, _) = candidates("a", "b")
    other = KubeClient(kube_server.cluster("other"))
    try:
        assert a.lead(kube, "c1") and b.lead(other, "c2")
        assert not b.lead(kube, "c1") and not a.lead(other, "c2")
    finally:
        other.close()
