"""Benchmark: what the client costs a pipeline, against a real ``kymaprov serve``.

Run: ``python -m bench.bench_client [--rounds N]``. Prints p50/p95/max per step; asserts nothing.
Measures ``kymaprov up`` on an existing environment, the exec credential plugin as kubectl runs it
(a process per kubectl start, cached binding and a rotation), and ``kubectl get pods`` through it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.server import Api, RunningServer, free_port, kubectl_binary, seed_variables

from bench.bench_service import report, timed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        srv = RunningServer(tmp / "data", free_port(), free_port(), provisioning_seconds=0).start()
        try:
            creds = srv.cis_credentials()
            env = {**os.environ, **seed_variables(creds), "XDG_STATE_HOME": str(tmp / "state")}

            def kymaprov(*argv: str) -> None:
                subprocess.run(
                    [sys.executable, "-m", "kymaprov", *argv], env=env, check=True, capture_output=True
                )

            kubeconfig = tmp / "kc.yaml"
            report(
                "kymaprov up (creates)",
                timed(
                    lambda: kymaprov(
                        "up", "bench", "--user", "b@x", "-f", str(kubeconfig), "--interval", "0.1"
                    ),
                    1,
                ),
            )
            report("kymaprov up (exists)", timed(lambda: kymaprov("up", "bench", "-f", str(kubeconfig)), 5))

            kubectl = kubectl_binary("1.33")
            report(
                "kubectl get pods (token kubeconfig)",
                timed(
                    lambda: subprocess.run(
                        [
                            kubectl,
                            "--kubeconfig",
                            str(kubeconfig),
                            "--cache-dir",
                            str(tmp / "cache2"),
                            "get",
                            "pods",
                        ],
                        check=True,
                        capture_output=True,
                    ),
                    args.rounds,
                ),
            )
            state = tmp / "exec-state.json"
            exec_kc = tmp / "exec.yaml"
            kymaprov("kubeconfig", "bench", "--exec", "-f", str(exec_kc), "--state", str(state))
            report(
                "exec-credential (cached)",
                timed(lambda: kymaprov("exec-credential", "--state", str(state)), args.rounds),
            )

            def rotate() -> None:
                srv.admin("POST", "/admin/clock/advance", {"seconds": 601})
                kymaprov("exec-credential", "--state", str(state))

            report("exec-credential (rotation)", timed(rotate, max(3, args.rounds // 4)))
            api = Api(srv, srv.token_for(creds))
            [environment] = api.request("GET", "/environments").json()["environmentInstances"]
            listed = api.request("GET", f"/environments/{environment['id']}/bindings").json()["bindings"]
            print(f"bindings listed after the rotations: {len(listed)}")

            report(
                "kubectl get pods (exec kubeconfig)",
                timed(
                    lambda: subprocess.run(
                        [
                            kubectl,
                            "--kubeconfig",
                            str(exec_kc),
                            "--cache-dir",
                            str(tmp / "cache"),
                            "get",
                            "pods",
                        ],
                        check=True,
                        capture_output=True,
                    ),
                    args.rounds,
                ),
            )
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
