"""A worker's CPU per request and memory under the share burst's anonymous mix, driven by wrk:
for comparing databases and settings on one machine, without bench_load's Python clients.

    .venv/bin/python bench/bench_worker.py [--seconds 10] [--rounds 3] [--connections 8]
        [--also DIR] [--redis] [--database-url postgresql+psycopg://postgres@127.0.0.1:54329/bench_worker]
        [--set NAME=VALUE] [--spy SECONDS] [--each]

Builds bench_load's instance (demo data, a link per shop item, its sharers' poster links),
starts gunicorn with the project's gunicorn.conf.py (as bench_load: request log on, the
click limits lifted) and runs wrk rounds of bench_load's mix without the checkouts: 60
``/r/<code>`` as a new visitor, 17 landing pages, 8 ``/p/<id>``, 8 shop pages, 4 signed-in
sharer posters, drawn at random per request. Prints per round the requests, req/s and the
CPU milliseconds per request of gunicorn (master, workers and their drawing processes), of
which the workers' threads other than the main one (``threads``: the click writer), the
PostgreSQL backends of the run's database and Redis; then every worker's RSS/PSS/USS, and
that the click rows equal the redirects. ``--spy N``: a py-spy profile (``record --gil``,
idle samples left out; BENCH_SPY_ALL=1: every sample of a thread on the CPU, the GIL held
or not) of one worker for N seconds during the last round, as a text summary. ``--each``:
then each kind of request alone, for gunicorn's CPU per request of each.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_load import (  # noqa: E402
    cpu_by_pid,
    database_pids,
    extend_setup,
    redis_server,
    server_pids,
    sign_in,
)
from bench.common import (  # noqa: E402
    PHONE_UA,
    database,
    free_port,
    prepare,
    scalar,
    start_server,
    stop_server,
    worker_memory_mb,
)

MIX = {"click": 60, "landing": 17, "product": 8, "shop": 8, "poster": 4}
PY_SPY = os.environ.get("BENCH_PY_SPY") or shutil.which("py-spy") or "/tmp/spy/bin/py-spy"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--redis", action="store_true")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--spy", type=float, default=0, metavar="SECONDS")
    parser.add_argument(
        "--each", action="store_true", help="then each kind of request alone, --seconds each"
    )
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="DIR",
        help="another copy of the project (e.g. the code before a change, from git archive) "
        "served beside this one on the same database; rounds alternate between them",
    )
    return parser.parse_args()


def lua_script(plan: list[tuple[str, str, str]]) -> str:
    """wrk's script: each request one of ``plan``'s (kind, path, cookie), at random."""

    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    rows = ",\n".join(f"{{{quoted(path)}, {quoted(cookie)}}}" for _kind, path, cookie in plan)
    return f"""
