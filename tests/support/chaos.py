"""A bounded chaos run: random API traffic while servers are killed with SIGKILL, then invariants.

Used by ``tests/test_chaos.py`` (a short run in CI) and ``bench/chaos.py`` (a long one). Several
subaccounts create, update and delete environments and make and delete bindings, each request sent
to a random replica, while a killer thread sends SIGKILL to one replica at a time at random moments
and restarts it on the same data. When the time is up every replica is restarted and the run waits
for the system to settle; then it checks what must hold however the kills fell:

- every environment is ``OK`` or gone, and no operation is pending;
- at most 10 live bindings per environment, and every listed binding answers GET (no listed-but-404);
- every listed live binding's kubeconfig works, every deleted binding's kubeconfig is refused;
- no ``kyma-binding-*`` object in any runtime without a live binding (no orphans);
- no answer was a 5xx, on any replica, at any time;
- once the service clock passes every expiry, every kubeconfig ever issued is refused.

Everything is bounded: the traffic stops at its deadline, every wait has one.
"""

from __future__ import annotations

import base64
import os
import random
import signal
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.server import RunningServer, free_port

IN_PROGRESS = ("CREATING", "UPDATING", "DELETING")
MANAGED_BY = "app.kubernetes.io/managed-by=kcp-kyma-environment-broker"


@dataclass
class ChaosConfig:
    seconds: float = 20.0  # how long the random traffic runs, not counting the time a killed replica was down
    replicas: int = 1
    database_url: str | None = None  # None: SQLite in the first replica's data dir
    subaccounts: int = 3
    workers: int = 4
    kill_interval: tuple[float, float] = (0.5, 2.0)  # seconds between kills, uniform
    provisioning_seconds: float = 0.3
    settle_seconds: float = 120.0  # the longest the system may take to settle after the traffic
    max_downtime_credit: float = 120.0  # the most the traffic is lengthened by replicas' restarts
    overtime: float = 120.0  # the most the traffic (without kills) goes on until a binding has been made
    seed: int = field(default_factory=lambda: random.SystemRandom().randrange(1 << 30))


@dataclass
class ChaosReport:
    seed: int
    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    connection_errors: int = 0
    kills: int = 0
    environments_created: int = 0
    bindings_created: int = 0
    bindings_deleted: int = 0
    violations: list[str] = field(default_factory=list)

    def summary(self) -> str:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.by_status.items()))
        return (
            f"seed {self.seed}: {self.requests} requests ({statuses}), {self.connection_errors} connection "
            f"errors, {self.kills} kills, {self.environments_created} environments and "
            f"{self.bindings_created} bindings created, {self.bindings_deleted} bindings deleted, "
            f"{len(self.violations)} violations"
        )


class _Tenant:
    """One subaccount: its token and what it believes exists."""

    def __init__(self, name: str, token: str) -> None:
        self.name = name
        self.token = token
        self.lock = threading.Lock()


