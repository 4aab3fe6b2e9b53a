"""bench/bench_http.py still runs against the current routes (a short run: one round of one
second per case, two connections); its figures are not judged here, only that every case
answered as expected, no click was lost (also across a SIGTERM), and the report has its rows.
Without wrk it says how to install it."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from shop import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT))
from bench.bench_http import parse_wrk  # noqa: E402

WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:5000/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.21ms    1.02ms  21.40ms   90.00%
    Req/Sec     2.50k   100.00     2.70k    70.00%
  Latency Distribution
     50%  812.00us
     75%    3.50ms
     90%    4.10ms
     99%    1.20s
  4990 requests in 1.00s, 1.20MB read
  Socket errors: connect 0, read 4990, write 2, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:   4990.00
Transfer/sec:      1.20MB
"""


def test_wrk_output_is_read_with_its_units():
    result = parse_wrk(WRK_OUTPUT)
    assert result["requests"] == 4990 and result["rps"] == 4990.0
    assert result["p50"] == pytest.approx(0.812) and result["p99"] == pytest.approx(1200.0)
    assert result["bad_status"] == 7
    assert result["socket_errors"] == 3  # closed connections (reads) are not errors


def test_without_wrk_the_bench_says_how_to_install_it(tmp_path):
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "bench_http.py")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
        env=dict(os.environ, PATH=str(tmp_path)),
    )
    assert result.returncode == 1
    assert "apt-get install wrk" in result.stderr


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_http_benchmark_runs_briefly_without_errors():
    result = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "bench" / "bench_http.py"),
            "--rounds=1",
            "--seconds=1",
            "--connections=2",
            "--threads=1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=PROJECT_ROOT,
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    cases = ["bare_redirect", "app_redirect", "click", "bare_page", "app_page", "landing"]
    if shutil.which("redis-server"):
        cases.append("click_redis")
    for case in cases:
        row = re.search(rf"^{case}\s+.*\s(\d+)$", out, re.MULTILINE)
        assert row is not None and row.group(1) == "0", out  # no error answer
    assert re.search(r"^click throughput\s+.*(PASS|MISS)", out, re.MULTILINE), out
    assert re.search(r"^landing p99\s+.*(PASS|MISS)", out, re.MULTILINE), out
    assert re.search(r"clicks redirected .*: [1-9]\d*; stored: \d+ \(none lost\)", out), out
    assert re.search(r"stop under load: \d+ redirected, \d+ stored \(none lost\)", out), out
    assert "server log: 0 tracebacks, 0 locked" in out, out
    memory = r"shop worker memory after the load: RSS [\d, ]+ MB .*; PSS [\d, ]+ MB; USS"
    assert re.search(memory, out), out
