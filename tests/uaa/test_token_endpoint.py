"""The token service against a real server: grants, client authentication, errors, JWKS."""

from __future__ import annotations

import base64
import re

import httpx
import jwt
import pytest

from tests.conftest import RunningServer


@pytest.fixture(scope="module")
def creds(server: RunningServer) -> dict[str, str]:
    uaa: dict[str, str] = server.cis_credentials()["uaa"]
    return uaa


def test_client_credentials_with_basic_auth(server: RunningServer, creds: dict[str, str]) -> None:
    r = httpx.post(
        f"{creds['url']}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(creds["clientid"], creds["clientsecret"]),
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "jti"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 43199
    assert re.fullmatch(r"[0-9a-f]{32}", body["jti"])
    scopes = body["scope"].split()
    assert "cis-local!b4.subaccount.environment.read" in scopes
    assert "cis-local!b4.subaccount.environment.create" in scopes
    assert "cis-local!b4.job.read" in scopes
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256"


def test_client_auth_in_form_fields_and_extra_username_password_ignored(creds: dict[str, str]) -> None:
    """crossplane's Go oauth2 client sends username/password alongside client_credentials."""
    r = httpx.post(
        f"{creds['url']}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": creds["clientid"],
            "client_secret": creds["clientsecret"],
            "username": creds["clientid"],
            "password": creds["clientsecret"],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["access_token"]


def test_token_verifies_against_published_jwks(server: RunningServer, creds: dict[str, str]) -> None:
    token = server.token_for({"uaa": creds})
    keys = httpx.get(f"{server.url}/token_keys").json()["keys"]
    assert keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256"
    key = jwt.PyJWK(keys[0]).key
    claims = jwt.decode(token, key, algorithms=["RS256"], options={"verify_aud": False})
    assert claims["client_id"] == creds["clientid"]
    assert claims["ext_attr"]["subaccountid"] == creds["subaccountid"]
    assert claims["exp"] - claims["iat"] == 43199


@pytest.mark.parametrize(
    "auth",
    [("nobody", "x"), ("__client__", "wrong-secret")],
)
def test_bad_client_credentials_are_401_in_oauth_format(creds: dict[str, str], auth: tuple[str, str]) -> None:
    user = creds["clientid"] if auth[0] == "__client__" else auth[0]
    r = httpx.post(
        f"{creds['url']}/oauth/token", data={"grant_type": "client_credentials"}, auth=(user, auth[1])
    )
    assert r.status_code == 401
    assert r.json() == {"error": "unauthorized", "error_description": "Bad credentials"}


def test_malformed_basic_header_is_401(creds: dict[str, str]) -> None:
    r = httpx.post(
        f"{creds['url']}/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"authorization": "Basic !!!not-base64"},
    )
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized"


def test_unsupported_grant_type(creds: dict[str, str]) -> None:
    r = httpx.post(
        f"{creds['url']}/oauth/token",
        data={"grant_type": "authorization_code"},
        auth=(creds["clientid"], creds["clientsecret"]),
    )
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"


def test_missing_grant_type(creds: dict[str, str]) -> None:
    r = httpx.post(f"{creds['url']}/oauth/token", data={}, auth=(creds["clientid"], creds["clientsecret"]))
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"


def test_grant_type_parameter_is_honoured(server: RunningServer) -> None:
    """A clientCredentials instance's client may not use the password grant; a default one may."""
    login = server.login
    cc = server.cis_credentials(grant="clientCredentials")["uaa"]
    form = {"grant_type": "password", "username": login["user"], "password": login["password"]}
    r = httpx.post(f"{cc['url']}/oauth/token", data=form, auth=(cc["clientid"], cc["clientsecret"]))
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"

    pw = server.cis_credentials(grant="password")
    r = httpx.post(
        f"{pw['uaa']['url']}/oauth/token", data=form, auth=(pw["uaa"]["clientid"], pw["uaa"]["clientsecret"])
    )
    assert r.status_code == 200, r.text
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert claims["user_name"] == login["user"]
    assert claims["grant_type"] == "password"
    assert pw["grant_type"] == "user_token"

    bad = {**form, "password": "wrong"}
    r = httpx.post(
        f"{pw['uaa']['url']}/oauth/token", data=bad, auth=(pw["uaa"]["clientid"], pw["uaa"]["clientsecret"])
    )
    assert r.status_code == 401


def test_client_ids_with_special_characters_work_urlencoded_in_basic(creds: dict[str, str]) -> None:
    """Client ids contain '!' and '|'; RFC 6749 clients may form-urlencode them in the Basic header."""
    from urllib.parse import quote

    raw = f"{quote(creds['clientid'], safe='')}:{quote(creds['clientsecret'], safe='')}"
    header = "Basic " + base64.b64encode(raw.encode()).decode()
    r = httpx.post(
        f"{creds['url']}/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"authorization": header},
    )
    assert r.status_code == 200, r.text
