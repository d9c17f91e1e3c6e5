"""``python -m bench.perf --smoke`` runs every figure once, so the benchmark is known to work.

It asserts no timing (that is what the benchmark itself is for): only that each figure was measured.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FIGURES = (
    "GET environment",
    "POST /oauth/token",
    "GET availableEnvironments",
    "GET environments (list of 1)",
    "GET bindings (list of 10)",
    "binding PUT+DELETE (both sides)",
    "binding pairs/s at c=4",
    "GET environment at c=16",
    "kymaprov --help",
    "btp --help",
    "exec-credential (live binding)",
    "scale: GET environment CPU",
    "scale: GET binding CPU",
    "scale: RSS",
    "scale: idle CPU",
    "watch: write to event (median)",
    "idle watches: added server CPU",
    "kube list of ConfigMaps, JSON",
    "kube list, limit/continue pages",
    "RSS after a burst of lists",
    "RSS after touching runtimes",
)
SEED = ("seed procedure verbatim",)  # needs curl and jq, as the procedure does


def test_the_benchmark_smoke_run_measures_every_figure() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-m", "bench.perf", "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split("  ")[0] for line in done.stdout.splitlines()}
    assert set(FIGURES) <= rows, done.stdout
    if shutil.which("curl") and shutil.which("jq"):
        assert set(SEED) <= rows, done.stdout
