"""The container image definition and the compose file (issue 9).

With a Docker daemon the image is built; without one (as in CI here) the files are checked for what
Docker and compose need, and the commands they run are run for real: the image's ``serve`` arguments
are parsed by the real command, its health check asks a real server, and the compose service's command
runs against a real PostgreSQL with the password only in the environment.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from kymaprov.cli.serve import serve
from kymaprov.testing import start_subprocess, stop_subprocess
from tests.conftest import POSTGRES_URL, requires_postgres

ROOT = Path(__file__).resolve().parent.parent


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, args = line.partition(" ")
            pairs.append((instruction.upper(), " ".join(args.split())))
    return pairs


def one(instruction: str) -> str:
    found = [args for name, args in dockerfile() if name == instruction]
    assert len(found) == 1, f"expected one {instruction}, found {found}"
    return found[0]


def healthcheck_command() -> list[str]:
    args = one("HEALTHCHECK")
    command = args[args.index("CMD ") + 4 :]
    return list(json.loads(command))  # exec form: no shell in the image needed


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def test_the_image_is_python_311_slim_non_root_with_the_server_installed() -> None:
    steps = dockerfile()
    assert [a for n, a in steps if n == "FROM"] == ["python:3.11-slim"]
    assert any(n == "RUN" and 'pip install ".[server]"' in a for n, a in steps)
    user_at = [i for i, (n, _) in enumerate(steps) if n == "USER"]
    assert len(user_at) == 1 and steps[user_at[0]][1] not in ("root", "0")
    assert user_at[0] > max(i for i, (n, _) in enumerate(steps) if n == "RUN")  # nothing runs as root after
    assert json.loads(one("VOLUME")) == ["/data"]
    assert one("EXPOSE").split() == ["8080", "6443"]
    for name, args in steps:  # what COPY names exists and is not left out by .dockerignore
        if name == "COPY":
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), source
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not {"src", "pyproject.toml", "README.md", "LICENSE"} & set(ignored)


def test_the_image_command_is_a_valid_serve_on_all_interfaces_with_the_volume() -> None:
    entrypoint, cmd = json.loads(one("ENTRYPOINT")), json.loads(one("CMD"))
    assert entrypoint == ["kymaprov"] and cmd[0] == "serve"
    params = serve.make_context("serve", cmd[1:]).params  # the real command accepts them
    assert params["host"] == "0.0.0.0" and (params["port"], params["kube_port"]) == (8080, 6443)
    assert str(params["data_dir"]) == json.loads(one("VOLUME"))[0]


def run_check(command: list[str], port: int) -> int:
    argv = [sys.executable if command[0] == "python" else command[0], *command[1:]]
    argv = [a.replace("127.0.0.1:8080", f"127.0.0.1:{port}") for a in argv]
    return subprocess.run(argv, capture_output=True, timeout=30).returncode


def test_the_health_checks_pass_against_a_running_server_and_fail_without(tmp_path: Path) -> None:
    image_check = healthcheck_command()
    compose_check = compose()["services"]["kymaprov"]["healthcheck"]["test"]
    assert compose_check[0] == "CMD" and "/readyz" in " ".join(compose_check)
    proc, server = start_subprocess(tmp_path / "data")
    try:
        port = int(server.url.rsplit(":", 1)[1])
        assert run_check(image_check, port) == 0
        assert run_check(compose_check[1:], port) == 0
    finally:
        stop_subprocess(proc)
    assert run_check(image_check, port) != 0  # and it does notice a server that is gone


def test_compose_has_postgres_15_and_kymaprov_waits_until_it_is_healthy() -> None:
    services = compose()["services"]
    postgres, kymaprov = services["postgres"], services["kymaprov"]
    assert postgres["image"].startswith("postgres:15")
    assert (
        postgres["healthcheck"]["test"][0] == "CMD-SHELL"
        and "pg_isready" in postgres["healthcheck"]["test"][1]
    )
    assert kymaprov["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert kymaprov["build"] == "." and (ROOT / "Dockerfile").exists()
    named = {v.split(":")[0] for s in services.values() for v in s.get("volumes", [])}
    assert named == set(compose()["volumes"])  # every named volume is declared
    assert {p.split(":")[1] for p in kymaprov["ports"]} == {"8080", "6443"}
    params = serve.make_context("serve", kymaprov["command"][1:]).params
    url = make_url(params["database_url"])
    pg = postgres["environment"]
    assert (url.drivername, url.host, url.username, url.database) == (
        "postgresql+psycopg", "postgres", pg["POSTGRES_USER"], pg["POSTGRES_DB"],
    )  # fmt: skip
    assert url.password is None and kymaprov["environment"]["PGPASSWORD"] == pg["POSTGRES_PASSWORD"]


@requires_postgres
def test_the_compose_command_runs_against_postgresql(postgres_database: str, tmp_path: Path) -> None:
    """The service's command as compose runs it, 'postgres' being the test server, password in PGPASSWORD."""
    kymaprov = compose()["services"]["kymaprov"]
    params = serve.make_context("serve", kymaprov["command"][1:]).params
    assert POSTGRES_URL
    test_url = make_url(postgres_database)
    url = make_url(params["database_url"]).set(
        host=test_url.host, port=test_url.port, database=test_url.database
    )
    url = url.set(username=test_url.username)
    env = {"PGPASSWORD": test_url.password or "", "KYMAPROV_ADVERTISE_HOST": "127.0.0.1"}
    args = ("--host", params["host"], "--database-url", url.render_as_string(hide_password=False))
    proc, server = start_subprocess(tmp_path / "data", extra_args=args, extra_env=env)
    try:
        assert run_check(healthcheck_command(), int(server.url.rsplit(":", 1)[1])) == 0
        assert server.log_path is not None and "postgresql+psycopg://" in server.log_path.read_text()
    finally:
        stop_subprocess(proc)


def docker_daemon() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not docker_daemon(), reason="no Docker daemon to build the image with")
def test_the_image_builds_and_runs_kymaprov() -> None:
    tag = "kymaprov-test:latest"
    built = subprocess.run(["docker", "build", "-q", "-t", tag, str(ROOT)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    version = subprocess.run(["docker", "run", "--rm", tag, "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and "kymaprov" in version.stdout
    user = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "id", tag, "-u"], capture_output=True, text=True
    )
    assert user.stdout.strip() != "0"
    subprocess.run(["docker", "rmi", tag], capture_output=True)
