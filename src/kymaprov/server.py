"""``kymaprov serve``: one process hosting the API, the embedded Kubernetes API and the workers.

Both ports are bound before anything else happens, so a busy port stops the start with one line and
nothing written (no login file, no half-started service advertising a port it does not serve), and
port 0 is resolved to the real port before any URL is made from it.

The HTTP API runs in the main thread (SIGINT/SIGTERM stop it there, then everything else); the embedded
Kubernetes API runs in its own thread with its own event loop, so a binding request that calls the
runtime's API can never starve the runtime of threads; the lifecycle worker and the runtimes'
controllers (garbage collector, namespace controller...) and the btp-operator have a thread each.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import shlex
import signal
import socket
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn

from kymaprov.accounts.models import ensure_defaults
from kymaprov.app import create_api_app
from kymaprov.backends.base import RuntimeBackend
from kymaprov.backends.embedded import EmbeddedRuntimes
from kymaprov.backends.runtimes import RuntimeRouter, RuntimesConfig
from kymaprov.btpoperator import BtpOperator
from kymaprov.cis.models import CisService
from kymaprov.config import Settings
from kymaprov.context import Context
from kymaprov.init import InitError
from kymaprov.init import apply as apply_init
from kymaprov.kubeapi import changes
from kymaprov.kubeapi.app import create_app as create_kube_app
from kymaprov.kubeapi.controllers.manager import ControllerManager
from kymaprov.logs import RequestLog
from kymaprov.metrics import Metrics
from kymaprov.paths import LOGIN_FILE, default_data_dir
from kymaprov.provisioning.bindings import BindingService
from kymaprov.provisioning.environments import EnvironmentService
from kymaprov.provisioning.gauges import StateGauges
from kymaprov.provisioning.lifecycle import LifecycleWorker
from kymaprov.uaa.models import TokenService

log = logging.getLogger("kymaprov")


class _ApiServer(uvicorn.Server):
    """uvicorn re-raises a captured SIGTERM after shutdown, killing the process before our
    ``finally`` runs; this one only asks the server to exit, so shutdown completes and exits 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class ServeError(Exception):
    """A start-up problem the user can fix (busy port, unusable data dir): one line, no traceback."""


