"""The chaos run in its short form: random traffic, SIGKILLs, then every invariant of ``tests/chaos.py``.

``bench/chaos.py`` runs the same for longer. The seed is printed, so a failing run can be replayed.
"""

from __future__ import annotations

from pathlib import Path

from tests.chaos import ChaosConfig, run
from tests.conftest import requires_postgres


def _assert_clean(report_text: str, violations: list[str]) -> None:
    print(report_text)
    assert not violations, f"{report_text}\n" + "\n".join(violations[:20])


def test_kill_9_chaos_on_sqlite(tmp_path: Path) -> None:
    report = run(ChaosConfig(seconds=15, replicas=1), tmp_path)
    assert report.kills >= 2 and report.bindings_created > 0 and report.environments_created > 0, (
        report.summary()
    )
    _assert_clean(report.summary(), report.violations)


@requires_postgres
def test_kill_9_chaos_with_two_replicas_on_postgres(tmp_path: Path, postgres_database: str) -> None:
    report = run(ChaosConfig(seconds=15, replicas=2, database_url=postgres_database), tmp_path)
    assert report.kills >= 2 and report.bindings_created > 0 and report.environments_created > 0, (
        report.summary()
    )
    _assert_clean(report.summary(), report.violations)
