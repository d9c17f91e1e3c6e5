"""OAuth clients and the tokens issued to them.

Tokens are RS256 JWTs signed with one installation key (kept sealed in the store, published at
``/token_keys``). Their ``exp`` comes from the service clock, and verification checks signature,
issuer and expiry against the same clock, so advancing the clock expires tokens too.
"""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
import sqlalchemy as sa
from jwt.algorithms import RSAAlgorithm

from kymaprov.accounts.models import User, authenticate_user
from kymaprov.context import Context
from kymaprov.crypto import hash_secret, new_rsa_key_pem, public_key_pem, verify_secret
from kymaprov.store import Query, metadata, settings
from kymaprov.uaa.exceptions import BadCredentials, TokenRejected, UnauthorizedGrant, UnsupportedGrantType

TOKEN_LIFETIME_SECONDS = 43199
VERIFIED_TOKENS = 4096
_SIGNING_KEY = "uaa.signing_key"
_KEY_ID = "key-id-1"
_UNKNOWN_CLIENT_HASH = "sha256$8s8/cfJdRj9JtHqwZtQNBw==$5z3wBi9Lfhc08K/l2c1c8uE/eNDvdmE7EKhM5wE9Blw="

oauth_clients = sa.Table(
    "oauth_clients",
    metadata,
    sa.Column("client_id", sa.String(255), primary_key=True),
    sa.Column("secret_hash", sa.String(255), nullable=True),  # None: a public client
    sa.Column("global_account_id", sa.String(64), nullable=True),
    sa.Column("subaccount_id", sa.String(64), nullable=True),
    sa.Column("service_instance_id", sa.String(64), nullable=True),
    sa.Column("xsappname", sa.String(255), nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("grant_types", sa.JSON, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)
# built once: making a statement costs more than running it (``verify`` runs one on every request)
_CLIENT = Query(sa.select(oauth_clients).where(oauth_clients.c.client_id == sa.bindparam("client_id")))
_CLIENT_EXISTS = Query(
    sa.select(oauth_clients.c.client_id).where(oauth_clients.c.client_id == sa.bindparam("client_id"))
)

BTP_CLI_CLIENT = "btp-cli"
PLATFORM_SCOPE = "kymaprov.platform"


@dataclass(frozen=True)
class Principal:
    """Who a verified token speaks for."""

    client_id: str
    xsappname: str
    scopes: frozenset[str]
    grant_type: str
    subaccount_id: str | None
    global_account_id: str | None
    user_name: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False)

    def has_scope(self, suffix: str) -> bool:
        """Scopes carry the xsappname prefix: ``cis-local!b4.subaccount.environment.read``."""
        return f"{self.xsappname}.{suffix}" in self.scopes


class TokenService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._private_pem = self._load_or_create_key()
        self._public_pem = public_key_pem(self._private_pem)
        # parsed once: loading an RSA key validates it, which costs tens of milliseconds per token
        rs256 = jwt.get_algorithm_by_name("RS256")
        self._signing_key = rs256.prepare_key(self._private_pem)
        self._verifying_key = rs256.prepare_key(self._public_pem)
        # an RS256 check is most of a request's CPU, and clients send one token for hours: remember the
        # verified claims per token (its whole text, signature included), bounded; expiry and the
        # client's existence are still checked on every request, so deletion takes effect at once
        self._decode = functools.lru_cache(maxsize=VERIFIED_TOKENS)(self._decode_signed)
        self.ensure_builtin_clients()

    @property
    def issuer(self) -> str:
        return f"{self._ctx.settings.base_url}/oauth/token"

    def _load_or_create_key(self) -> str:
        sealed = self._ctx.store.get_setting(_SIGNING_KEY)
        if sealed:
            return self._ctx.sealer.open_str(sealed)
        pem = new_rsa_key_pem()
        with self._ctx.store.write() as conn:
            row = conn.execute(sa.select(settings.c.value).where(settings.c.key == _SIGNING_KEY)).first()
            if row is not None:  # another replica won the race
                return self._ctx.sealer.open_str(row[0])
            self._ctx.store.set_setting(_SIGNING_KEY, self._ctx.sealer.seal(pem), conn)
        return pem

    def ensure_builtin_clients(self) -> None:
        """The public client ``btp`` logs in with (password grant, platform scope only)."""
        with self._ctx.store.write() as conn:
            exists = conn.execute(
                sa.select(oauth_clients.c.client_id).where(oauth_clients.c.client_id == BTP_CLI_CLIENT)
            ).first()
            if exists is None:
                conn.execute(
                    sa.insert(oauth_clients).values(
                        client_id=BTP_CLI_CLIENT,
                        secret_hash=None,
                        xsappname="kymaprov",
                        scopes=[PLATFORM_SCOPE],
                        grant_types=["password"],
                        created_ms=self._ctx.clock.now_ms(),
                    )
                )

    def verification_key(self) -> str:
        return self._public_pem

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self._verifying_key))
        jwk.update({"kid": _KEY_ID, "alg": "RS256", "use": "sig", "value": self._public_pem})
        return {"keys": [jwk]}

    # -- clients -------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every client registered for a service instance; the built-in ``btp`` client stays."""
        with self._ctx.store.write() as conn:
            conn.execute(sa.delete(oauth_clients).where(oauth_clients.c.service_instance_id.is_not(None)))

    @staticmethod
    def unregister_client(conn: sa.Connection, client_id: str) -> None:
        """Its tokens are refused from now on: ``verify`` checks that the client still exists."""
        conn.execute(sa.delete(oauth_clients).where(oauth_clients.c.client_id == client_id))

    def register_client(
        self,
        conn: sa.Connection,
        *,
        client_id: str,
        secret: str,
        xsappname: str,
        scopes: list[str],
        grant_types: list[str],
        global_account_id: str,
        subaccount_id: str | None,
        service_instance_id: str,
        generated: bool = True,
    ) -> None:
        """``generated``: the secret is random (a fast salted hash); a chosen one gets scrypt."""
        conn.execute(
            sa.insert(oauth_clients).values(
                client_id=client_id,
                secret_hash=hash_secret(secret, generated=generated),
                xsappname=xsappname,
                scopes=scopes,
                grant_types=grant_types,
                global_account_id=global_account_id,
                subaccount_id=subaccount_id,
                service_instance_id=service_instance_id,
                created_ms=self._ctx.clock.now_ms(),
            )
        )

    def _client(self, client_id: str, secret: str | None) -> dict[str, Any]:
        if "\x00" in client_id:  # no client has one, and PostgreSQL refuses it as a parameter
            raise BadCredentials()
        rows = self._ctx.store.query(_CLIENT, {"client_id": client_id})
        row = rows[0] if rows else None
        if row is None:
            verify_secret(secret or "", _UNKNOWN_CLIENT_HASH)  # the same work as a wrong secret
            raise BadCredentials()
        hashed = row["secret_hash"]
        if hashed is not None and (secret is None or not verify_secret(secret, hashed)):
            raise BadCredentials()
        return row

    # -- grants --------------------------------------------------------------------------------

    def grant(
        self,
        grant_type: str,
        client_id: str,
        client_secret: str | None,
        username: str | None = None,
        password: str | None = None,
    ) -> dict[str, Any]:
        """Issue a token response; extra ``username``/``password`` on client_credentials are ignored."""
        if grant_type not in ("client_credentials", "password"):
            raise UnsupportedGrantType(f"Unsupported grant type: {grant_type}")
        client = self._client(client_id, client_secret)
        if grant_type not in client["grant_types"]:
            raise UnauthorizedGrant(f"Unauthorized grant type: {grant_type}")
        user: User | None = None
        if grant_type == "password":
            if not username or not password:
                raise BadCredentials("A username and password are required", user=True)
            user = authenticate_user(self._ctx, username, password)
            if user is None:
                raise BadCredentials(user=True)
            if client["global_account_id"] and user.global_account_id != client["global_account_id"]:
                raise BadCredentials(user=True)
        return self._issue(client, grant_type, user)

    def _issue(self, client: dict[str, Any], grant_type: str, user: User | None) -> dict[str, Any]:
        now = int(self._ctx.clock.now())
        jti = uuid.uuid4().hex
        scopes = list(client["scopes"])
        global_account_id = client["global_account_id"] or (user.global_account_id if user else None)
        subaccount_id = client["subaccount_id"]
        claims: dict[str, Any] = {
            "jti": jti,
            "sub": user.username if user else client["client_id"],
            "client_id": client["client_id"],
            "cid": client["client_id"],
            "azp": client["client_id"],
            "grant_type": grant_type,
            "scope": scopes,
            "aud": sorted({s.rsplit(".", 1)[0] for s in scopes} | {client["client_id"]}),
            "iss": self.issuer,
            "zid": subaccount_id or global_account_id,
            "iat": now,
            "exp": now + TOKEN_LIFETIME_SECONDS,
            "ext_attr": {
                "enhancer": "XSUAA",
                "subaccountid": subaccount_id,
                "globalaccountid": global_account_id,
                "serviceinstanceid": client["service_instance_id"],
            },
            "xsappname": client["xsappname"],
        }
        if user:
            claims["user_name"] = user.username
            claims["email"] = user.username
            claims["origin"] = "ldap"
        token = jwt.encode(claims, self._signing_key, algorithm="RS256", headers={"kid": _KEY_ID})
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": TOKEN_LIFETIME_SECONDS,
            "scope": " ".join(scopes),
            "jti": jti,
        }

    # -- verification --------------------------------------------------------------------------

    def verify(self, token: str) -> Principal:
        """Check signature, issuer and expiry (by the service clock) and that the client still exists."""
        exp, principal = self._decode(token)
        if exp <= self._ctx.clock.now():
            raise TokenRejected("token expired")
        if not self._ctx.store.query(_CLIENT_EXISTS, {"client_id": principal.client_id}):
            raise TokenRejected("the client of this token was deleted")
        return principal

    def _decode_signed(self, token: str) -> tuple[int, Principal]:
        """The expiry and caller of a token whose signature and issuer are good; else ``TokenRejected``."""
        try:
            claims = jwt.decode(
                token,
                self._verifying_key,
                algorithms=["RS256"],
                issuer=self.issuer,
                options={"verify_exp": False, "verify_aud": False, "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            raise TokenRejected(str(exc)) from exc
        exp = claims.get("exp")
        if not isinstance(exp, int):
            raise TokenRejected("token expired")
        client_id = claims.get("client_id")
        if not isinstance(client_id, str):
            raise TokenRejected("token names no client")
        ext = claims.get("ext_attr") or {}
        return exp, Principal(
            client_id=client_id,
            xsappname=str(claims.get("xsappname", "")),
            scopes=frozenset(claims.get("scope") or []),
            grant_type=str(claims.get("grant_type", "")),
            subaccount_id=ext.get("subaccountid"),
            global_account_id=ext.get("globalaccountid"),
            user_name=claims.get("user_name"),
            claims=claims,
        )
