"""Where the client's OAuth client and URLs come from: a cis service key, the environment, or a profile.

A service key is what ``btp --format json get services/binding`` prints for a binding of the ``cis``
``local`` plan (an envelope with ``credentials``), or that ``credentials`` object alone. The fields
used are the ones SAP's procedure reads: ``uaa.clientid``, ``uaa.clientsecret``, ``uaa.url`` and
``endpoints.provisioning_service_url``.

Profiles are named credentials in one JSON file (``~/.config/kymaprov/profiles.json``, or the path in
``KYMAPROV_PROFILES``), always written with mode 0600.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kymaprov.client.exceptions import CredentialsError
from kymaprov.client.files import read_text_file, write_private

__all__ = [
    "ENV_VARS",
    "Credentials",
    "ProfileStore",
    "default_profiles_path",
    "resolve_credentials",
]

# environment variable -> Credentials field (the names SAP's curl procedure uses)
ENV_VARS = {
    "CLIENT_ID": "client_id",
    "CLIENT_SECRET": "client_secret",
    "UAA_URL": "uaa_url",
    "PROVISIONING_SERVICE_URL": "provisioning_url",
}
PROFILES_ENV = "KYMAPROV_PROFILES"
_KEY_PATHS = {
    "client_id": ("uaa", "clientid"),
    "client_secret": ("uaa", "clientsecret"),
    "uaa_url": ("uaa", "url"),
    "provisioning_url": ("endpoints", "provisioning_service_url"),
}


@dataclass(frozen=True)
class Credentials:
    """An OAuth client of the token service and the Provisioning Service's base URL."""

    client_id: str
    client_secret: str = field(repr=False)
    uaa_url: str
    provisioning_url: str

    def __post_init__(self) -> None:
        missing = [name for name in _KEY_PATHS if not str(getattr(self, name) or "").strip()]
        if missing:
            raise CredentialsError(f"credentials are missing {', '.join(missing)}")
        uaa_url = self.uaa_url.strip().rstrip("/")
        if uaa_url.endswith("/oauth/token"):  # a token URL given where the UAA base URL belongs
            uaa_url = uaa_url[: -len("/oauth/token")]
        object.__setattr__(self, "uaa_url", uaa_url)
        object.__setattr__(self, "provisioning_url", self.provisioning_url.strip().rstrip("/"))
        for name in ("uaa_url", "provisioning_url"):
            scheme, _, rest = getattr(self, name).partition("://")
            if scheme.lower() not in ("http", "https") or not rest:
                raise CredentialsError(f"{name} must be an http(s) URL, got {getattr(self, name)!r}")

    @property
    def token_url(self) -> str:
        return f"{self.uaa_url}/oauth/token"

    # -- sources --------------------------------------------------------------------------------

    @classmethod
    def from_service_key(cls, key: Mapping[str, Any] | str) -> Credentials:
        """From a cis service key: the binding envelope, its ``credentials`` object, or their JSON text."""
        data: Any = key
        if isinstance(key, str):
            try:
                data = json.loads(key)
            except ValueError as exc:
                raise CredentialsError(f"service key is not valid JSON: {exc}") from exc
        if not isinstance(data, Mapping):
            raise CredentialsError("service key must be a JSON object")
        prefix = ""
        if isinstance(data.get("credentials"), Mapping):
            data, prefix = data["credentials"], "credentials."
        values: dict[str, str] = {}
        missing: list[str] = []
        for name, (section, item) in _KEY_PATHS.items():
            container = data.get(section)
            value = container.get(item) if isinstance(container, Mapping) else None
            if not isinstance(value, str) or not value.strip():
                missing.append(f"{prefix}{section}.{item}")
            else:
                values[name] = value
        if missing:
            raise CredentialsError(
                f"service key is missing {', '.join(missing)}; expected a binding of the cis 'local' plan "
                "(the output of 'btp --format json get services/binding' or its 'credentials' object)"
            )
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Credentials:
        """From a file holding a service key."""
        try:
            text = read_text_file(path)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise CredentialsError(f"cannot read service key {path}: {reason}") from exc
        return cls.from_service_key(text)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """From ``CLIENT_ID``, ``CLIENT_SECRET``, ``UAA_URL`` and ``PROVISIONING_SERVICE_URL``."""
        env = os.environ if environ is None else environ
        missing = [var for var in ENV_VARS if not env.get(var, "").strip()]
        if missing:
            raise CredentialsError(f"environment variable(s) not set: {', '.join(missing)}")
        return cls(**{name: env[var] for var, name in ENV_VARS.items()})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Credentials:
        """From the profile form (``to_dict``)."""
        missing = [name for name in _KEY_PATHS if not isinstance(data.get(name), str) or not data[name]]
        if missing:
            raise CredentialsError(f"credentials are missing {', '.join(missing)}")
        return cls(**{name: str(data[name]) for name in _KEY_PATHS})

    def to_dict(self) -> dict[str, str]:
        return {name: str(getattr(self, name)) for name in _KEY_PATHS}


def default_profiles_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get(PROFILES_ENV):
        return Path(env[PROFILES_ENV])
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "kymaprov" / "profiles.json"


class ProfileStore:
    """Named ``Credentials`` in one JSON file ``{"profiles": {name: {...}}}`` kept at mode 0600."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_profiles_path()

    def _read(self) -> dict[str, Any]:
        try:
            text = read_text_file(self.path)
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise CredentialsError(f"cannot read profiles {self.path}: {exc}") from exc
        except OSError as exc:
            raise CredentialsError(f"cannot read profiles {self.path}: {exc.strerror or exc}") from exc
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            raise CredentialsError(f"profiles file {self.path} is not valid JSON: {exc}") from exc
        profiles = data.get("profiles", {}) if isinstance(data, dict) else None
        if not isinstance(profiles, dict):
            raise CredentialsError(f"profiles file {self.path} has no 'profiles' object")
        return profiles

    def _write(self, profiles: Mapping[str, Any]) -> None:
        write_private(self.path, json.dumps({"profiles": dict(profiles)}, indent=2, sort_keys=True) + "\n")

    def names(self) -> list[str]:
        return sorted(self._read())

    def load(self, name: str) -> Credentials:
        profiles = self._read()
        if name not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            raise CredentialsError(f"no profile named '{name}' in {self.path} (known: {known})")
        data = profiles[name]
        if not isinstance(data, dict):
            raise CredentialsError(f"profile '{name}' in {self.path} is not an object")
        try:
            return Credentials.from_dict(data)
        except CredentialsError as exc:
            raise CredentialsError(f"profile '{name}' in {self.path}: {exc}") from exc

    def save(self, name: str, credentials: Credentials) -> None:
        if not name:
            raise CredentialsError("a profile needs a name")
        profiles = self._read()
        profiles[name] = credentials.to_dict()
        self._write(profiles)

    def delete(self, name: str) -> bool:
        """Remove a profile; False if there was none of that name."""
        profiles = self._read()
        if profiles.pop(name, None) is None:
            return False
        self._write(profiles)
        return True


def resolve_credentials(
    *,
    service_key: str | os.PathLike[str] | None = None,
    profile: str | None = None,
    profiles_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Credentials:
    """The first source given: a service-key file, else a named profile, else the environment."""
    if service_key is not None:
        return Credentials.from_file(service_key)
    if profile is not None:
        return ProfileStore(profiles_path).load(profile)
    return Credentials.from_env(environ)
