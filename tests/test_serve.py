"""``kymaprov serve`` starts whole or not at all: ports first, one line per problem, real ports for 0."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port


def serve(data: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYMAPROV_")}
    return subprocess.run(
        [sys.executable, "-m", "kymaprov", "serve", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("flag", ["--kube-port", "--port"])
def test_a_busy_port_stops_the_start_with_one_line_and_nothing_written(
    tmp_path: Path, busy_port: int, flag: str
) -> None:
    other = "--port" if flag == "--kube-port" else "--kube-port"
    result = serve(tmp_path / "data", flag, str(busy_port), other, str(free_port()))
    assert result.returncode == 1, result
    assert "serving" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    env = "KYMAPROV_" + flag.removeprefix("--").replace("-", "_").upper()
    assert f"port {busy_port}" in lines[0] and "already in use" in lines[0], lines[0]
    assert flag in lines[0] and env in lines[0], lines[0]
    assert not (tmp_path / "data" / "local-login.json").exists()


@contextmanager
def serving_on_any_port(data: Path) -> Iterator[subprocess.Popen[str]]:
    """``kymaprov serve --port 0 --kube-port 0``, its output readable line by line; stopped after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYMAPROV_")}
    command = [sys.executable, "-m", "kymaprov", "serve", "--data-dir", str(data)]
    proc = subprocess.Popen(
        [*command, "--port", "0", "--kube-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(20)


def test_port_zero_advertises_the_real_ports(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serving_on_any_port(data) as proc:
        assert proc.stdout is not None
        banner = [proc.stdout.readline() for _ in range(2)]
        api_url = banner[0].split(" on ")[-1].strip()
        kube_url = banner[1].split(" on ")[-1].strip()
        assert not api_url.endswith(":0") and not kube_url.endswith(":0"), banner
        login = json.loads((data / "local-login.json").read_text())
        assert login["url"] == api_url
        assert httpx.get(f"{api_url}/token_keys", timeout=10).status_code == 200
        port = int(kube_url.rsplit(":", 1)[1])
        socket.create_connection(("127.0.0.1", port), timeout=5).close()  # the advertised port serves


def test_a_data_dir_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = serve(tmp_path / "file" / "data", "--port", str(free_port()), "--kube-port", str(free_port()))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "Traceback" not in result.stderr and "--data-dir" in result.stderr


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_an_impossible_port_is_a_usage_error(tmp_path: Path, port: str) -> None:
    result = serve(tmp_path / "data", "--port", port)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "--port" in result.stderr


def test_the_banner_says_how_btp_finds_a_data_dir_that_is_not_the_default(tmp_path: Path) -> None:
    data = tmp_path / "my data"
    with serving_on_any_port(data) as proc:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(9)]
        assert f"export KYMAPROV_DATA_DIR='{data}'" in lines, lines
