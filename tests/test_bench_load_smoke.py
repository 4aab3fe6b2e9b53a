"""bench/bench_load.py still runs against the current routes, forms and schema (half a minute:
4 clients, 2 s of each phase); its throughput is not judged here, only that every answer was
the expected one, nothing failed in the server log, and the database holds one order per
checkout and one click per redirect."""

import re
import subprocess
import sys

from shop import PROJECT_ROOT


def test_load_benchmark_runs_briefly_without_errors():
    result = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "bench" / "bench_load.py"),
            "--seconds=2",
            "--bare-seconds=2",
            "--warmup=1",
            "--clients=4",
            "--processes=2",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=PROJECT_ROOT,
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    assert "unexpected answers" not in out, out
    assert re.search(r"^zero 5xx\s+0  PASS$", out, re.MULTILINE), out
    assert re.search(r"^zero 'database is locked' in the server log\s+0  PASS$", out, re.M), out
    assert "server log: 0 'database is locked', 0 tracebacks, 0 worker timeouts" in out, out
    assert re.search(r"warm-up .*: \d+ requests, 0 5xx, 0 other errors", out), out
    database = next(line for line in out.splitlines() if line.startswith("database: "))
    assert database.count("(equal)") == 2, database
    assert re.search(r"^mix click\s+[1-9]", out, re.MULTILINE), out  # the mix ran
