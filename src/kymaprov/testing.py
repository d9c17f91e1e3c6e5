"""A pytest plugin for testing code that uses the SAP BTP Provisioning Service against kymaprov.

Registered through the ``pytest11`` entry point, so installing ``kymaprov[server]`` next to pytest is
all a project needs; its fixtures:

- ``kymaprov``: one ``kymaprov serve`` subprocess per session on free ports (or the server at
  ``--kymaprov-url`` with ``--kymaprov-admin-token``), as a :class:`Kymaprov`.
- ``kymaprov_inprocess``: the same, served by threads of the test process (starts faster; one per
  session).
- ``kymaprov_credentials``: a new subaccount's cis binding, as ``kymaprov.client.Credentials``.
- ``kymaprov_client``: a ``ProvisioningClient`` with those credentials.
- ``kymaprov_clock``: service time; ``advance(seconds)``.
- ``kymaprov_faults``: ``add(method, path, status=..., ...)``; every rule is removed after the test.
- ``kymaprov_reset``: the server reset before the test (environments, bindings, cis clients, faults,
  lifecycle controls, clock).

Options: ``--kymaprov-provisioning-seconds`` (ini ``kymaprov_provisioning_seconds``, default 0.5): how
long a create, update or delete takes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from kymaprov.client import Credentials, ProvisioningClient
from kymaprov.client.faults import fault_rule
from kymaprov.paths import LOGIN_FILE

__all__ = ["Clock", "Faults", "Kymaprov", "start_subprocess"]


@dataclass
class Kymaprov:
    """A running kymaprov: its URLs and admin token, and the emulator's controls."""

    url: str
    admin_token: str
    login: dict[str, Any] = field(default_factory=dict, repr=False)
    data_dir: Path | None = None
    kube_url: str | None = None  # the embedded Kubernetes API (TLS), when this process started it
    log_path: Path | None = None  # the subprocess's output

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the ``/admin`` API; an error answer raises ``httpx.HTTPStatusError``."""
        response = httpx.request(
            method,
            f"{self.url}{path}",
            json=body,
            headers={"authorization": f"Bearer {self.admin_token}"},
            timeout=30,
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def reset(self) -> None:
        self.admin("POST", "/admin/reset")

    def new_subaccount(self, name: str | None = None) -> str:
        name = name or f"test-{uuid.uuid4().hex[:10]}"
        return str(self.admin("POST", "/admin/subaccounts", {"displayName": name, "subdomain": name})["guid"])

    def platform_token(self) -> str:
        response = httpx.post(
            f"{self.url}/oauth/token",
            data={
                "grant_type": "password",
                "client_id": "btp-cli",
                "username": self.login["user"],
                "password": self.login["password"],
            },
            timeout=30,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def cis_credentials(self, subaccount: str | None = None, plan: str = "local") -> Credentials:
        """A cis instance and binding in ``subaccount`` (default: a new one), made as ``btp`` makes them."""
        sub = subaccount or self.new_subaccount()
        headers = {"authorization": f"Bearer {self.platform_token()}"}
        name = f"cis-{uuid.uuid4().hex[:10]}"
        base = f"{self.url}/cis/v1/subaccounts/{sub}"
        with httpx.Client(headers=headers, timeout=30) as http:
            http.post(
                f"{base}/service_instances",
                json={
                    "name": name,
                    "offering_name": "cis",
                    "plan_name": plan,
                    "parameters": {"grantType": "clientCredentials"},
                },
            ).raise_for_status()
            binding = http.post(
                f"{base}/service_bindings", json={"name": f"{name}-key", "service_instance_name": name}
            )
            binding.raise_for_status()
        return Credentials.from_service_key(binding.json()["credentials"])


@dataclass
class Clock:
    server: Kymaprov

    def now(self) -> float:
        """Service time, epoch seconds."""
        return float(self.server.admin("GET", "/admin/clock")["now"])

    def advance(self, seconds: float) -> float:
        """Move service time forward; return the new service time."""
        return float(self.server.admin("POST", "/admin/clock/advance", {"seconds": seconds})["now"])


@dataclass
class Faults:
    server: Kymaprov

    def add(
        self,
        method: str,
        path: str,
        *,
        status: int | None = None,
        delay: float | None = None,
        retry_after: int | None = None,
        count: int | None = None,
        seconds: float | None = None,
        message: str | None = None,
    ) -> dict[str, Any]:
        """Make ``method`` (or ``*``) requests whose path matches ``path`` (a glob) answer ``status``
        and/or come ``delay`` seconds late, for ``count`` requests and/or ``seconds`` of service time."""
        rule = fault_rule(
            method,
            path,
            status=status,
            delay=delay,
            retry_after=retry_after,
            count=count,
            seconds=seconds,
            message=message,
        )
        result: dict[str, Any] = self.server.admin("POST", "/admin/faults", rule)
        return result

    def list(self) -> list[dict[str, Any]]:
        return list(self.server.admin("GET", "/admin/faults")["rules"])

    def clear(self) -> None:
        self.server.admin("DELETE", "/admin/faults")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read_login(data_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((data_dir / LOGIN_FILE).read_text())
    return data


def start_subprocess(
    data_dir: Path,
    *,
    provisioning_seconds: float = 0.5,
    extra_args: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], Kymaprov]:
    """``kymaprov serve`` on free ports with its state in ``data_dir``; returns once it answers.

    ``extra_args`` are more ``serve`` flags (``--database-url``, ``--init``); ``extra_env`` more variables
    (the environment's ``KYMAPROV_*`` are not passed on, so the caller's shell cannot change the server).
    """
    port, kube_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYMAPROV_")} | (extra_env or {})
    log_path = data_dir.parent / f"kymaprov-{port}.log"
    cmd = [
        sys.executable, "-m", "kymaprov", "serve", "--port", str(port), "--kube-port", str(kube_port),
        "--data-dir", str(data_dir), "--provisioning-seconds", str(provisioning_seconds), *extra_args,
    ]  # fmt: skip
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"kymaprov exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            httpx.get(f"{url}/readyz", timeout=1).raise_for_status()
            socket.create_connection(("127.0.0.1", kube_port), timeout=1).close()
            login = _read_login(data_dir)
            kube_url = f"https://127.0.0.1:{kube_port}"
            return proc, Kymaprov(url, login["adminToken"], login, data_dir, kube_url, log_path)
        except (httpx.HTTPError, OSError, ValueError):
            time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"kymaprov did not start within 60 s:\n{log_path.read_text()}")


def stop_subprocess(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kymaprov")
    group.addoption("--kymaprov-url", help="Use this running kymaprov instead of starting one.")
    group.addoption("--kymaprov-admin-token", help="Its admin token (with --kymaprov-url).")
    group.addoption(
        "--kymaprov-provisioning-seconds", type=float, help="How long a simulated operation takes."
    )
    parser.addini("kymaprov_provisioning_seconds", "How long a simulated operation takes.", default="0.5")


def _provisioning_seconds(config: pytest.Config) -> float:
    option = config.getoption("kymaprov_provisioning_seconds")
    return float(option if option is not None else config.getini("kymaprov_provisioning_seconds"))


@pytest.fixture(scope="session")
def kymaprov(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kymaprov]:
    """A kymaprov for the session: ``--kymaprov-url``'s, else a ``kymaprov serve`` subprocess."""
    url = request.config.getoption("kymaprov_url")
    if url:
        token = request.config.getoption("kymaprov_admin_token")
        if not token:
            raise pytest.UsageError("--kymaprov-url needs --kymaprov-admin-token")
        yield Kymaprov(url.rstrip("/"), token)
        return
    data_dir = tmp_path_factory.mktemp("kymaprov") / "data"
    proc, server = start_subprocess(data_dir, provisioning_seconds=_provisioning_seconds(request.config))
    try:
        yield server
    finally:
        stop_subprocess(proc)


