"""``KubeClients``: one pooled client per runtime, replaced when its access changes, bounded."""

from __future__ import annotations

import base64
import dataclasses

from kymaprov.backends.base import ClusterAccess
from kymaprov.backends.kubeclient import KubeClients
from kymaprov.crypto import issue_ca


def access(n: int, token: str = "t") -> ClusterAccess:
    ca = base64.b64encode(issue_ca(f"ca {n}").cert_pem.encode()).decode()
    return ClusterAccess(server=f"https://127.0.0.1:1/clusters/c{n}", ca_data=ca, token=token)


def test_a_runtime_keeps_its_client_until_its_access_changes() -> None:
    pool = KubeClients()
    first = access(1)
    client = pool.get(first)
    assert pool.get(dataclasses.replace(first)) is client
    rotated = pool.get(dataclasses.replace(first, token="new"))
    assert rotated is not client
    assert pool.get(dataclasses.replace(first, token="new")) is rotated
    assert len(pool) == 1


def test_the_least_recently_used_runtime_is_dropped_beyond_the_bound() -> None:
    pool = KubeClients(size=2)
    a, b, c = access(1), access(2), access(3)
    client_a = pool.get(a)
    pool.get(b)
    assert pool.get(a) is client_a  # a is now the most recent
    pool.get(c)  # drops b
    assert len(pool) == 2
    assert pool.get(a) is client_a
    assert pool.get(c) is pool.get(c)
