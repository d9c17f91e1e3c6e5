"""Bindings that never run out: the kubectl exec credential plugin's state and rotation.

Kyma bindings last 600-7200 s and at most 10 may be live per environment, so a long pipeline that
makes a binding per job soon hits the cap. ``kymaprov kubeconfig --exec`` instead writes a kubeconfig
whose user runs ``kymaprov exec-credential --state FILE``. Each time kubectl asks, ``RotatingCredential``:

1. takes an exclusive lock on the state file (parallel kubectl processes share one binding);
2. asks the service whether the current binding is still live (a GET: the service's clock and any
   revocation decide, not ours) and whether it still has more than the refresh margin left;
3. if not, creates a fresh binding, stores its token, and deletes the bindings it superseded;
4. answers an ``ExecCredential`` whose ``expirationTimestamp`` is the binding's expiry minus the
   margin, so a long-running kubectl asks again before the token dies.

So at most two bindings are live at any moment (the old one only until the new one is stored). The
state file holds the credentials and the current token and is written with mode 0600. Lifetimes are
counted on the local clock from just before the binding was requested (kubectl compares
``expirationTimestamp`` with its own clock), so skew with the service's clock cannot make the plugin
hand out a token it believes valid for longer than it is.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kymaprov.client.auth import ClientCredentialsAuth, Token
from kymaprov.client.credentials import Credentials
from kymaprov.client.exceptions import (
    ClientError,
    CredentialsError,
    GoneError,
    NotFoundError,
    ProvisioningError,
    RateLimitedError,
    ServerError,
    TransportError,
    UnauthorizedError,
)
from kymaprov.client.files import write_private
from kymaprov.client.kubeconfig import EXEC_API_VERSION, KubeconfigInfo, parse_kubeconfig
from kymaprov.client.models import Binding
from kymaprov.client.sync import ProvisioningClient

__all__ = ["ExecState", "RotatingCredential", "refresh_margin"]

ClientFactory = Callable[[Credentials, ClientCredentialsAuth], ProvisioningClient]


def refresh_margin(expiration_seconds: int) -> float:
    """Rotate this long before expiry: a tenth of the lifetime, at least a minute."""
    return max(60.0, expiration_seconds / 10)


@dataclass
class ExecState:
    """What the plugin remembers between kubectl invocations (one JSON file, mode 0600)."""

    credentials: dict[str, str]
    environment_id: str
    expiration_seconds: int
    binding_id: str = ""
    token: str = field(default="", repr=False)
    expires_at: float = 0.0  # local epoch seconds: requested at + expiration_seconds
    refresh_at: float = 0.0  # expires_at less the refresh margin (read by kymaprov.cli.exec_fast)
    superseded: list[str] = field(default_factory=list)  # bindings still to delete
    # the Provisioning API token, reused by the next kubectl start while it is fresh
    api_token: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: Path) -> ExecState:
        try:
            data = json.loads(path.read_text())
            return cls(**data)
        except OSError as exc:
            raise CredentialsError(f"cannot read exec state {path}: {exc.strerror or exc}") from exc
        except (ValueError, TypeError) as exc:
            raise CredentialsError(f"exec state {path} is corrupt: {exc}") from exc

    def save(self, path: Path) -> None:
        write_private(path, json.dumps(asdict(self), indent=2) + "\n")

    def retire(self) -> None:
        """Supersede the current binding without a successor (it is deleted with the others)."""
        if self.binding_id:
            self.superseded.append(self.binding_id)
        self.binding_id, self.token = "", ""

    def adopt(self, binding: Binding, requested_at: float) -> KubeconfigInfo:
        """Make ``binding`` (requested at local time ``requested_at``) current; the previous is superseded."""
        info = parse_kubeconfig(binding.kubeconfig)
        if self.binding_id and self.binding_id != binding.id:
            self.superseded.append(self.binding_id)
        self.binding_id = binding.id
        self.token = info.token
        self.expires_at = requested_at + (binding.expiration_seconds or self.expiration_seconds)
        self.refresh_at = self.expires_at - refresh_margin(self.expiration_seconds)
        return info


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    lock_path = path.with_name(path.name + ".lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as exc:
        raise ClientError(f"cannot use exec state {path}: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RotatingCredential:
    """Hands out the current binding's token, replacing the binding before it runs out."""

    def __init__(
        self,
        state_path: str | os.PathLike[str],
        *,
        client_factory: ClientFactory | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state_path = Path(state_path)
        self._client_factory = client_factory or (lambda creds, auth: ProvisioningClient(creds, auth=auth))
        self._clock = clock

    @classmethod
    def start(
        cls,
        state_path: str | os.PathLike[str],
        credentials: Credentials,
        environment_id: str,
        binding: Binding,
        expiration_seconds: int,
        requested_at: float,
        client: ProvisioningClient,
    ) -> KubeconfigInfo:
        """Record the first binding (made by ``kymaprov kubeconfig --exec``); its cluster info.

        A state file already there (an earlier ``--exec`` run) is taken over: the bindings it held
        are deleted, so running ``up --exec`` in every pipeline step never piles bindings up.
        """
        state = ExecState(credentials.to_dict(), environment_id, expiration_seconds)
        path = Path(state_path)
        with _locked(path):
            earlier = None
            if path.exists():
                with suppress(CredentialsError):  # unreadable: nothing to take over
                    earlier = ExecState.load(path)
            info = state.adopt(binding, requested_at)
            state.save(path)
            if earlier is not None:
                earlier.retire()
                RotatingCredential._delete_superseded(client, earlier)
                if earlier.environment_id == environment_id:
                    state.superseded = earlier.superseded  # what could not be deleted: try later
                    state.save(path)
        return info

    def exec_credential(self) -> dict[str, Any]:
        """The ``ExecCredential`` kubectl reads from the plugin's stdout."""
        with _locked(self.state_path):
            state = ExecState.load(self.state_path)
            with self._client(state) as client:
                if not self._usable(client, state):
                    requested_at = self._clock()
                    try:
                        binding = client.create_binding(state.environment_id, state.expiration_seconds)
                    except NotFoundError as exc:
                        raise self._stale(
                            state, f"environment {state.environment_id} no longer exists"
                        ) from exc
                    state.adopt(binding, requested_at)
                    state.save(self.state_path)  # the new token is safe before anything is deleted
                self._delete_superseded(client, state)
            state.refresh_at = state.expires_at - refresh_margin(state.expiration_seconds)  # older states
            state.save(self.state_path)
        return {
            "apiVersion": EXEC_API_VERSION,
            "kind": "ExecCredential",
            "status": {"token": state.token, "expirationTimestamp": _iso(state.refresh_at)},
        }

    @contextmanager
    def _client(self, state: ExecState) -> Iterator[ProvisioningClient]:
        """A client that starts from the API token the state caches, and caches the one it ends with."""
        credentials = Credentials.from_dict(state.credentials)
        auth = ClientCredentialsAuth(credentials, clock=self._clock)
        if state.api_token:
            with suppress(TypeError):  # a damaged cache: fetch a new token
                auth.seed(Token(**{**state.api_token, "scopes": tuple(state.api_token.get("scopes", ()))}))
        with self._client_factory(credentials, auth) as client:
            yield client
        token = auth.cached_token()
        state.api_token = asdict(token) if token is not None else {}

    def _usable(self, client: ProvisioningClient, state: ExecState) -> bool:
        if not state.binding_id or not state.token:
            return False
        if self._clock() >= state.expires_at - refresh_margin(state.expiration_seconds):
            return False
        try:
            current = client.get_binding(state.environment_id, state.binding_id)
        except NotFoundError:
            return False  # revoked by someone else
        except UnauthorizedError as exc:
            # the token service refused the credentials themselves: never hand out the old token
            raise self._stale(state, "the service no longer accepts the credentials") from exc
        except (TransportError, ServerError, RateLimitedError):
            return True  # cannot ask now; the token is still valid by our clock
        # a live binding answers with credentials; an expired one (by the service's clock) with metadata
        return isinstance(current, Binding)

    def _stale(self, state: ExecState, what: str) -> CredentialsError:
        """The error for a state the service has forgotten (``/admin/reset``, deleted cis binding)."""
        url = Credentials.from_dict(state.credentials).provisioning_url
        error = CredentialsError(
            f"kymaprov exec-credential: {what} at {url} (was the service reset, or the binding of "
            f"these credentials deleted?); the kubeconfig using {self.state_path} cannot work any more"
        )
        error.hint = "write a new kubeconfig: 'kymaprov up NAME --exec' or 'kymaprov kubeconfig NAME --exec'"
        return error

    @staticmethod
    def _delete_superseded(client: ProvisioningClient, state: ExecState) -> int:
        """Delete the superseded bindings; how many were live until now."""
        remaining, deleted = [], 0
        for binding_id in state.superseded:
            try:
                client.delete_binding(state.environment_id, binding_id)
                deleted += 1
            except (NotFoundError, GoneError):
                pass  # already gone, or expired (the 410 deletes its metadata)
            except (TransportError, ProvisioningError):
                remaining.append(binding_id)  # try again next time
        state.superseded = remaining
        return deleted

    def revoke_all(self) -> int:
        """Delete the current and superseded bindings and the state file (``kymaprov down``); how many."""
        with _locked(self.state_path):
            state = ExecState.load(self.state_path)
            state.retire()
            with self._client(state) as client:
                deleted = self._delete_superseded(client, state)
            if state.superseded:
                state.save(self.state_path)
                raise ClientError(f"could not delete bindings {', '.join(state.superseded)}")
            self.state_path.unlink(missing_ok=True)
        return deleted
