"""The chaos run in its short form: random traffic, SIGKILLs, then every invariant of ``tests/support/chaos.py``.

It runs as ``python -m bench.chaos`` (the long form's entry point) in a process of its own, so its
hundreds of connections and TLS contexts share nothing with the rest of the test session. The seed is
printed, so a failing run can be replayed with ``--seed``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import requires_postgres

ROOT = Path(__file__).parents[1]


def chaos(*args: str) -> dict[str, int]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--seconds", "15", "--workers", "4", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-3000:]}"
    print(result.stdout)
    assert result.returncode == 0, report  # 1: an invariant was violated (each is printed)
    summary = re.search(
        r"(\d+) kills, (\d+) environments and (\d+) bindings created, (\d+) bindings deleted, (\d+) violations",
        result.stdout,
    )
    assert summary, report
    kills, environments, created, deleted, violations = map(int, summary.groups())
    assert violations == 0, report
    assert kills >= 2 and environments > 0 and created > 0, report  # the run really did something
    return {"kills": kills, "environments": environments, "bindings": created, "deleted": deleted}


def test_kill_9_chaos_on_sqlite() -> None:
    chaos()


@requires_postgres
def test_kill_9_chaos_with_two_replicas_on_postgres(postgres_database: str) -> None:
    chaos("--replicas", "2", "--database-url", postgres_database)
