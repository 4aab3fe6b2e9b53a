"""HTTP benchmark: following a share link (/r/<code>) and the page it lands on, against a truly
bare Flask app under the same gunicorn settings, driven by wrk, in interleaved rounds.

    .venv/bin/python bench/bench_http.py [--rounds 5] [--seconds 5] [--connections 16]
                                         [--threads 2] [--no-redis]

Sets up its own instance (SQLite in a temporary folder, demo data, one share link per shop
item) and starts, each with the project's gunicorn.conf.py (as `make serve` runs it, request
log on): the bare app (bench/bare_app.py), the shop (bench/bench_app.py: the app plus its two
in-app baselines) and, when redis-server is installed, the shop again with its rate limits in a
private Redis. Every case runs once per round, the order rotating each round, and the table
gives medians with the per-round range. It then checks that every click wrk saw redirected is
in the database, also across a normal stop (SIGTERM) in the middle of the load, and reports the
shop's worker memory after the load. Exits 0 with a report (not a gate); 1 when wrk is missing.
"""

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    PHONE_UA,
    drawing_memory_mb,
    free_port,
    memory_line,
    prepare,
    start_server,
    stop_server,
    worker_memory_mb,
)

BARE_APP = "bench.bare_app:app"
SHOP_APP = "bench.bench_app:app"
#: case -> (bare baseline, in-app baseline, throughput target, p99 target)
TARGETS = {
    "click": ("bare_redirect", "app_redirect", 0.6, 2.0),
    "click_redis": ("bare_redirect", "app_redirect", 0.5, None),
    "landing": ("bare_page", "app_page", 0.3, 4.0),
}
WRK_MISSING = (
    "wrk is not installed; this benchmark needs it as its load generator "
    "(a Python client is slower than the server it measures). On Debian or Ubuntu:\n"
    "    sudo apt-get install wrk"
)
#: Seconds a server may take to answer after its start (a busy shared machine is slow to fork
#: and import five workers).
START = 180.0
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def wrk_script(folder: Path, name: str, paths: list[str]) -> Path:
    """A wrk Lua script that requests ``paths`` in turn, as a phone in WeChat with no cookie."""
    listed = ", ".join(f'"{p}"' for p in paths)
    script = folder / f"{name}.lua"
    script.write_text(
        f"local paths = {{{listed}}}\n"
        "local i = 0\n"
        f'wrk.headers["User-Agent"] = "{PHONE_UA}"\n'
        'wrk.headers["Accept"] = "text/html"\n'
        "request = function()\n"
        "  i = i + 1\n"
        '  return wrk.format("GET", paths[(i % #paths) + 1])\n'
        "end\n"
    )
    return script


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> dict:
    """Throughput, latency percentiles and errors from ``wrk --latency`` output."""
    done = re.search(r"(\d+) requests in ([\d.]+)(\w+)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+\w+)\s*$", output, re.MULTILINE))
    if not done or not rps or "99" not in latency:
        raise RuntimeError(f"wrk gave no result:\n{output}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read \d+, write (\d+), timeout (\d+)", output
    )
    return {
        "requests": int(done.group(1)),
        "rps": float(rps.group(1)),
        "p50": _ms(latency["50"]),
        "p99": _ms(latency["99"]),
        "bad_status": int(bad.group(1)) if bad else 0,
        # Sync workers close every connection after its answer; wrk may count such a close
        # as a read error, so reads are not errors here. Refused, failed writes, timeouts are.
        "socket_errors": sum(int(n) for n in sockets.groups()) if sockets else 0,
    }


def run_wrk(port: int, script: Path, seconds: float, connections: int, threads: int) -> dict:
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency",
        "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}/",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    return parse_wrk(done.stdout)


def count_clicks(instance: Path) -> int:
    import sqlite3

    with sqlite3.connect(instance / "fenxiang.sqlite3") as conn:
        query = "select count(*) from clicks where uncounted_reason is null"
        return conn.execute(query).fetchone()[0]


def start_redis(port: int) -> subprocess.Popen:
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(0.3)
    return redis


