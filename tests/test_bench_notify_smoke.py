"""bench/bench_notify.py still runs against the current schema and worker (a second on a few
hundred rows); its figures are not judged here, only that it completes, prints its ratio and
that every outbox row reached the inbox (it counts them)."""

import subprocess
import sys

from shop import PROJECT_ROOT


def test_notify_benchmark_runs_and_delivers_every_row():
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "bench_notify.py"), "--count=300",
         "--rounds=1", "--users=20"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    [verdict] = [line for line in lines if line.startswith("worker vs bare insert:")]
    assert "(target >= 0.3x)" in verdict and verdict.endswith(("PASS", "MISS"))
    assert "delivered: every row reached the inbox" in lines
