"""The long chaos run: random traffic while replicas are killed with SIGKILL, then the invariants.

Run: ``python -m bench.chaos [--seconds 300] [--replicas 2 --database-url URL] [--seed N]``.
Prints the run's figures and every violated invariant; exits 1 if any (see ``tests/support/chaos.py``).
"""

from __future__ import annotations

import argparse
import sys
import time

from tests.support.chaos import ChaosConfig, run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL; required for --replicas > 1")
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    config = ChaosConfig(
        seconds=args.seconds, replicas=args.replicas, database_url=args.database_url, workers=args.workers
    )
    if args.seed is not None:
        config.seed = args.seed
    started = time.monotonic()
    report = run(config)
    print(report.summary())
    print(f"wall time {time.monotonic() - started:.0f} s")
    for violation in report.violations:
        print("VIOLATION", violation)
    sys.exit(1 if report.violations else 0)


if __name__ == "__main__":
    main()