def spread(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-" + (
        f"{format(max(values), fmt)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis-limits case")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print(WRK_MISSING, file=sys.stderr)
        return 1
    use_redis = not args.no_redis and shutil.which("redis-server") is not None

    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp)
        env = dict(os.environ)
        env.update(
            SHOP_INSTANCE_PATH=str(instance),
            SHOP_REQUEST_LOG="true",  # as `make serve` runs it
            # Every request here comes from 127.0.0.1; these stand for many visitors, so the
            # per-address limits are lifted (still counted on every click).
            SHOP_CLICK_FLOOD_LIMIT="1000000 per minute",
            SHOP_CLICK_HARD_LIMIT="1000000 per minute",
        )
        env.pop("SHOP_REDIS_URL", None)
        env.pop("SHOP_RATELIMIT_STORAGE_URI", None)
        os.environ.update(env)
        setup = prepare()
        seeded_clicks = count_clicks(instance)  # the demo data has clicks of its own
        env["BENCH_BARE_TARGET"] = setup["products"][0]
        log = instance / "gunicorn.log"
        servers: dict[str, tuple[subprocess.Popen, int]] = {}
        redis = None
        try:
            for name, app, extra in (("bare", BARE_APP, {}), ("shop", SHOP_APP, {})):
                port = free_port()
                servers[name] = (
                    start_server(port, env | extra, 0, log=log, use_conf=True, app=app, wait=START),
                    port,
                )
            if use_redis:
                redis_port = free_port()
                redis = start_redis(redis_port)
                port = free_port()
                extra = {"SHOP_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
                servers["shop_redis"] = (
                    start_server(
                        port, env | extra, 0, log=log, use_conf=True, app=SHOP_APP, wait=START
                    ),
                    port,
                )
            codes = [f"/r/{code}" for code in setup["codes"]]
            cases = {
                "bare_redirect": ("bare", ["/redirect"]),
                "app_redirect": ("shop", ["/_bench/redirect"]),
                "click": ("shop", codes),
                "click_redis": ("shop_redis", codes),
                "bare_page": ("bare", ["/page"]),
                "app_page": ("shop", ["/_bench/template"]),
                "landing": ("shop", setup["products"]),
            }
            if not use_redis:
                del cases["click_redis"]
            scripts = {name: wrk_script(instance, name, cases[name][1]) for name in cases}
            redirected = 0
            for name, (server, _paths) in cases.items():  # warm every worker and cache
                warm = run_wrk(servers[server][1], scripts[name], 1, args.connections, args.threads)
                if name.startswith("click"):
                    redirected += warm["requests"] - warm["bad_status"]
            results: dict[str, list[dict]] = {name: [] for name in cases}
            names = list(cases)
            for number in range(args.rounds):
                shift = number % len(names)
                for name in names[shift:] + names[:shift]:
                    port = servers[cases[name][0]][1]
                    results[name].append(
                        run_wrk(port, scripts[name], args.seconds, args.connections, args.threads)
                    )
            redirected += sum(
                r["requests"] - r["bad_status"]
                for name in cases
                if name.startswith("click")
                for r in results[name]
            )
            memory = worker_memory_mb(servers["shop"][0].pid)
            drawing = drawing_memory_mb(servers["shop"][0].pid)
        finally:
            for server, _port in servers.values():
                stop_server(server)  # SIGTERM: the workers write their queued clicks
            if redis is not None:
                redis.terminate()
                redis.wait(10)
        clicks_stored = count_clicks(instance) - seeded_clicks

        # A normal stop in the middle of click traffic: nothing redirected may be missing.
        port = free_port()
        server = start_server(port, env, 0, log=log, use_conf=True, app=SHOP_APP, wait=START)
        # Every worker booted and warm (a busy machine is slow to start five), then counted.
        run_wrk(port, scripts["click"], 2, args.connections, args.threads)
        time.sleep(1.0)  # the warm-up's clicks written (CLICK_BATCH_SECONDS is 0.2 s)
        before = count_clicks(instance)
        command = [
            "wrk", f"-t{args.threads}", f"-c{args.connections}", "-d3s", "--latency",
            "-s", str(scripts["click"]), f"http://127.0.0.1:{port}/",
        ]  # fmt: skip
        load = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        time.sleep(1.5)
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        during_stop = parse_wrk(load.communicate(timeout=60)[0])
        stored_during_stop = count_clicks(instance) - before
        server_log = log.read_text(errors="replace")

    print(
        f"HTTP bench: wrk -t{args.threads} -c{args.connections}, gunicorn.conf.py "
        f"(sync workers, request log on), SQLite (WAL); {args.rounds} interleaved rounds x "
        f"{args.seconds:g} s per case; median (min-max over rounds)"
    )
    print(f"{'case':<15}{'req/s':>22}{'p50 ms':>22}{'p99 ms':>24}{'errors':>8}")
    for name, rows in results.items():
        errors = sum(r["bad_status"] + r["socket_errors"] for r in rows)
        print(
            f"{name:<15}{spread([r['rps'] for r in rows], '.0f'):>22}"
            f"{spread([r['p50'] for r in rows], '.2f'):>22}"
            f"{spread([r['p99'] for r in rows], '.2f'):>24}{errors:>8}"
        )
    print()
    print(f"{'ratio (per round)':<34}{'vs bare Flask':>22}{'target':>8}  result{'vs in-app':>22}")

    def ratios(name: str, base: str, key: str) -> list[float]:
        pairs = zip(results[name], results[base], strict=True)
        return [r[key] / b[key] for r, b in pairs]

    for name, (bare, in_app, throughput, tail) in TARGETS.items():
        if name not in results:
            continue
        measured = ratios(name, bare, "rps")
        verdict = "PASS" if statistics.median(measured) >= throughput else "MISS"
        second = spread(ratios(name, in_app, "rps"), ".2f") + "x"
        print(
            f"{name + ' throughput':<34}{spread(measured, '.2f') + 'x':>22}"
            f"{'>= ' + str(throughput):>8}  {verdict:<6}{second:>22}"
        )
        if tail:
            measured = ratios(name, bare, "p99")
            verdict = "PASS" if statistics.median(measured) <= tail else "MISS"
            second = spread(ratios(name, in_app, "p99"), ".2f") + "x"
            print(
                f"{name + ' p99':<34}{spread(measured, '.2f') + 'x':>22}"
                f"{'<= ' + str(tail):>8}  {verdict:<6}{second:>22}"
            )
    for in_app, bare in (("app_redirect", "bare_redirect"), ("app_page", "bare_page")):
        print(f"{in_app + ' throughput':<34}{spread(ratios(in_app, bare, 'rps'), '.2f') + 'x':>22}")
    print()
    lost = "none lost" if clicks_stored >= redirected else "LOST"
    print(f"clicks redirected (warm-up and rounds): {redirected}; stored: {clicks_stored} ({lost})")
    seen = during_stop["requests"] - during_stop["bad_status"]
    lost = "none lost" if stored_during_stop >= seen else "LOST"
    print(f"stop under load: {seen} redirected, {stored_during_stop} stored ({lost})")
    print(memory_line(memory, drawing=drawing))
    tracebacks = server_log.count("Traceback")
    print(f"server log: {tracebacks} tracebacks, {server_log.count('database is locked')} locked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