@pytest.fixture(scope="session")
def kymaprov_inprocess(request: pytest.FixtureRequest) -> Iterator[Kymaprov]:
    """A kymaprov served by threads of this process (needs ``kymaprov[server]``)."""
    from kymaprov.config import Settings
    from kymaprov.server import KymaprovServer

    with tempfile.TemporaryDirectory(prefix="kymaprov-") as tmp:
        data_dir = Path(tmp) / "data"
        settings = Settings(
            port=0,
            kube_port=0,
            data_dir=data_dir,
            provisioning_seconds=_provisioning_seconds(request.config),
        )
        server = KymaprovServer(settings)
        thread = threading.Thread(target=server.run, name="kymaprov-inprocess", daemon=True)
        thread.start()
        url = server.settings.base_url
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/readyz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or not thread.is_alive():
                    raise RuntimeError("the in-process kymaprov did not start") from None
                time.sleep(0.05)
        login = _read_login(data_dir)
        try:
            yield Kymaprov(url, login["adminToken"], login, data_dir, server.settings.kube_base_url)
        finally:
            server.stop()
            thread.join(30)


@pytest.fixture
def kymaprov_credentials(kymaprov: Kymaprov) -> Credentials:
    """cis credentials of a new subaccount, which holds no environment yet."""
    return kymaprov.cis_credentials()


@pytest.fixture
def kymaprov_client(kymaprov_credentials: Credentials) -> Iterator[ProvisioningClient]:
    with ProvisioningClient(kymaprov_credentials) as client:
        yield client


@pytest.fixture
def kymaprov_clock(kymaprov: Kymaprov) -> Clock:
    return Clock(kymaprov)


@pytest.fixture
def kymaprov_faults(kymaprov: Kymaprov) -> Iterator[Faults]:
    faults = Faults(kymaprov)
    yield faults
    faults.clear()


@pytest.fixture
def kymaprov_reset(kymaprov: Kymaprov) -> Kymaprov:
    """The server, reset before the test: no environments, cis clients, faults or clock offset."""
    kymaprov.reset()
    return kymaprov
