"""bench/bench_stats.py still runs against the current schema and services (a few seconds on a
small SQLite data set); its figures are not judged here, only that it completes, that the
rollup and raw funnels agreed (it asserts that) and that every page answered 200 (else its
verdict is "HTTP <status>")."""

import subprocess
import sys

from shop import PROJECT_ROOT


def test_stats_benchmark_runs_on_a_small_data_set():
    result = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "bench" / "bench_stats.py"),
            "--clicks=5000",
            "--orders=300",
            "--rounds=1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "stats.funnel (rollups), vs raw" in result.stdout
    assert "the same from both" in result.stdout
    pages = [line for line in result.stdout.splitlines() if "vs bare" in line]
    # The stats page and the overview as served (judged), their first views and the chart.
    judged = [line for line in pages if "<= 3.0x" in line]
    assert len(pages) == 5 and len(judged) == 2, pages
    assert all(line.endswith(("PASS", "MISS")) for line in judged), pages
    assert not any("HTTP" in line for line in pages), pages
