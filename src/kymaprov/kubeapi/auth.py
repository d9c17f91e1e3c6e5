"""Authentication of every request: the cluster's admin token or a bound ServiceAccount token.

Bound tokens are re-validated on every request (``claims.go`` ``validator.Validate``): signature with
this cluster's key (so another cluster's token fails), expiry by the service clock, and that the
ServiceAccount and any bound Pod/Secret still exist with the same UID. Deleting the ServiceAccount or
the cluster therefore revokes its tokens at once.
"""

from __future__ import annotations

import hmac

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey, EllipticCurvePublicKey
from sqlalchemy.engine import Connection

from kymaprov.crypto import Sealer, fingerprint
from kymaprov.kubeapi import tokens
from kymaprov.kubeapi.errors import Unauthorized
from kymaprov.kubeapi.models import LIVE, clusters
from kymaprov.kubeapi.objects import ObjectStore
from kymaprov.kubeapi.rbac import MASTERS, UserInfo
from kymaprov.kubeapi.resources import PODS, SECRETS, SERVICE_ACCOUNTS
from kymaprov.lru import LRU
from kymaprov.store import Query

ADMIN_USER = "kymaprov:admin"
AUTHENTICATED = "system:authenticated"


def admin_user() -> UserInfo:
    return UserInfo(ADMIN_USER, (MASTERS, AUTHENTICATED))


def service_account_user(namespace: str, name: str, uid: str, extra: dict[str, list[str]]) -> UserInfo:
    return UserInfo(
        f"system:serviceaccount:{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED),
        uid,
        extra,
    )


# built once: every request runs it, and building a statement costs more than running it
_CLUSTER_KEYS = Query(
    sa.select(clusters.c.admin_token_fp, clusters.c.sa_signing_key).where(
        clusters.c.id == sa.bindparam("cluster"), LIVE
    )
)


class Authenticator:
    """Turns a bearer token into a ``UserInfo`` for one cluster, or raises ``Unauthorized``."""

    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer
        # the recently used clusters' ServiceAccount keys, by the sealed text they were opened from
        self._keys: LRU[str, tuple[str, EllipticCurvePrivateKey, EllipticCurvePublicKey]] = LRU()

    def signing_key(self, cluster_id: str, sealed: str) -> EllipticCurvePrivateKey:
        """The cluster's ServiceAccount signing key (TokenRequest), opened once while it is recent."""
        return self._opened(cluster_id, sealed)[1]

    def _public_key(self, cluster_id: str, sealed: str) -> EllipticCurvePublicKey:
        return self._opened(cluster_id, sealed)[2]

    def _opened(
        self, cluster_id: str, sealed: str
    ) -> tuple[str, EllipticCurvePrivateKey, EllipticCurvePublicKey]:
        cached = self._keys.get(cluster_id)
        if cached is not None and cached[0] == sealed:
            return cached
        key = tokens.load_private_key(self._sealer.open_str(sealed))
        opened = (sealed, key, key.public_key())
        self._keys.put(cluster_id, opened)
        return opened

    def forget(self, cluster_id: str) -> None:
        self._keys.pop(cluster_id)

    def authenticate(self, conn: Connection, cluster_id: str, token: str | None, now: float) -> UserInfo:
        # no cluster id holds NUL (and PostgreSQL refuses it in a parameter): see ``equals``
        rows = [] if "\x00" in cluster_id else _CLUSTER_KEYS.fetch(conn, {"cluster": cluster_id})
        if not rows or not token:
            raise Unauthorized()
        if hmac.compare_digest(fingerprint(token), rows[0]["admin_token_fp"]):
            return admin_user()
        if token.count(".") != 2:
            raise Unauthorized()
        claims = tokens.verify(token, self._public_key(cluster_id, rows[0]["sa_signing_key"]), now)
        store = ObjectStore(conn, cluster_id, now, self._sealer)
        account = store.find(SERVICE_ACCOUNTS, claims.namespace, claims.name)
        if account is None or account["metadata"].get("uid") != claims.uid:
            raise Unauthorized()
        if account["metadata"].get("deletionTimestamp"):
            raise Unauthorized()
        extra = {"authentication.kubernetes.io/credential-id": [f"JTI={claims.jti}"]} if claims.jti else {}
        for kind, rt in (("pod", PODS), ("secret", SECRETS)):
            ref = claims.bound.get(kind)
            if ref is None:
                continue
            bound = store.find(rt, claims.namespace, str(ref.get("name", "")))
            if bound is None or bound["metadata"].get("uid") != ref.get("uid"):
                raise Unauthorized()
            if kind == "pod":
                extra["authentication.kubernetes.io/pod-name"] = [str(ref.get("name"))]
                extra["authentication.kubernetes.io/pod-uid"] = [str(ref.get("uid"))]
        return service_account_user(claims.namespace, claims.name, claims.uid, extra)
