"""Bound ServiceAccount tokens: ES256 JWTs signed with the cluster's own key, as TokenRequest issues.

Claims follow ``pkg/serviceaccount/claims.go``. Times come from the service clock, so advancing it
expires tokens; ``exp``/``nbf`` are therefore checked here, never by the JWT library.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey, EllipticCurvePublicKey

from kymaprov.kubeapi.errors import Unauthorized

ISSUER = "https://kubernetes.default.svc.cluster.local"
API_AUDIENCES = (ISSUER,)
DEFAULT_EXPIRATION = 3600
MIN_EXPIRATION = 600
MAX_EXPIRATION = 2**32
NOT_BEFORE_LEEWAY = 60


@dataclass(frozen=True)
class TokenClaims:
    namespace: str
    name: str
    uid: str
    jti: str
    bound: dict[str, dict[str, str]]  # {"pod": {"name", "uid"}} or {"secret": {...}}; may be empty


def load_private_key(pem: str) -> EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, EllipticCurvePrivateKey):
        raise ValueError("the ServiceAccount signing key must be an EC key")
    return key


def key_id(public_key: EllipticCurvePublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")


def issue(
    key: EllipticCurvePrivateKey,
    *,
    namespace: str,
    name: str,
    uid: str,
    audiences: list[str],
    now: float,
    expiration_seconds: int,
    bound: dict[str, dict[str, str]] | None = None,
) -> tuple[str, int]:
    """Sign a token; returns it and its ``exp`` (epoch seconds)."""
    issued = int(now)
    expires = issued + expiration_seconds
    private: dict[str, Any] = {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}}
    private.update(bound or {})
    claims = {
        "aud": audiences,
        "exp": expires,
        "iat": issued,
        "iss": ISSUER,
        "jti": str(uuid.uuid4()),
        "kubernetes.io": private,
        "nbf": issued,
        "sub": f"system:serviceaccount:{namespace}:{name}",
    }
    token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": key_id(key.public_key())})
    return token, expires


def verify(token: str, public_key: EllipticCurvePublicKey, now: float) -> TokenClaims:
    """Check signature, issuer, audience and times; raise ``Unauthorized`` on any failure."""
    try:
        claims = jwt.decode(
            token,
            public_key,
            algorithms=["ES256"],
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False},
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized() from exc
    if claims.get("iss") != ISSUER:
        raise Unauthorized()
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences or []
    if not set(audiences) & set(API_AUDIENCES):
        raise Unauthorized()
    exp, nbf = claims.get("exp"), claims.get("nbf", 0)
    if not isinstance(exp, int | float) or now >= exp:
        raise Unauthorized()
    if isinstance(nbf, int | float) and now + NOT_BEFORE_LEEWAY < nbf:
        raise Unauthorized()
    private = claims.get("kubernetes.io")
    if not isinstance(private, dict):
        raise Unauthorized()
    account = private.get("serviceaccount") or {}
    namespace, name, uid = private.get("namespace"), account.get("name"), account.get("uid")
    if not (isinstance(namespace, str) and isinstance(name, str) and isinstance(uid, str)):
        raise Unauthorized()
    if claims.get("sub") != f"system:serviceaccount:{namespace}:{name}":
        raise Unauthorized()
    bound = {k: v for k, v in private.items() if k in ("pod", "secret") and isinstance(v, dict)}
    return TokenClaims(namespace, name, uid, str(claims.get("jti", "")), bound)