class Chaos:
    def __init__(self, workdir: Path, config: ChaosConfig) -> None:
        self.config = config
        self.workdir = workdir
        self.rng = random.Random(config.seed)
        self.report = ChaosReport(config.seed)
        self.servers: list[RunningServer] = []
        self.tenants: list[_Tenant] = []
        self.issued: dict[str, str] = {}  # binding id -> kubeconfig, every one ever handed out
        self.deleted: set[str] = set()  # bindings whose DELETE answered 200 or 410
        self._stats_lock = threading.Lock()
        self._server_locks: list[threading.Lock] = []
        self._stop = threading.Event()
        self._deadline = 0.0  # when the traffic stops (monotonic); the killer moves it on
        self._http = httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))

    # --- set-up ---------------------------------------------------------------------------------

    def start(self) -> None:
        extra: dict[str, str] = {}
        if self.config.replicas > 1:
            assert self.config.database_url, "replicas share a PostgreSQL database"
        ports = [(free_port(), free_port()) for _ in range(self.config.replicas)]
        if self.config.replicas > 1:  # one installation behind a (here absent) load balancer
            extra["KYMAPROV_SECRET_KEY"] = base64.b64encode(os.urandom(32)).decode()
            extra["KYMAPROV_PUBLIC_URL"] = f"http://127.0.0.1:{ports[0][0]}"
            extra["KYMAPROV_KUBE_PUBLIC_URL"] = f"https://127.0.0.1:{ports[0][1]}"
        for i, (port, kube_port) in enumerate(ports):
            srv = RunningServer(
                self.workdir / f"replica-{i}",
                port,
                kube_port,
                self.config.provisioning_seconds,
                self.config.database_url,
                extra_env=dict(extra),
            )
            srv.start()
            if i > 0:  # one installation: the first replica's login serves all
                login = self.servers[0].data_dir / "local-login.json"
                (srv.data_dir / "local-login.json").write_text(login.read_text())
            self.servers.append(srv)
            self._server_locks.append(threading.Lock())
        first = self.servers[0]
        for i in range(self.config.subaccounts):
            sub = first.new_subaccount(f"chaos-{self.config.seed}-{i}")
            self.tenants.append(_Tenant(sub, first.token_for(first.cis_credentials(sub))))

    def stop(self) -> None:
        for srv in self.servers:
            if srv.proc is not None and srv.proc.poll() is None:
                srv.stop()

    # --- traffic --------------------------------------------------------------------------------

    def _request(
        self, tenant: _Tenant, method: str, path: str, json: Any = None, rng: random.Random | None = None
    ) -> httpx.Response | None:
        """One call to a random replica; None on a connection error (a replica may be down)."""
        srv = (rng or self.rng).choice(self.servers)
        try:
            response = self._http.request(
                method,
                f"{srv.url}/provisioning/v1{path}",
                json=json,
                headers={"authorization": f"Bearer {tenant.token}", "accept": "application/json"},
            )
        except httpx.HTTPError:
            with self._stats_lock:
                self.report.requests += 1
                self.report.connection_errors += 1
            return None
        with self._stats_lock:
            self.report.requests += 1
            self.report.by_status[response.status_code] = (
                self.report.by_status.get(response.status_code, 0) + 1
            )
            if response.status_code >= 500:
                self.report.violations.append(
                    f"{method} {path} on :{srv.port}: {response.status_code} {response.text}"
                )
        return response

    def _environments(self, tenant: _Tenant, rng: random.Random) -> list[dict[str, Any]] | None:
        r = self._request(tenant, "GET", "/environments", rng=rng)
        if r is None or r.status_code != 200:
            return None
        return list(r.json()["environmentInstances"])

    def _step(self, rng: random.Random) -> None:
        tenant = rng.choice(self.tenants)
        envs = self._environments(tenant, rng)
        if envs is None:
            return
        if not envs:
            body = {
                "environmentType": "kyma",
                "parameters": {"name": f"chaos-{rng.randrange(1 << 20)}", "region": "eu-central-1"},
                "planName": "aws",
                "serviceName": "kymaruntime",
                "user": "chaos@example.com",
            }
            r = self._request(tenant, "POST", "/environments", body, rng)
            if r is not None and r.status_code == 202:
                with self._stats_lock:
                    self.report.environments_created += 1
            return
        env = rng.choice(envs)
        env_id = env["id"]
        action = rng.choices(["bind", "unbind", "update", "delete", "read"], weights=[8, 4, 1, 0.4, 2])[0]
        if action == "bind":
            seconds = rng.choice([600, 900, 3600, 7200])
            r = self._request(
                tenant,
                "PUT",
                f"/environments/{env_id}/bindings",
                {"parameters": {"expiration_seconds": seconds}},
                rng,
            )
            if r is not None and r.status_code == 202:
                with self._stats_lock:
                    self.report.bindings_created += 1
                    self.issued[r.headers["location"]] = r.json()["credentials"]["kubeconfig"]
        elif action == "unbind":
            r = self._request(tenant, "GET", f"/environments/{env_id}/bindings", rng=rng)
            if r is None or r.status_code != 200 or not r.json()["bindings"]:
                return
            binding_id = rng.choice(r.json()["bindings"])["bindingId"]
            r = self._request(tenant, "DELETE", f"/environments/{env_id}/bindings/{binding_id}", rng=rng)
            if r is not None and r.status_code in (200, 410):
                with self._stats_lock:
                    self.report.bindings_deleted += 1
                    self.deleted.add(binding_id)
        elif action == "update":
            body = {"planName": env["planName"], "parameters": {"autoScalerMax": rng.randint(3, 20)}}
            self._request(tenant, "PATCH", f"/environments/{env_id}", body, rng)
        elif action == "delete":
            self._request(tenant, "DELETE", f"/environments/{env_id}", rng=rng)
        else:
            self._request(tenant, "GET", f"/environments/{env_id}", rng=rng)

    def _worker(self, index: int) -> None:
        rng = random.Random(self.config.seed * 100 + index)
        while self._traffic_goes_on():
            try:
                self._step(rng)
            except Exception as exc:  # a client-side surprise is a finding, not a crash of the run
                with self._stats_lock:
                    self.report.violations.append(f"worker {index}: {type(exc).__name__}: {exc}")

    def _traffic_goes_on(self) -> bool:
        """Until the deadline; then, without kills, until a binding was made (a busy machine may have
        spent the whole deadline restarting replicas), so the checks always have bindings to check."""
        now = time.monotonic()
        if self._stop.is_set() or now >= self._deadline + self.config.overtime:
            return False
        return now < self._deadline or self.report.bindings_created == 0

    def _killer(self) -> None:
        """SIGKILL a random replica at random moments; the traffic is lengthened by the time it was down
        (up to ``max_downtime_credit``), so a slow restart on a busy machine does not leave a run that
        did nothing."""
        rng = random.Random(self.config.seed * 100 + 99)
        credit = self.config.max_downtime_credit
        while not self._stop.is_set():
            pause = rng.uniform(*self.config.kill_interval)
            if time.monotonic() + pause >= self._deadline or self._stop.wait(pause):
                return
            srv = rng.choice(self.servers)
            killed = time.monotonic()
            srv.stop(signal.SIGKILL)
            with self._stats_lock:
                self.report.kills += 1
            self._stop.wait(rng.uniform(0.0, 0.5))
            srv.start()
            down = min(time.monotonic() - killed, credit)
            credit -= down
            self._deadline += down

    def run_traffic(self) -> None:
        self._deadline = time.monotonic() + self.config.seconds
        threads = [threading.Thread(target=self._worker, args=(i,)) for i in range(self.config.workers)]
        threads.append(threading.Thread(target=self._killer))
        for t in threads:
            t.start()
        for t in threads:
            t.join(self.config.seconds + self.config.max_downtime_credit + self.config.overtime + 120)
        self._stop.set()
        for srv in self.servers:  # every replica up for the checks
            if srv.proc is None or srv.proc.poll() is not None:
                srv.start()

    # --- invariants -----------------------------------------------------------------------------

    def _violation(self, text: str) -> None:
        self.report.violations.append(text)

    def _wait(self, what: str, check: Callable[[], str | None]) -> None:
        """Poll ``check`` (None: holds) until it holds or the settle time is over."""
        deadline = time.monotonic() + self.config.settle_seconds
        problem = check()
        while problem is not None and time.monotonic() < deadline:
            time.sleep(0.5)
            problem = check()
        if problem is not None:
            self._violation(f"{what}: {problem}")

    def _settled(self) -> str | None:
        for tenant in self.tenants:
            envs = self._environments(tenant, self.rng)
            if envs is None:
                return f"cannot list the environments of {tenant.name}"
            busy = [f"{e['id']} {e['state']}" for e in envs if e["state"] != "OK"]
            if busy:
                return f"not settled: {busy}"
        pending = self.pending_operations()
        return f"{pending} operations pending" if pending else None

    def pending_operations(self) -> int:
        import sqlalchemy as sa

        url = self.config.database_url or f"sqlite:///{self.servers[0].data_dir / 'kymaprov.db'}"
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                return int(
                    conn.execute(
                        sa.text("SELECT count(*) FROM operations WHERE state = 'pending'")
                    ).scalar_one()
                )
        finally:
            engine.dispose()

    def _live_bindings(self) -> dict[str, dict[str, Any]] | str:
        """Every listed live binding's id -> its GET body, or what is wrong."""
        now_ms = time.time() * 1000
        live: dict[str, dict[str, Any]] = {}
        for tenant in self.tenants:
            envs = self._environments(tenant, self.rng) or []
            for env in envs:
                r = self._request(tenant, "GET", f"/environments/{env['id']}/bindings")
                if r is None or r.status_code != 200:
                    return f"cannot list the bindings of {env['id']}"
                listed = r.json()["bindings"]
                alive = [b for b in listed if _epoch_ms(b["expiresAt"]) > now_ms]
                if len(alive) > 10:
                    return f"{len(alive)} live bindings in {env['id']}"
                for b in listed:
                    got = self._request(tenant, "GET", f"/environments/{env['id']}/bindings/{b['bindingId']}")
                    if got is None or got.status_code != 200:
                        status = None if got is None else got.status_code
                        return f"binding {b['bindingId']} is listed but GET answers {status}"
                    if b in alive:
                        live[b["bindingId"]] = {"env": env["id"], "tenant": tenant, **got.json()}
        return live

    def check(self) -> ChaosReport:
        self._wait("environments settle", self._settled)

        # orphans are removed by the reconcile loop, bindings cut short by a kill are finished or undone
        def no_orphans() -> str | None:
            live = self._live_bindings()
            if isinstance(live, str):
                return live
            return self._orphans(live)

        self._wait("no orphan runtime objects and no half-made bindings", no_orphans)
        live = self._live_bindings()
        if isinstance(live, str):
            self._violation(live)
            return self.report
        for binding_id, body in live.items():
            status = _runtime_status(body["credentials"]["kubeconfig"])
            if status != 200:
                self._violation(f"live binding {binding_id}: its kubeconfig gets {status}")
        for binding_id in self.deleted:
            if binding_id in self.issued and binding_id not in live:
                status = _runtime_status(self.issued[binding_id])
                if status not in (401, None):
                    self._violation(f"deleted binding {binding_id}: its kubeconfig still gets {status}")
        # past every expiry (7200 s at most), every kubeconfig ever issued is refused
        first = self.servers[0]
        first.admin("POST", "/admin/clock/advance", {"seconds": 7300})
        for binding_id, kubeconfig in self.issued.items():
            status = _runtime_status(kubeconfig)
            if status is not None and status >= 500:  # seen once, right after the clock jump: ask again
                time.sleep(1)
                status = _runtime_status(kubeconfig)
            if status not in (401, None):
                self._violation(f"expired binding {binding_id}: its kubeconfig still gets {status}")
        return self.report

    def _orphans(self, live: dict[str, dict[str, Any]]) -> str | None:
        """``kyma-binding-*`` objects in a runtime that belong to no live binding."""
        by_env: dict[str, dict[str, Any]] = {}
        for body in live.values():
            by_env.setdefault(body["env"], body)
        for tenant in self.tenants:
            for env in self._environments(tenant, self.rng) or []:
                if env["id"] not in by_env:
                    continue  # no live binding to look with; the objects of expired ones are checked by expiry
                kubeconfig = by_env[env["id"]]["credentials"]["kubeconfig"]
                wanted = {f"kyma-binding-{b}" for b, body in live.items() if body["env"] == env["id"]}
                for path in (
                    "/api/v1/namespaces/kyma-system/serviceaccounts",
                    "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                    "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                ):
                    items = _runtime_get(kubeconfig, f"{path}?labelSelector={MANAGED_BY}")
                    if items is None:
                        return f"cannot list {path} in {env['id']}"
                    names = {i["metadata"]["name"] for i in items["items"]}
                    extra = sorted(n for n in names if n.startswith("kyma-binding-") and n not in wanted)
                    if extra:
                        return f"orphans in {env['id']} {path}: {extra}"
        return None


