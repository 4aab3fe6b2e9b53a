"""HTTP benchmark: following a share link and the landing product page, each against a bare
route of the same app under the same gunicorn (sync workers), in interleaved rounds.

    .venv/bin/python bench/bench_http.py [rounds=5] [seconds_per_case=3] [connections=8]

Sets up its own instance (SQLite in a temporary folder, demo data, share links), starts
gunicorn on a free port, drives it from client threads on this machine, prints a table of
medians and then checks that every click the clients saw redirected is in the database, also
across a normal stop (SIGTERM) in the middle of the load. Always exits 0: a report, not a gate.
"""

import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import free_port, prepare, request, start_server  # noqa: E402

TARGETS = {
    "click": ("bare_redirect", 0.75, 1.8),  # throughput >= 0.75x, p99 <= 1.8x
    "product": ("bare_template", 0.6, None),
}


def count_clicks(instance: Path) -> int:
    import sqlite3

    with sqlite3.connect(instance / "fenxiang.sqlite3") as conn:
        query = "select count(*) from clicks where uncounted_reason is null"
        return conn.execute(query).fetchone()[0]


def load(port: int, paths: list[str], seconds: float, connections: int, expect: int) -> dict:
    """``connections`` client threads requesting ``paths`` (at random) for ``seconds``."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        mine, bad = [], 0
        while time.perf_counter() < stop:
            try:
                status, elapsed = request(port, rng.choice(paths))
            except OSError:
                bad += 1
                continue
            if status == expect:
                mine.append(elapsed)
            else:
                bad += 1
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    begin = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - begin
    latencies.sort()
    return {
        "rps": len(latencies) / wall,
        "p50": latencies[len(latencies) // 2] * 1000 if latencies else float("nan"),
        "p99": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan"),
        "ok": len(latencies),
        "errors": errors[0],
    }


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    connections = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    workers = (os.cpu_count() or 1) * 2
    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp)
        env = dict(os.environ)
        env.update(
            SHOP_INSTANCE_PATH=str(instance),
            # Every request here comes from 127.0.0.1; a real flood comes from one address,
            # these stand for many visitors, so the per-IP limits are lifted (still evaluated).
            SHOP_CLICK_FLOOD_LIMIT="1000000 per minute",
            SHOP_CLICK_HARD_LIMIT="1000000 per minute",
        )
        os.environ.update(env)
        setup = prepare()
        seeded_clicks = count_clicks(instance)  # the demo data has clicks of its own
        first = setup["products"][0]
        env["BENCH_BARE_TARGET"] = first
        cases = {
            "bare_redirect": (["/_bench/redirect"], 303),
            "click": ([f"/r/{code}" for code in setup["codes"]], 303),
            "bare_template": (["/_bench/template"], 200),
            "product": (setup["products"], 200),
        }
        port = free_port()
        server = start_server(port, env, workers)
        try:
            warm_clicks = 0
            for name, (paths, expect) in cases.items():  # warm every worker and cache
                warmed = load(port, paths, 1.0, connections, expect)
                warm_clicks += warmed["ok"] if name == "click" else 0
            results: dict[str, list[dict]] = {name: [] for name in cases}
            names = list(cases)
            for number in range(rounds):
                order = names[number % len(names) :] + names[: number % len(names)]
                for name in order:
                    paths, expect = cases[name]
                    results[name].append(load(port, paths, seconds, connections, expect))
            redirected = sum(r["ok"] for r in results["click"]) + warm_clicks
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
        clicks_stored = count_clicks(instance) - seeded_clicks  # after the stop's flush

        # A normal stop in the middle of click traffic: nothing redirected may be missing.
        port = free_port()
        server = start_server(port, env, workers)
        before = count_clicks(instance)
        outcome: dict = {}
        thread = threading.Thread(
            target=lambda: outcome.update(
                load(port, cases["click"][0], 3.0, connections, cases["click"][1])
            )
        )
        thread.start()
        time.sleep(1.5)
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        thread.join()
        stored_during_stop = count_clicks(instance) - before

    print(f"HTTP bench: gunicorn sync x{workers} workers, {connections} client connections,")
    print(f"{rounds} interleaved rounds x {seconds:g} s per case, SQLite (WAL), Python client")
    print(f"{'case':<15}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name in cases:
        rows = results[name]
        print(
            f"{name:<15}{statistics.median(r['rps'] for r in rows):>9.0f}"
            f"{statistics.median(r['p50'] for r in rows):>9.2f}"
            f"{statistics.median(r['p99'] for r in rows):>9.2f}"
            f"{sum(r['errors'] for r in rows):>8}"
        )
    print(f"{'ratio':<28}{'median':>8}{'rounds':>16}{'target':>9}  result")
    for name, (base, throughput_target, p99_target) in TARGETS.items():
        ratios = [r["rps"] / b["rps"] for r, b in zip(results[name], results[base], strict=True)]
        verdict = "PASS" if statistics.median(ratios) >= throughput_target else "MISS"
        print(
            f"{name + ' throughput vs ' + base:<28}{statistics.median(ratios):>7.2f}x"
            f"{min(ratios):>8.2f}-{max(ratios):.2f}x{'>= ' + str(throughput_target):>9}  {verdict}"
        )
        if p99_target:
            tails = [r["p99"] / b["p99"] for r, b in zip(results[name], results[base], strict=True)]
            verdict = "PASS" if statistics.median(tails) <= p99_target else "MISS"
            print(
                f"{name + ' p99 vs ' + base:<28}{statistics.median(tails):>7.2f}x"
                f"{min(tails):>8.2f}-{max(tails):.2f}x{'<= ' + str(p99_target):>9}  {verdict}"
            )
    print(
        f"clicks redirected (warm-up and rounds): {redirected}; counted clicks stored: "
        f"{clicks_stored} ({'none lost' if clicks_stored >= redirected else 'LOST'})"
    )
    seen = outcome.get("ok", 0)
    print(
        f"stop under load: {seen} redirected, {stored_during_stop} stored "
        f"({'none lost' if stored_during_stop >= seen else 'LOST'})"
    )


if __name__ == "__main__":
    main()
