"""bench/bench_poster_http.py and bench_routes.py's poster route still run against the current
routes (short runs); their figures are not judged here, only that every poster was answered
200 by both servers and the reports have their rows."""

import re
import shutil
import subprocess
import sys

import pytest

from shop import PROJECT_ROOT


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_bench_poster_http_runs_both_servers_without_errors():
    done = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "bench_poster_http.py"), "--rounds", "1"]
        + ["--seconds", "1", "--connections", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT_ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for server in ("thin path", "Flask path"):
        row = re.search(rf"^{server} .* (\d+)$", done.stdout, re.MULTILINE)
        assert row is not None, done.stdout
        assert row.group(1) == "0", row.group(0)  # every answer 200


def test_bench_routes_has_the_poster_route():
    done = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "bench_routes.py"), "--rounds", "1"]
        + ["--requests", "3", "--warmup", "1", "--routes", "poster"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT_ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"^poster\s+\d+\.\d+", done.stdout, re.MULTILINE), done.stdout
