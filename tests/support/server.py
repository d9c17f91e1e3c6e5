"""A real ``kymaprov serve`` process on free ports and a Provisioning API client for it.

Shared by the tests (through ``tests/conftest.py``'s fixtures) and the ``bench/`` scripts; it needs
nothing from pytest, so a script can start a server the way a test does.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

KUBECTL_DIR = Path("/usr/lib/google-cloud-sdk/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kubectl_binary(version: str = "1.30") -> str:
    versioned = KUBECTL_DIR / f"kubectl.{version}"
    return str(versioned) if versioned.exists() else "kubectl"


def run_kubectl(
    kubeconfig: Path, cache: Path, *args: str, version: str = "1.30"
) -> subprocess.CompletedProcess[str]:
    """The real kubectl with this kubeconfig file and its own discovery cache directory."""
    return subprocess.run(
        [kubectl_binary(version), "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@dataclass
class RunningServer:
    """A ``kymaprov serve`` subprocess and what a test needs to talk to it."""

    data_dir: Path
    port: int
    kube_port: int
    provisioning_seconds: float
    database_url: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KYMAPROV_", "BTP_"))}
        env["KYMAPROV_DATA_DIR"] = str(self.data_dir)
        env["BTP_CLIENTCONFIG"] = str(self.data_dir / "btp-client.json")
        env.update(self.extra_env)
        return env

    def start(self) -> RunningServer:
        cmd = [
            sys.executable, "-m", "kymaprov", "serve",
            "--port", str(self.port), "--kube-port", str(self.kube_port),
            "--data-dir", str(self.data_dir), "--provisioning-seconds", str(self.provisioning_seconds),
        ]  # fmt: skip
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it open
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kymaprov exited early:\n{self.log()}")
            try:
                httpx.get(f"{self.url}/token_keys", timeout=1)
                socket.create_connection(("127.0.0.1", self.kube_port), timeout=1).close()
                return self
            except (httpx.HTTPError, OSError):
                time.sleep(0.1)
        raise RuntimeError(f"kymaprov did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)

    @property
    def login(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.data_dir / "local-login.json").read_text())
        return data

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.login['adminToken']}"}

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.request(
            method, f"{self.url}{path}", json=body, headers=self.admin_headers, timeout=30
        )
        response.raise_for_status()
        return response.json()

    def platform_token(self) -> str:
        login = self.login
        response = httpx.post(
            f"{self.url}/oauth/token",
            data={
                "grant_type": "password",
                "client_id": "btp-cli",
                "username": login["user"],
                "password": login["password"],
            },
            timeout=30,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def new_subaccount(self, name: str) -> str:
        return str(self.admin("POST", "/admin/subaccounts", {"displayName": name, "subdomain": name})["guid"])

    def cis_credentials(
        self,
        subaccount: str | None = None,
        plan: str = "local",
        grant: str = "clientCredentials",
        name: str | None = None,
    ) -> dict[str, Any]:
        """Create a cis instance and binding over the REST API btp uses; return the binding's credentials."""
        sub = subaccount or self.login["subaccount"]
        headers = {"authorization": f"Bearer {self.platform_token()}"}
        name = name or f"cis-{plan}-{time.monotonic_ns()}"
        base = f"{self.url}/cis/v1/subaccounts/{sub}"
        r = httpx.post(
            f"{base}/service_instances",
            json={
                "name": name,
                "offering_name": "cis",
                "plan_name": plan,
                "parameters": {"grantType": grant},
            },
            headers=headers,
        )
        assert r.status_code == 201, r.text
        r = httpx.post(
            f"{base}/service_bindings",
            json={"name": f"{name}-binding", "service_instance_name": name},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        credentials: dict[str, Any] = r.json()["credentials"]
        return credentials

    def token_for(self, credentials: dict[str, Any]) -> str:
        uaa = credentials["uaa"]
        r = httpx.post(
            f"{uaa['url']}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(uaa["clientid"], uaa["clientsecret"]),
        )
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


class Api:
    """A Provisioning Service client bound to one subaccount's token, for tests."""

    def __init__(self, server: RunningServer, token: str) -> None:
        self.server = server
        self.client = httpx.Client(
            base_url=server.url,
            headers={"authorization": f"bearer {token}", "accept": "application/json"},
            timeout=30,
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, f"/provisioning/v1{path}", **kwargs)

    def create_kyma(self, name: str = "my-runtime", region: str = "eu-central-1", plan: str = "aws") -> str:
        body = {
            "environmentType": "kyma",
            "parameters": {"name": name, "region": region},
            "planName": plan,
            "serviceName": "kymaruntime",
            "user": "dev@example.com",
        }
        r = self.request("POST", "/environments", json=body)
        assert r.status_code == 202, r.text
        return str(r.json()["id"])

    def wait_state(
        self, env_id: str, states: tuple[str, ...] = ("OK",), timeout: float = 30
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            r = self.request("GET", f"/environments/{env_id}")
            if r.status_code == 200 and r.json()["state"] in states:
                body: dict[str, Any] = r.json()
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"environment {env_id} never reached {states}: {r.status_code} {r.text}")
            time.sleep(0.1)

    def wait_gone(self, env_id: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.request("GET", f"/environments/{env_id}").status_code != 404:
            if time.monotonic() > deadline:
                raise AssertionError(f"environment {env_id} was never deleted")
            time.sleep(0.1)


def new_api(server: RunningServer, subaccount_name: str | None = None) -> Api:
    sub = server.new_subaccount(subaccount_name) if subaccount_name else None
    return Api(server, server.token_for(server.cis_credentials(sub)))


def kubeconfig_server(kubeconfig: str) -> str:
    import yaml

    return str(yaml.safe_load(kubeconfig)["clusters"][0]["cluster"]["server"])


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def seed_variables(credentials: dict[str, Any]) -> dict[str, str]:
    """The four variables of the documented procedure, from a cis binding's credentials."""
    return {
        "CLIENT_ID": credentials["uaa"]["clientid"],
        "CLIENT_SECRET": credentials["uaa"]["clientsecret"],
        "UAA_URL": credentials["uaa"]["url"],
        "PROVISIONING_SERVICE_URL": credentials["endpoints"]["provisioning_service_url"],
    }