local plan = {{
{rows}
}}
wrk.headers["User-Agent"] = {quoted(PHONE_UA)}
math.randomseed(25)
request = function()
  local row = plan[math.random(#plan)]
  local headers = {{}}
  if row[2] ~= "" then headers["Cookie"] = row[2] end
  return wrk.format("GET", row[1], headers)
end
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
redirects = 0
function response(status, headers, body)
  if status == 303 then redirects = redirects + 1 end
end
function done(summary, latency, requests)
  local n = 0
  for _, thread in ipairs(threads) do n = n + thread:get("redirects") end
  io.write("redirects " .. n .. "\\n")
end
"""


def main() -> None:
    args = arguments()
    if not shutil.which("wrk"):
        raise SystemExit("needs wrk (Debian/Ubuntu: apt-get install wrk)")
    roots = {"this": ROOT, **{Path(other).name: Path(other).resolve() for other in args.also}}
    with (
        database(args.database_url, "fenxiang.sqlite3") as (url, instance),
        redis_server(args.redis, instance) as redis,
    ):
        env = {key: value for key, value in os.environ.items() if not key.startswith("SHOP_")}
        env.update(
            SHOP_DATABASE_URL=url,
            SHOP_INSTANCE_PATH=str(instance),
            SHOP_CLICK_FLOOD_LIMIT="1000000 per minute",
            SHOP_CLICK_HARD_LIMIT="1000000 per minute",
            SHOP_REQUEST_LOG="true",
        )
        if redis is not None:
            env["SHOP_REDIS_URL"] = redis["url"]
        for setting in args.set:
            name, _eq, value = setting.partition("=")
            env[f"SHOP_{name}"] = value
        for key in [key for key in os.environ if key.startswith("SHOP_")]:
            del os.environ[key]
        os.environ.update(env)
        setup = prepare(extend_setup(1))
        clicks_before = scalar(url, "select count(*) from clicks")
        servers: dict[str, tuple[int, subprocess.Popen]] = {}
        try:
            for label, root in roots.items():
                port = free_port()
                log = instance / f"gunicorn-{label}.log"
                servers[label] = (
                    port,
                    start_server(port, env, 0, log=log, use_conf=True, wait=180, root=root),
                )
            redirects = measure(args, setup, servers, url, redis, instance)
        finally:
            for _port, server in servers.values():
                stop_server(server)
        clicks = scalar(url, "select count(*) from clicks") - clicks_before
        print(
            f"click rows written: {clicks}, redirects counted: {redirects} (requests still in "
            "flight when a wrk run ends are served and not counted: up to --connections more "
            "rows per run)"
        )


def measure(args, setup, servers: dict, url, redis, instance: Path) -> int:
    """The rounds, alternating between the servers, and the memory after them; returns the
    redirects counted."""
    port = next(iter(servers.values()))[0]
    cookies = [sign_in(port, s["account"], s["password"]) for s in setup["sharers"]]
    paths = {
        "click": [(f"/r/{code}", "") for code in setup["codes"]],
        "landing": [(path, "") for path in setup["products"]],
        "product": [(path, "") for path in setup["direct"]],
        "shop": [(path, "") for path in setup["shops"]],
        "poster": [
            (poster, "; ".join(f"{k}={v}" for k, v in jar.items()))
            for sharer, jar in zip(setup["sharers"], cookies, strict=True)
            for poster in sharer["posters"]
        ],
    }
    plan = [
        (kind, *paths[kind][n % len(paths[kind])])
        for kind, share in MIX.items()
        for n in range(share)
    ]
    script = instance / "mix.lua"
    script.write_text(lua_script(plan))
    wrk = ["wrk", "-t2", f"-c{args.connections}", "--latency", "-s", str(script)]
    redirects = 0
    rows: dict[str, list[dict]] = {label: [] for label in servers}
    for port, _server in servers.values():
        redirects += wrk_run(wrk, 3, port)[3]  # warm up: every worker has its connections
    for number in range(args.rounds):
        for label, (port, server) in servers.items():
            watched = {
                "gunicorn": lambda server=server: gunicorn_pids(server.pid),
                # the workers' threads other than the one serving requests: the click writer
                "threads": lambda server=server: side_threads(server_pids(server.pid)[1:]),
            }
            if url.startswith("postgresql"):
                watched["postgres"] = database_pids(url)
            if redis is not None:
                watched["redis"] = lambda: [redis["pid"]]
            spy = None
            if args.spy and number == args.rounds - 1:
                spy = spy_on(server_pids(server.pid)[1], args.spy, instance)
            before = {kind: cpu_by_pid(pids()) for kind, pids in watched.items()}
            requests, rate, errors, served = wrk_run(wrk, args.seconds, port)
            after = {kind: cpu_by_pid(pids()) for kind, pids in watched.items()}
            redirects += served
            cpu = {
                kind: sum(after[kind][pid] - before[kind].get(pid, 0) for pid in after[kind])
                * 1000
                / max(requests, 1)
                for kind in watched
            }
            rows[label].append(cpu)
            print(
                f"{label} round {number + 1}: {requests} requests, {rate:.0f} req/s, errors "
                f"{errors}; CPU ms per request: "
                + ", ".join(f"{kind} {value:.3f}" for kind, value in cpu.items())
            )
            if spy is not None:
                spy.wait()
                print(summarize(instance))
                if keep := os.environ.get("BENCH_SPY_RAW"):  # a file: the raw stacks, kept
                    shutil.copy(instance / "spy.txt", f"{keep}.{label}")
    if args.each:
        redirects += each_kind(args, plan, servers, instance)
    for label, (_port, server) in servers.items():
        for kind in rows[label][0]:
            values = [row[kind] for row in rows[label]]
            print(
                f"{label}: {kind} median {statistics.median(values):.3f} ms per request "
                f"({min(values):.3f}-{max(values):.3f})"
            )
        for rss, pss, uss in worker_memory_mb(server.pid):
            print(f"{label}: worker RSS {rss:.1f} MB, PSS {pss:.1f}, USS {uss:.1f}")
    return redirects


def each_kind(args, plan, servers: dict, instance: Path) -> int:
    """Each kind of request alone, ``--seconds`` per server: gunicorn's CPU per request of
    that kind, and the mix's figure made of them by its shares; returns the redirects."""
    redirects = 0
    figures: dict[str, dict[str, float]] = {label: {} for label in servers}
    for kind in MIX:
        script = instance / f"{kind}.lua"
        script.write_text(lua_script([row for row in plan if row[0] == kind]))
        wrk = ["wrk", "-t2", f"-c{args.connections}", "-s", str(script)]
        for label, (port, server) in servers.items():
            pids = gunicorn_pids(server.pid)
            before = cpu_by_pid(pids)
            requests, _rate, _errors, served = wrk_run(wrk, args.seconds, port)
            after = cpu_by_pid(gunicorn_pids(server.pid))
            redirects += served
            figures[label][kind] = (
                sum(after[pid] - before.get(pid, 0) for pid in after) * 1000 / max(requests, 1)
            )
    for label, by_kind in figures.items():
        mixed = sum(by_kind[kind] * share for kind, share in MIX.items()) / sum(MIX.values())
        print(
            f"{label} each kind alone, gunicorn CPU ms per request: "
            + ", ".join(f"{kind} {value:.3f}" for kind, value in by_kind.items())
            + f"; by the mix's shares {mixed:.3f}"
        )
    return redirects


def side_threads(workers: list[int]) -> list[str]:
    """The workers' threads but their main one, as ``<pid>/task/<tid>`` (cpu_by_pid reads
    ``/proc/<that>/stat``)."""
    found = []
    for worker in workers:
        try:
            tids = os.listdir(f"/proc/{worker}/task")
        except OSError:
            continue
        found += [f"{worker}/task/{tid}" for tid in tids if tid != str(worker)]
    return found


def gunicorn_pids(master: int) -> list[int]:
    """The master, its workers and their children (the poster drawing processes)."""
    pids = server_pids(master)
    for worker in pids[1:]:
        pids += server_pids(worker)[1:]
    return pids


def wrk_run(command: list[str], seconds: float, port: int) -> tuple[int, float, int, int]:
    """(requests, requests per second, non-2xx/3xx responses and timeouts, redirects) of one
    wrk run."""
    done = subprocess.run(
        [*command, f"-d{max(1, round(seconds))}s", f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|timeout) (\d+)", out))
    return requests, rate, errors, int(re.search(r"redirects (\d+)", out).group(1))


def spy_on(pid: str, seconds: float, folder: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [PY_SPY, "record", "--rate", "400", "--format", "raw", "-d", str(int(seconds)),
         "-p", str(pid), "-o", str(folder / "spy.txt")]
        + ([] if os.environ.get("BENCH_SPY_ALL") else ["--gil"]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def summarize(folder: Path, top: int = 40) -> str:
    """py-spy's collapsed stacks as the functions with the most samples anywhere on the stack
    (inclusive) and at the top (exclusive)."""
    inclusive: Counter = Counter()
    exclusive: Counter = Counter()
    total = 0
    for line in (folder / "spy.txt").read_text().splitlines():
        stack, _sep, count = line.rpartition(" ")
        frames = stack.split(";")
        n = int(count)
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        exclusive[frames[-1]] += n
    lines = [f"py-spy: {total} samples (GIL held)", "inclusive:"]
    lines += [f"  {100 * n / total:5.1f}% {frame}" for frame, n in inclusive.most_common(top)]
    lines += ["exclusive:"]
    lines += [f"  {100 * n / total:5.1f}% {frame}" for frame, n in exclusive.most_common(top)]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
