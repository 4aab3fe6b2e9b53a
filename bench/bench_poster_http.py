"""A signed-in sharer's poster already drawn (`/me/links/<id>/poster.jpg`, 4% of bench_load's
mix) on gunicorn as `make serve` runs it (gunicorn.conf.py, the request log on), driven by
wrk: the thin path (shop.web.sharer.posterpath) against the Flask path
(`SHOP_POSTER_KEY_SECONDS=0`), two servers on the same instance, in interleaved rounds.

    .venv/bin/python bench/bench_poster_http.py [--rounds 3] [--seconds 5] [--connections 8]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:54329/bench_poster]

Prints, per server, the medians and per-round ranges of req/s, p99 and the server's CPU per
request (its master and workers, from /proc; on PostgreSQL the backends' CPU is not counted),
and the answers that were not 200. Exits 0 with a report; 1 when wrk is missing.
"""

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_http import WRK_MISSING, run_wrk  # noqa: E402
from bench.bench_load import cpu_by_pid, extend_setup, server_pids, sign_in  # noqa: E402
from bench.common import (  # noqa: E402
    PHONE_UA,
    database,
    free_port,
    http,
    prepare,
    start_server,
    stop_server,
)

SERVERS = {"thin path": {}, "Flask path": {"SHOP_POSTER_KEY_SECONDS": "0"}}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--database-url", default=None)
    return parser.parse_args()


def wrk_script(folder: Path, name: str, paths: list[str], cookies: dict) -> Path:
    """The sharer's posters in turn, with the sharer's cookie and the browser it signed in
    with (a session is made for one client: another User-Agent would not be it)."""
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    listed = ", ".join(f'"{p}"' for p in paths)
    script = folder / f"{name.replace(' ', '_')}.lua"
    script.write_text(
        f"local paths = {{{listed}}}\nlocal i = 0\n"
        f'wrk.headers["User-Agent"] = "{PHONE_UA}"\n'
        f'wrk.headers["Cookie"] = "{cookie}"\n'
        "request = function()\n  i = i + 1\n"
        '  return wrk.format("GET", paths[(i % #paths) + 1])\nend\n'
    )
    return script


def main() -> None:
    args = arguments()
    if shutil.which("wrk") is None:
        print(WRK_MISSING)
        raise SystemExit(1)
    with database(args.database_url, "fenxiang.sqlite3") as (url, instance):
        env = {key: value for key, value in os.environ.items() if not key.startswith("SHOP_")}
        env.update(SHOP_DATABASE_URL=url, SHOP_INSTANCE_PATH=str(instance), SHOP_REQUEST_LOG="true")
        for key in [key for key in os.environ if key.startswith("SHOP_")]:
            del os.environ[key]
        os.environ.update(env)
        setup = prepare(extend_setup(1))
        sharer = setup["sharers"][0]
        servers, log = {}, instance / "gunicorn.log"
        try:
            for name, extra in SERVERS.items():
                port = free_port()
                servers[name] = (start_server(port, env | extra, 0, log=log, use_conf=True), port)
            scripts = {}
            for name, (_server, port) in servers.items():
                cookies = sign_in(port, sharer["account"], sharer["password"])
                for path in sharer["posters"]:  # drawn (and the key kept) before the rounds
                    for _ in range(2):
                        status = http(port, "GET", path, cookies=cookies)[0]
                        assert status == 200, (name, path, status)
                scripts[name] = wrk_script(instance, name, sharer["posters"], cookies)
            figures = {name: {"rps": [], "p99": [], "cpu": [], "bad": 0} for name in servers}
            for name, (_server, port) in servers.items():
                run_wrk(port, scripts[name], 1, args.connections, args.threads)  # warm-up
            for _ in range(args.rounds):
                for name, (server, port) in servers.items():
                    pids = server_pids(server.pid)
                    before = sum(cpu_by_pid(pids).values())
                    result = run_wrk(port, scripts[name], args.seconds, args.connections, 2)
                    used = sum(cpu_by_pid(pids).values()) - before
                    figure = figures[name]
                    figure["rps"].append(result["rps"])
                    figure["p99"].append(result["p99"])
                    figure["cpu"].append(used * 1000 / max(result["requests"], 1))
                    figure["bad"] += result["bad_status"] + result["socket_errors"]
        finally:
            for server, _port in servers.values():
                stop_server(server)
    print(f"{len(sharer['posters'])} posters of one sharer, {args.rounds} interleaved rounds")
    print(f"{'server':<12} {'req/s':>22} {'p99 ms':>20} {'CPU ms/request':>22}  not 200")
    for name, figure in figures.items():
        cells = [
            f"{statistics.median(v):8.2f} ({min(v):.2f}-{max(v):.2f})"
            for v in (figure["rps"], figure["p99"], figure["cpu"])
        ]
        print(f"{name:<12} {cells[0]:>22} {cells[1]:>20} {cells[2]:>22}  {figure['bad']}")


if __name__ == "__main__":
    main()