def _epoch_ms(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


def _runtime_get(kubeconfig: str, path: str) -> dict[str, Any] | None:
    response = _runtime_call(kubeconfig, path)
    return response.json() if response is not None and response.status_code == 200 else None


def _runtime_status(kubeconfig: str) -> int | None:
    response = _runtime_call(kubeconfig, "/api/v1/namespaces/default/pods")
    return None if response is None else response.status_code


def _runtime_call(kubeconfig: str, path: str) -> httpx.Response | None:
    config = yaml.safe_load(kubeconfig)
    cluster = config["clusters"][0]["cluster"]
    context = ssl.create_default_context(
        cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
    )
    token = config["users"][0]["user"]["token"]
    server = cluster["server"]
    server_name = cluster.get("tls-server-name")
    try:
        with httpx.Client(verify=context, timeout=30) as client:
            request = client.build_request(
                "GET", f"{server}{path}", headers={"authorization": f"Bearer {token}"}
            )
            if server_name:
                request.extensions["sni_hostname"] = server_name
            return client.send(request)
    except httpx.HTTPError:
        return None


def _print_tracebacks(chaos: Chaos) -> None:
    """What the servers said about a failed run (their logs go with the temporary directory)."""
    for srv in chaos.servers:
        tracebacks = srv.log().split("Traceback")[1:]
        if tracebacks:
            print(f"server {srv.port}, last traceback:\nTraceback{tracebacks[-1][-4000:]}", file=sys.stderr)


def run(config: ChaosConfig, workdir: Path | None = None) -> ChaosReport:
    """One whole run: start, traffic with kills, settle, check; servers are stopped in any case."""
    with tempfile.TemporaryDirectory(prefix="kymaprov-chaos-") as tmp:
        chaos = Chaos(workdir or Path(tmp), config)
        try:
            chaos.start()
            chaos.run_traffic()
            report = chaos.check()
        except Exception:
            _print_tracebacks(chaos)
            raise
        finally:
            chaos._stop.set()
            chaos.stop()
            chaos._http.close()
        if report.violations:  # the logs are still there until the directory goes
            _print_tracebacks(chaos)
        return report