def listen(host: str, port: int, flag: str) -> socket.socket:
    """A listening socket on ``host:port``, or a ``ServeError`` that names the port and the way out."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ServeError(f"cannot listen on {host}: {exc.strerror} (check --host)") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        env = "KYMAPROV_" + flag.removeprefix("--").replace("-", "_").upper()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(
                f"port {port} on {host} is already in use (another program, e.g. a local Kubernetes, "
                f"listens there): choose another with {flag} or {env}"
            ) from None
        reason = exc.strerror or str(exc)
        raise ServeError(f"cannot listen on {host}:{port}: {reason} (choose another with {flag})") from None
    return sock


class KymaprovServer:
    def __init__(
        self, settings: Settings, init: dict[str, Any] | None = None, runtimes: RuntimesConfig | None = None
    ) -> None:
        """``init``: a ``serve --init`` file, loaded and checked (``kymaprov.init.load``); ``runtimes``:
        a ``--runtimes-config`` file, loaded and checked (``load_runtimes_config``)."""
        self.api_socket = listen(settings.host, settings.port, "--port")
        try:
            self.kube_socket = listen(settings.host, settings.kube_port, "--kube-port")
        except ServeError:
            self.api_socket.close()
            raise
        # port 0 means "any free port": every URL made from here on must name the real one
        settings = dataclasses.replace(
            settings,
            port=self.api_socket.getsockname()[1],
            kube_port=self.kube_socket.getsockname()[1],
        )
        self.settings = settings
        try:
            self.ctx = Context.open(settings)
        except OSError as exc:
            self._close_sockets()
            reason = (
                "it is not a directory" if isinstance(exc, FileExistsError | NotADirectoryError) else None
            )
            raise ServeError(
                f"cannot use data dir {settings.data_dir}: {reason or exc.strerror} (check --data-dir)"
            ) from None
        except BaseException:
            self._close_sockets()
            raise
        self._api_server: _ApiServer | None = None
        self.first_login = ensure_defaults(self.ctx)
        self.tokens = TokenService(self.ctx)
        self.runtimes = EmbeddedRuntimes(self.ctx)
        # every environment's cluster comes from the backend its plan names; the embedded one serves too
        self.backend: RuntimeBackend = (
            self.runtimes if runtimes is None else RuntimeRouter.build(self.ctx, self.runtimes, runtimes)
        )
        self.bindings = BindingService(self.ctx, self.backend)
        if init:
            try:
                cis, envs = CisService(self.ctx, self.tokens), EnvironmentService(self.ctx)
                for line in apply_init(self.ctx, cis, envs, init):
                    log.info("init: created %s", line)
            except InitError as exc:
                self._close_sockets()
                self.ctx.store.dispose()
                raise ServeError(str(exc)) from None
        self.metrics = Metrics([StateGauges(self.ctx)])
        self.worker = LifecycleWorker(self.ctx, self.backend, self.bindings, metrics=self.metrics)
        self.api_app = create_api_app(
            self.ctx, self.tokens, self.bindings, worker_alive=lambda: self.worker.alive, metrics=self.metrics
        )
        self.kube_app = create_kube_app(self.ctx, self.runtimes.authenticator)
        self.controllers = ControllerManager(self.ctx, self.runtimes.authenticator, self.runtimes.admin_token)
        self.btp_operator = BtpOperator(self.runtimes.resource_versions, self.runtimes.access)

    def _close_sockets(self) -> None:
        self.api_socket.close()
        self.kube_socket.close()

    def _uvicorn_config(self, app: Any, port: int) -> uvicorn.Config:
        return uvicorn.Config(
            RequestLog(app, "api" if app is self.api_app else "kube"),
            host=self.settings.host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
        )

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM, then stop every part and close the store."""
        kube_config = self._uvicorn_config(self.kube_app, self.settings.kube_port)
        self.runtimes.configure_server(kube_config)
        kube_server = uvicorn.Server(kube_config)
        kube_thread = threading.Thread(
            target=kube_server.run,
            kwargs={"sockets": [self.kube_socket]},
            name="kymaprov-kube-api",
            daemon=True,
        )
        kube_thread.start()
        self.worker.start()
        self.controllers.start()
        self.btp_operator.start()
        unlisten = changes.hub(self.ctx.store.engine).listen(self.btp_operator.notify)
        api_server = self._api_server = _ApiServer(self._uvicorn_config(self.api_app, self.settings.port))
        self._announce()
        try:
            api_server.run(sockets=[self.api_socket])
        finally:
            kube_server.should_exit = True
            unlisten()
            self.btp_operator.stop()
            self.controllers.stop()
            self.worker.stop()
            kube_thread.join(10)
            self.ctx.store.dispose()
            print("kymaprov stopped", flush=True)

    def stop(self) -> None:
        """Ask ``run`` (in another thread, e.g. ``kymaprov.testing``'s in-process server) to return."""
        if self._api_server is not None:
            self._api_server.should_exit = True

    def _announce(self) -> None:
        s = self.settings
        lines = [
            f"kymaprov serving the Provisioning Service API on {s.base_url}",
            f"  embedded Kubernetes API (TLS) on {s.kube_base_url}"
            + (f", kubeconfigs name {s.kube_public_base_url}" if s.kube_public_url else ""),
            f"  data dir {s.data_dir}",
            f"  database {self.ctx.store.safe_url}",
        ]
        if self.first_login:
            lines += [
                "  first start: created the default global account, subaccount and user",
                f"  login (mode 0600): {s.data_dir / LOGIN_FILE}",
                "  'btp' on this machine uses it without 'btp login'; try:",
            ]
            if s.data_dir != default_data_dir():  # btp finds this login only through the variable
                lines.append(f"    export KYMAPROV_DATA_DIR={shlex.quote(str(s.data_dir))}")
            lines.append(
                "    btp create services/instance --offering-name cis --plan-name local --name cis "
                '--parameters \'{"grantType":"clientCredentials"}\''
            )
        print("\n".join(lines), flush=True)
