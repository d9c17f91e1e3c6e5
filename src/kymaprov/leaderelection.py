"""Leader election through a ``coordination.k8s.io/v1`` Lease in the cluster, as client-go's
``leaderelection`` does it, for a controller that runs in several processes at once (the btp-operator
runs on every replica, as a controller-runtime manager runs in every pod of its Deployment).

As in client-go, a candidate never compares the Lease's times with its own clock (clocks of two
machines differ): it notes when *it* first saw the current record (holder, renew time and version),
and takes the Lease over only once that record stayed unchanged for ``leaseDurationSeconds`` of its
own monotonic time. A holder acts only within ``RENEW_AFTER`` seconds of its last renewal, so no
other candidate can have seen the Lease expire meanwhile.

Unlike client-go, the election is lazy: a candidate asks just before it acts, and renews only then,
so an idle cluster sees no Lease writes at all.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kymaprov.backends.kubeclient import KubeClient, KubeClientError
from kymaprov.lru import LRU

LEASE_SECONDS = 15  # controller-runtime's default LeaseDuration
RENEW_AFTER = LEASE_SECONDS / 2  # a holder renews before acting once its last renewal is this old
LEASES = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"


@dataclass(frozen=True)
class _Seen:
    record: tuple[str, str, str]  # holder, renew time, resourceVersion
    since: float  # monotonic time this candidate first saw the record
    renewed: float | None = None  # monotonic time this candidate wrote it, if it did


def micro_time() -> str:
    """A ``MicroTime`` (RFC 3339 with microseconds) of the wall clock now."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Election:
    """One candidate (``identity``) for the Lease ``namespace/name`` in each cluster it is asked about."""

    def __init__(
        self,
        namespace: str,
        name: str,
        identity: str | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.namespace = namespace
        self.name = name
        self.identity = identity or f"{socket.gethostname()}_{uuid.uuid4()}"  # client-go's form
        self._clock = clock
        self._seen: LRU[str, _Seen] = LRU(4096)  # by cluster

    @property
    def path(self) -> str:
        return f"{LEASES.format(namespace=self.namespace)}/{self.name}"

    def lead(self, kube: KubeClient, cluster: str) -> bool:
        """Whether this candidate may act in ``cluster`` (reached through ``kube``) now: it holds the
        Lease, renewed or taken over here if need be. False while another candidate's Lease is live.
        ``KubeClientError`` for anything but a lost race."""
        now = self._clock()
        seen = self._seen.get(cluster)
        if seen is not None and seen.renewed is not None and now - seen.renewed < RENEW_AFTER:
            return True  # ours, renewed moments ago: no read
        try:
            lease = kube.get(self.path)
        except KubeClientError as exc:
            if exc.status != 404:
                raise
            return self._write(kube, cluster, None, now)
        spec = lease.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        record = (holder, str(spec.get("renewTime") or ""), str(lease["metadata"]["resourceVersion"]))
        if seen is None or seen.record != record:
            seen = _Seen(record, now)
            self._seen.put(cluster, seen)
        duration = int(spec.get("leaseDurationSeconds") or LEASE_SECONDS)
        if holder and holder != self.identity and now < seen.since + duration:
            return False
        return self._write(kube, cluster, lease, now)

    def _write(self, kube: KubeClient, cluster: str, lease: dict[str, Any] | None, now: float) -> bool:
        """Take or renew the Lease; False if another candidate wrote it first (409)."""
        stamp = micro_time()
        spec: dict[str, Any] = dict((lease or {}).get("spec") or {})
        if spec.get("holderIdentity") != self.identity:  # taken: from another holder, or released
            spec["acquireTime"] = stamp
            if spec.get("holderIdentity"):
                spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        spec.update(
            {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": stamp,
                "leaseTransitions": int(spec.get("leaseTransitions") or 0),
            }
        )
        try:
            if lease is None:
                body = {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": spec,
                }
                written = kube.create(LEASES.format(namespace=self.namespace), body, exist_ok=False)
            else:
                written = kube.put(self.path, {**lease, "spec": spec})  # its resourceVersion: or 409
        except KubeClientError as exc:
            if exc.status == 409:
                return False
            raise
        version = str(written["metadata"]["resourceVersion"])
        self._seen.put(cluster, _Seen((self.identity, stamp, version), now, renewed=now))
        return True
