"""Credentials from a cis service key, its bare credentials, the environment and profiles."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from kymaprov.client import (
    Credentials,
    CredentialsError,
    ProfileStore,
    default_profiles_path,
    resolve_credentials,
)

BARE = {
    "endpoints": {"accounts_service_url": "https://accounts.example",
                  "provisioning_service_url": "https://provisioning-service.cfapps.eu10.hana.ondemand.com/"},
    "grant_type": "client_credentials",
    "sap.cloud.service": "com.sap.core.commercial.service.local",
    "uaa": {"apiurl": "x", "clientid": "sb-abc!b1|cis-local!b4", "clientsecret": "secret-1",
            "credential-type": "binding-secret", "url": "https://sub.authentication.eu10.hana.ondemand.com",
            "xsappname": "x", "xsmasterappname": "cis-local!b4"},
}  # fmt: skip
ENVELOPE = {
    "id": "9d6439fa-7c3b-4f24-ba31-8f1be0771653", "ready": True, "name": "cis-binding",
    "service_instance_id": "df532d07", "context": {"origin": "sapcp"}, "credentials": BARE,
    "subaccount_id": "sa", "labels": "subaccount_id = sa",
}  # fmt: skip
EXPECTED = Credentials(
    client_id="sb-abc!b1|cis-local!b4",
    client_secret="secret-1",
    uaa_url="https://sub.authentication.eu10.hana.ondemand.com",
    provisioning_url="https://provisioning-service.cfapps.eu10.hana.ondemand.com",
)


@pytest.mark.parametrize("key", [ENVELOPE, BARE, json.dumps(ENVELOPE), json.dumps(BARE)])
def test_service_key_envelope_or_bare_credentials(key: Any) -> None:
    creds = Credentials.from_service_key(key)
    assert creds == EXPECTED
    assert creds.token_url == "https://sub.authentication.eu10.hana.ondemand.com/oauth/token"
    assert "secret-1" not in repr(creds)


def test_service_key_missing_fields_are_all_named() -> None:
    broken = json.loads(json.dumps(ENVELOPE))
    del broken["credentials"]["uaa"]["clientsecret"]
    del broken["credentials"]["endpoints"]["provisioning_service_url"]
    with pytest.raises(CredentialsError) as info:
        Credentials.from_service_key(broken)
    message = str(info.value)
    assert "credentials.uaa.clientsecret" in message
    assert "credentials.endpoints.provisioning_service_url" in message
    assert "clientid" not in message
    with pytest.raises(CredentialsError, match=r"uaa\.clientid"):
        Credentials.from_service_key({"uaa": {}, "endpoints": {}})
    with pytest.raises(CredentialsError, match="not valid JSON"):
        Credentials.from_service_key("{nope")
    with pytest.raises(CredentialsError, match="JSON object"):
        Credentials.from_service_key("[]")
    assert CredentialsError.exit_code == 3


def test_service_key_file(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(ENVELOPE))
    assert Credentials.from_file(path) == EXPECTED
    assert resolve_credentials(service_key=path) == EXPECTED
    with pytest.raises(CredentialsError, match="cannot read"):
        Credentials.from_file(tmp_path / "missing.json")


def test_env_vars() -> None:
    env = {
        "CLIENT_ID": EXPECTED.client_id,
        "CLIENT_SECRET": EXPECTED.client_secret,
        "UAA_URL": EXPECTED.uaa_url + "/",
        "PROVISIONING_SERVICE_URL": EXPECTED.provisioning_url,
    }
    assert Credentials.from_env(env) == EXPECTED
    assert resolve_credentials(environ=env) == EXPECTED
    with pytest.raises(CredentialsError) as info:
        Credentials.from_env({"CLIENT_ID": "x", "UAA_URL": " "})
    assert "CLIENT_SECRET" in str(info.value) and "UAA_URL" in str(info.value)
    assert "PROVISIONING_SERVICE_URL" in str(info.value) and "CLIENT_ID," not in str(info.value)


def test_profiles_round_trip_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "kymaprov" / "profiles.json"
    store = ProfileStore(path)
    assert store.names() == []
    store.save("dev", EXPECTED)
    other = Credentials("id2", "s2", "https://uaa2", "https://ps2")
    store.save("prod", other)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert store.names() == ["dev", "prod"]
    assert ProfileStore(path).load("dev") == EXPECTED
    assert resolve_credentials(profile="prod", profiles_path=path) == other
    assert json.loads(path.read_text())["profiles"]["dev"]["client_secret"] == "secret-1"
    assert store.delete("dev") and not store.delete("dev")
    assert store.names() == ["prod"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["profiles.json"]  # no temporary files left


def test_profile_file_is_0600_even_with_a_permissive_umask_or_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "profiles.json"
    path.write_text('{"profiles": {}}')
    os.chmod(path, 0o644)
    old = os.umask(0)
    try:
        ProfileStore(path).save("a", EXPECTED)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_profile_errors(tmp_path: Path) -> None:
    path = tmp_path / "profiles.json"
    store = ProfileStore(path)
    with pytest.raises(CredentialsError, match="no profile named 'x'"):
        store.load("x")
    path.write_text("{broken")
    with pytest.raises(CredentialsError, match="not valid JSON"):
        store.load("x")
    path.write_text(json.dumps({"profiles": {"half": {"client_id": "a", "uaa_url": "u"}}}))
    with pytest.raises(CredentialsError, match="client_secret, provisioning_url"):
        store.load("half")


def test_default_profiles_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert default_profiles_path({"KYMAPROV_PROFILES": "/x/p.json"}) == Path("/x/p.json")
    assert default_profiles_path({"XDG_CONFIG_HOME": "/cfg"}) == Path("/cfg/kymaprov/profiles.json")
    monkeypatch.setenv("KYMAPROV_PROFILES", str(tmp_path / "env.json"))
    assert ProfileStore().path == tmp_path / "env.json"
    monkeypatch.delenv("KYMAPROV_PROFILES")
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_profiles_path() == tmp_path / ".config" / "kymaprov" / "profiles.json"


def test_credentials_validate_their_fields() -> None:
    with pytest.raises(CredentialsError, match="client_secret"):
        Credentials("id", "", "https://uaa", "https://ps")


def test_token_url_given_as_uaa_url_and_non_http_urls() -> None:
    creds = Credentials("id", "secret", "https://uaa.example.com/oauth/token/", "https://prov.example.com")
    assert creds.token_url == "https://uaa.example.com/oauth/token"
    with pytest.raises(CredentialsError, match="uaa_url must be an http"):
        Credentials("id", "secret", "not a url", "https://prov.example.com")


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_service_keys_written_by_windows_shells(tmp_path: Path, encoding: str) -> None:
    key = {"uaa": {"clientid": "i", "clientsecret": "s", "url": "https://u"},
           "endpoints": {"provisioning_service_url": "https://p"}}  # fmt: skip
    path = tmp_path / "key.json"
    path.write_text(json.dumps(key), encoding=encoding)
    assert Credentials.from_file(path).client_id == "i"
    path.write_bytes(b"\x80\x81 not text")
    with pytest.raises(CredentialsError, match="cannot read service key"):
        Credentials.from_file(path)
