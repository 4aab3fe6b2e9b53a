"""Load benchmark: a share burst against a real gunicorn server on 127.0.0.1, next to the same
server's bare routes measured in the same run, on SQLite or PostgreSQL.

    .venv/bin/python bench/bench_load.py [--seconds 60] [--clients 32] [--processes 4]
        [--bare-seconds 15] [--database-url postgresql+psycopg://postgres@127.0.0.1:54329/bench_load]

Sets up its own instance (demo data, a WeChat-group link and a poster link per shop item, one
signed-in buyer per client who arrived through a share link, stock topped up), starts
gunicorn (the project's gunicorn.conf.py when there is one, else sync workers, 2 per core, as
bench_http.py) with its output in a log file, and drives it from client processes for:

1. the bare mix, half before and half after the mix: the same actions with each request
   replaced by a bare route of the same app (`/_bench/redirect` for a click, `/_bench/template`
   for everything else), no database work;
2. the mix (shares of actions): 60% `/r/<code>` as a new visitor (no cookie; the redirect is
   not followed: the landing page is its own kind below), 17% the landing page
   `/s/<slug>/p/<id>?ref=<code>`, 8% `/p/<id>`, 8% a shop page `/s/<slug>`, 4% a sharer's poster
   `/me/links/<id>/poster.jpg` (signed in), 3% checkouts: a signed-in buyer's GET of the
   checkout form and the POST that places a real order (CSRF token and all), two requests.

Prints requests, req/s, p50/p95/p99 and errors per phase and kind, where the machine's CPU
went in each phase (gunicorn, the clients, the PostgreSQL backends, everything else: other work
on a shared machine makes the throughput ratio noisy, the server CPU per request much less),
"database is locked" and tracebacks in the server log, the targets, and then checks the
database: one order per checkout answered with the redirect to pay, one click row per redirect
served. With
--database-url, that PostgreSQL database is dropped if it exists, created, and dropped at the
end. Always exits 0: a report, not a gate.
"""

import argparse
import multiprocessing
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    BARE_APP,
    GUNICORN_CONF,
    LOCATION_PAY,
    database,
    drawing_memory_mb,
    free_port,
    header,
    hidden_fields,
    http,
    keep_cookies,
    memory_line,
    prepare,
    scalar,
    start_server,
    stop_server,
    worker_memory_mb,
)

#: The first error message of a page (a field's, or a notice's).
ERROR_TEXT = re.compile(r'class="(?:field-error|notice notice-error)[^"]*"[^>]*>(.*?)</p>', re.S)

#: Actions and their shares (percent of actions, not of requests: a checkout is two).
MIX = {"click": 60, "landing": 17, "product": 8, "shop": 8, "poster": 4, "checkout": 3}
#: Kinds of request, what each answers when it went right, and its bare counterpart.
EXPECT = {
    "click": 303,
    "landing": 200,
    "product": 200,
    "shop": 200,
    "poster": 200,
    "checkout_form": 200,
    "checkout_post": 302,
    "bare_redirect": 303,
    "bare_template": 200,
}
BARE_OF = {"click": "bare_redirect"}  # every other kind: bare_template
#: The mix's throughput against the bare Flask app's mix (issue 25): SQLite, PostgreSQL.
RATIO_TARGETS = {"sqlite": 0.60, "postgresql": 0.50}
BUYER_PASSWORD = "bench-buyer-2026"
BUYER_PHONES = "1390000{:04d}"
STOCK = 1_000_000
CHECKOUT_ADDRESS = {
    "name": "王小二",
    "phone": "13912345678",
    "province": "330000",
    "city": "330100",
    "district": "330106",
    "detail": "文三路 90 号",
    "quantity": "1",
    "provider": "sandbox",
}
LOCKED = "database is locked"
#: The processes that serve requests (their CPU time per request is the server's cost).
SERVER_SIDE = ("gunicorn", "postgres", "redis")


# --- set-up ------------------------------------------------------------------------------


def extend_setup(buyers: int):
    """The part of the instance only this bench needs; runs inside common.prepare."""

    def extend(setup: dict, now) -> None:
        from sqlalchemy import func, select, update

        from shop.accounts import accounts
        from shop.catalog.models import Product, Sku
        from shop.demo import seed as demo
        from shop.platform.extensions import db
        from shop.sharing import links
        from shop.sharing.models import Channel

        # A product with specs sells from its SKUs' stock (the product's is their sum).
        db.session.execute(update(Sku).values(stock=STOCK))
        sums = (
            select(func.coalesce(func.sum(Sku.stock), 0))
            .where(Sku.product_id == Product.id, Sku.is_active.is_(True))
            .scalar_subquery()
        )
        has_skus = select(Sku.id).where(Sku.product_id == Product.id).exists()
        db.session.execute(update(Product).where(~has_skus).values(stock=STOCK))
        db.session.execute(update(Product).where(has_skus).values(stock=sums))
        setup["buyers"] = []
        for number in range(buyers):
            user = accounts.register_user(
                account=BUYER_PHONES.format(number),
                display_name=f"压测买家{number}",
                password=BUYER_PASSWORD,
                now=now,
            )
            setup["buyers"].append({"id": user.id, "account": user.phone})
        shops, sharers, checkouts = {}, {}, []
        for shop, item, link in setup["links"]:
            shops[shop.slug] = f"/s/{shop.slug}"
            poster = links.get_or_create_link(shop, item.product, Channel.POSTER, now=now)
            owner = sharers.setdefault(
                shop.user_id,
                {
                    "account": shop.user.phone,
                    "password": demo.demo_password(shop.user.phone),
                    "posters": [],
                },
            )
            owner["posters"].append(f"/me/links/{poster.id}/poster.jpg")
            checkouts.append(f"/checkout/{item.product_id}?ref={link.code}")
        setup["shops"] = list(shops.values())
        setup["direct"] = sorted({f"/p/{item.product_id}" for _s, item, _l in setup["links"]})
        setup["sharers"] = list(sharers.values())
        setup["checkouts"] = checkouts

    return extend


def sign_in(port: int, account: str, password: str) -> dict:
    """The cookies of a browser signed in through the real form."""
    cookies: dict = {}
    status, headers, body, _ = http(port, "GET", "/auth/signin", cookies=cookies)
    keep_cookies(cookies, headers)
    form = {**hidden_fields(body.decode()), "account": account, "password": password}
    status, headers, body, _ = http(
        port,
        "POST",
        "/auth/signin",
        cookies=cookies,
        body=urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    if status != 302:
        raise SystemExit(f"sign-in of {account} answered {status}")
    keep_cookies(cookies, headers)
    return cookies


def arrive(port: int, cookies: dict, code: str) -> None:
    """A buyer follows a share link first (a click and the visitor cookie the order's
    attribution reads)."""
    status, headers, _body, _ = http(port, "GET", f"/r/{code}", cookies=cookies)
    if status != 303:
        raise SystemExit(f"/r/{code} answered {status}")
    keep_cookies(cookies, headers)


# --- the clients -------------------------------------------------------------------------


class Tally:
    """What one client thread saw, per kind of request."""

    def __init__(self):
        self.latencies: dict[str, list[float]] = {kind: [] for kind in EXPECT}
        self.server_errors: Counter = Counter()
        self.other_errors: Counter = Counter()
        self.statuses: Counter = Counter()  #: (kind, unexpected status or exception)
        #: (kind, the first error message on a page answered instead of the redirect)
        self.messages: Counter = Counter()

    def record(self, kind: str, status: int, elapsed: float, ok: bool) -> None:
        if ok:
            self.latencies[kind].append(elapsed)
        elif status >= 500:
            self.server_errors[kind] += 1
            self.statuses[(kind, status)] += 1
        else:
            self.other_errors[kind] += 1
            self.statuses[(kind, status)] += 1

    def failed(self, kind: str, error: Exception) -> None:
        self.other_errors[kind] += 1
        self.statuses[(kind, type(error).__name__)] += 1

    def merge(self, other: "Tally") -> None:
        for kind, values in other.latencies.items():
            self.latencies[kind].extend(values)
        self.server_errors.update(other.server_errors)
        self.other_errors.update(other.other_errors)
        self.statuses.update(other.statuses)
        self.messages.update(other.messages)


def get(port: int, tally: Tally, kind: str, path: str, cookies: dict | None = None):
    try:
        status, headers, body, elapsed = http(port, "GET", path, cookies=cookies)
    except OSError as error:
        tally.failed(kind, error)
        return None
    tally.record(kind, status, elapsed, status == EXPECT[kind])
    return (status, headers, body) if status == EXPECT[kind] else None


def checkout(port: int, tally: Tally, path: str, cookies: dict) -> None:
    """GET the form (a fresh checkout key and the CSRF token), POST it: one order."""
    answer = get(port, tally, "checkout_form", path, cookies)
    if answer is None:
        return
    _status, headers, body = answer
    keep_cookies(cookies, headers)
    form = {**hidden_fields(body.decode("utf-8", errors="replace")), **CHECKOUT_ADDRESS}
    # Each client is one buyer standing for many: its next order of the same product within
    # CHECKOUT_REPEAT_SECONDS is a deliberate one ("order again"), not a browser's re-send.
    form["repeat"] = "1"
    try:
        status, headers, _body, elapsed = http(
            port,
            "POST",
            path.partition("?")[0],
            cookies=cookies,
            body=urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    except OSError as error:
        tally.failed("checkout_post", error)
        return
    placed = status == 302 and LOCATION_PAY.search(header(headers, "location")) is not None
    tally.record("checkout_post", status, elapsed, placed)
    if status == 200:  # the form again: say why (its first error message)
        found = ERROR_TEXT.search(_body.decode("utf-8", errors="replace"))
        message = re.sub(r"<[^>]+>|\s+", " ", found.group(1)).strip() if found else "(none)"
        tally.messages[("checkout_post", message[:120])] += 1
    keep_cookies(cookies, headers)


def act(port: int, tally: Tally, rng: random.Random, plan: dict, client: dict, bare: bool):
    action = rng.choices(plan["actions"], plan["weights"])[0]
    if bare:
        redirect, page = plan["bare_paths"]
        if action == "click":
            get(port, tally, "bare_redirect", redirect)
        else:
            for _ in range(2 if action == "checkout" else 1):
                get(port, tally, "bare_template", page)
    elif action == "click":
        get(port, tally, "click", f"/r/{rng.choice(plan['codes'])}")
    elif action == "landing":
        get(port, tally, "landing", rng.choice(plan["landings"]))
    elif action == "product":
        get(port, tally, "product", rng.choice(plan["direct"]))
    elif action == "shop":
        get(port, tally, "shop", rng.choice(plan["shops"]))
    elif action == "poster":
        sharer = rng.choice(client["sharers"])
        get(port, tally, "poster", rng.choice(sharer["posters"]), sharer["cookies"])
    else:
        checkout(port, tally, rng.choice(plan["checkouts"]), client["buyer"])


def run_clients(job: dict) -> dict:
    """One client process: a thread per client in ``job["clients"]``, acting from
    ``start_at`` (wall clock) until ``start_at + seconds``. Returns the merged tally, when
    the last thread ended (wall clock) and the CPU seconds this process used."""
    plan, port = job["plan"], job["port"]
    tallies = [Tally() for _ in job["clients"]]
    ended = [0.0] * len(job["clients"])

    def thread(index: int) -> None:
        rng = random.Random(job["seed"] * 1000 + index)
        client = job["clients"][index]
        while time.time() < job["start_at"]:
            time.sleep(0.001)
        stop = job["start_at"] + job["seconds"]
        while time.time() < stop:
            act(port, tallies[index], rng, plan, client, job["bare"])
        ended[index] = time.time()

    cpu = time.process_time()
    threads = [threading.Thread(target=thread, args=(i,)) for i in range(len(job["clients"]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    merged = Tally()
    for tally in tallies:
        merged.merge(tally)
    return {"tally": merged, "ended": max(ended), "cpu": time.process_time() - cpu}


def server_pids(master: int) -> list[int]:
    """gunicorn's master and its workers."""
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        children = []
    return [master, *map(int, children)]


def database_pids(url: str):
    """A function giving the PostgreSQL backends that serve this run's database (the server
    runs on this machine)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    query = text(
        "select pid from pg_stat_activity where datname = current_database() "
        "and pid <> pg_backend_pid()"
    )

    def pids() -> list[int]:
        with engine.connect() as conn:
            return list(conn.execute(query).scalars())

    return pids


@contextmanager
def redis_server(enabled: bool, folder: Path):
    """A private redis-server on a free port for the run ({"url", "pid"}), or None."""
    if not enabled:
        yield None
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("--redis needs redis-server on the PATH")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(folder)]
    with (folder / "redis.log").open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=log)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield {"url": f"redis://127.0.0.1:{port}/0", "pid": process.pid}
    finally:
        process.terminate()
        process.wait(10)


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of these processes so far (Linux /proc)."""
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def machine_busy() -> float:
    """CPU seconds all cores of the machine spent busy so far (not idle, not waiting on I/O):
    this server and its clients, the database server, and anything else running."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def phase(pool, jobs: list[dict], seconds: float, bare: bool, watched: dict) -> dict:
    """Run every client process's threads for ``seconds``; the merged outcome, with the CPU
    seconds used meanwhile by the machine, the clients and each ``watched`` group of
    processes (name -> a function giving their pids)."""
    start_at = time.time() + 0.5
    for job in jobs:
        job.update(start_at=start_at, seconds=seconds, bare=bare)
    before = {name: cpu_by_pid(pids()) for name, pids in watched.items()}
    while time.time() < start_at:
        time.sleep(0.001)
    machine = machine_busy()
    results = pool.map(run_clients, jobs)
    cpu = {"machine": machine_busy() - machine, "clients": sum(r["cpu"] for r in results)}
    for name, pids in watched.items():
        now = cpu_by_pid(pids())
        cpu[name] = sum(value - before[name].get(pid, 0.0) for pid, value in now.items())
    tally = Tally()
    for result in results:
        tally.merge(result["tally"])
    return {"tally": tally, "wall": max(r["ended"] for r in results) - start_at, "cpu": cpu}


def combine(first: dict, second: dict) -> dict:
    tally = Tally()
    tally.merge(first["tally"])
    tally.merge(second["tally"])
    return {
        "tally": tally,
        "wall": first["wall"] + second["wall"],
        "cpu": {name: value + second["cpu"][name] for name, value in first["cpu"].items()},
    }


# --- the report --------------------------------------------------------------------------


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def figures(latencies: list[float], wall: float, server_errors: int, other: int) -> dict:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered) + server_errors + other,
        "ok": len(ordered),
        "rps": len(ordered) / wall if wall else 0.0,
        "p50": percentile(ordered, 0.50),
        "p95": percentile(ordered, 0.95),
        "p99": percentile(ordered, 0.99),
        "5xx": server_errors,
        "other": other,
    }


def summary(result: dict) -> dict:
    """Per kind and "all" (kinds with no requests left out)."""
    tally, wall = result["tally"], result["wall"]
    rows = {}
    for kind, values in tally.latencies.items():
        errors = tally.server_errors[kind] + tally.other_errors[kind]
        if values or errors:
            rows[kind] = figures(values, wall, tally.server_errors[kind], tally.other_errors[kind])
    every = [v for values in tally.latencies.values() for v in values]
    rows["all"] = figures(
        every, wall, sum(tally.server_errors.values()), sum(tally.other_errors.values())
    )
    return rows


def print_row(label: str, row: dict, bare: dict | None = None) -> None:
    text = (
        f"{label:<22}{row['requests']:>9}{row['rps']:>9.0f}{row['p50']:>8.1f}"
        f"{row['p95']:>8.1f}{row['p99']:>8.1f}{row['5xx']:>6}{row['other']:>7}"
    )
    if bare is not None:
        text += f"   {bare['p50']:>6.1f}{bare['p95']:>7.1f}{bare['p99']:>7.1f}"
    print(text)


def log_findings(log: Path) -> dict:
    text = log.read_text(errors="replace") if log.exists() else ""
    first = text.find("Traceback")
    return {
        "locked": text.count(LOCKED),
        "tracebacks": text.count("Traceback (most recent call last)"),
        "worker_timeouts": text.count("WORKER TIMEOUT"),
        "first": "\n".join(text[first:].splitlines()[:60]) if first >= 0 else "",
    }


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# --- main --------------------------------------------------------------------------------


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="of the mix")
    parser.add_argument("--clients", type=int, default=32, help="concurrent client threads")
    parser.add_argument(
        "--processes",
        type=int,
        default=4,
        help="client processes the threads are spread over (1 gave the same figures here: "
        "the server's accept queue stays full either way)",
    )
    parser.add_argument(
        "--bare-seconds", type=float, default=None, help="of the bare mix (default seconds/4)"
    )
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of mix, unreported")
    parser.add_argument("--database-url", default=None, help="PostgreSQL (SQLite if omitted)")
    parser.add_argument(
        "--redis",
        action="store_true",
        help="count rate limits in a private redis-server started for the run (SHOP_REDIS_URL, "
        "as production with several workers), instead of in each worker's memory",
    )
    parser.add_argument(
        "--in-app-baseline",
        action="store_true",
        help="the bare mix on the shop's own bare routes (/_bench/redirect, /_bench/template: "
        "through every hook of the app) instead of a truly bare Flask app (bench/bare_app.py) "
        "under the same gunicorn settings",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the server, as SHOP_NAME (to try one: --set LINK_CACHE_SECONDS=0)",
    )
    return parser.parse_args()


def main() -> None:
    args = arguments()
    bare_seconds = args.bare_seconds if args.bare_seconds is not None else args.seconds / 4
    processes = max(1, min(args.processes, args.clients))
    workers = (os.cpu_count() or 1) * 2
    with (
        database(args.database_url, "fenxiang.sqlite3") as (url, instance),
        redis_server(args.redis, instance) as redis,
    ):
        env = {key: value for key, value in os.environ.items() if not key.startswith("SHOP_")}
        env.update(
            SHOP_DATABASE_URL=url,
            SHOP_INSTANCE_PATH=str(instance),
            # Every request here comes from 127.0.0.1; in a burst the clicks come from many
            # phones, so the per-address click limits are lifted (still evaluated).
            SHOP_CLICK_FLOOD_LIMIT="1000000 per minute",
            SHOP_CLICK_HARD_LIMIT="1000000 per minute",
        )
        if GUNICORN_CONF.exists():
            env["SHOP_REQUEST_LOG"] = "true"  # as `make serve` runs it
        if redis is not None:
            env["SHOP_REDIS_URL"] = redis["url"]
        for setting in args.set:
            name, _eq, value = setting.partition("=")
            env[f"SHOP_{name}"] = value
        for key in [key for key in os.environ if key.startswith("SHOP_")]:
            del os.environ[key]
        os.environ.update(env)  # prepare() builds the app from the same settings
        setup = prepare(extend_setup(args.clients))
        clicks_before = scalar(url, "select count(*) from clicks")
        buyer_ids = ",".join(str(b["id"]) for b in setup["buyers"])
        env["BENCH_BARE_TARGET"] = setup["products"][0]
        log = instance / "gunicorn.log"
        port = free_port()
        server = start_server(port, env, workers, log=log, use_conf=True, wait=180)
        bare_server, bare_port = None, port
        redirects = 0
        try:
            if not args.in_app_baseline:
                bare_port = free_port()
                bare_server = start_server(
                    bare_port, env, workers, log=log, use_conf=True, app=BARE_APP, wait=180
                )
            with ThreadPoolExecutor(4) as signers:
                buyers = list(
                    signers.map(
                        lambda b: sign_in(port, b["account"], BUYER_PASSWORD), setup["buyers"]
                    )
                )
                sharers = list(
                    signers.map(
                        lambda s: sign_in(port, s["account"], s["password"]), setup["sharers"]
                    )
                )
            for number, cookies in enumerate(buyers):
                arrive(port, cookies, setup["codes"][number % len(setup["codes"])])
                redirects += 1
            plan = {
                "actions": list(MIX),
                "weights": list(MIX.values()),
                "codes": setup["codes"],
                "landings": setup["products"],
                "direct": setup["direct"],
                "shops": setup["shops"],
                "checkouts": setup["checkouts"],
                "bare_paths": ("/_bench/redirect", "/_bench/template")
                if args.in_app_baseline
                else ("/redirect", "/page"),
            }
            clients = [
                {
                    "buyer": buyers[i],
                    "sharers": [
                        {"posters": s["posters"], "cookies": dict(c)}
                        for s, c in zip(setup["sharers"], sharers, strict=True)
                    ],
                }
                for i in range(args.clients)
            ]
            jobs = [
                {"port": port, "plan": plan, "seed": p, "clients": clients[p::processes]}
                for p in range(processes)
            ]
            bare_jobs = [dict(job, port=bare_port) for job in jobs]
            watched = {
                "gunicorn": lambda: (
                    server_pids(server.pid) + (server_pids(bare_server.pid) if bare_server else [])
                )
            }
            if url.startswith("postgresql"):
                watched["postgres"] = database_pids(url)
            if redis is not None:
                watched["redis"] = lambda: [redis["pid"]]
            context = multiprocessing.get_context("spawn")
            with context.Pool(processes) as pool:
                warm = phase(pool, jobs, args.warmup, False, watched)
                workers = len(server_pids(server.pid)) - 1  # as configured, all booted now
                phase(pool, bare_jobs, 1.0, True, watched)
                bare_before = phase(pool, bare_jobs, bare_seconds / 2, True, watched)
                mix = phase(pool, jobs, args.seconds, False, watched)
                bare_after = phase(pool, bare_jobs, bare_seconds / 2, True, watched)
            bare = combine(bare_before, bare_after)
            redirects += len(warm["tally"].latencies["click"])
            redirects += len(mix["tally"].latencies["click"])
            placed = len(warm["tally"].latencies["checkout_post"])
            placed += len(mix["tally"].latencies["checkout_post"])
            memory = worker_memory_mb(server.pid)
            drawing = drawing_memory_mb(server.pid)
        except BaseException:
            stop_server(server)
            if bare_server is not None:
                stop_server(bare_server)
            print(log.read_text(errors="replace")[-6000:], file=sys.stderr)
            raise
        stop_server(server)  # SIGTERM: the click writers flush what they queued
        if bare_server is not None:
            stop_server(bare_server)
        clicks_stored = scalar(url, "select count(*) from clicks") - clicks_before
        orders_stored = scalar(url, f"select count(*) from orders where buyer_id in ({buyer_ids})")
        findings = log_findings(log)
        report(args, processes, workers, url, bare_seconds, bare, mix, findings)
        print(memory_line(memory, drawing=drawing))
        warm_rows = summary(warm)["all"]
        print(
            f"warm-up ({args.warmup:g} s of mix, not in the table): {warm_rows['requests']} "
            f"requests, {warm_rows['5xx']} 5xx, {warm_rows['other']} other errors"
        )
        print(
            f"database: {placed} checkouts answered with the redirect to pay, {orders_stored} "
            f"orders stored ({'equal' if placed == orders_stored else 'DIFFERENT'}); "
            f"{redirects} redirects served, {clicks_stored} click rows stored "
            f"({'equal' if redirects == clicks_stored else 'DIFFERENT'})"
        )
        if findings["first"]:
            print("first traceback in the server log:")
            print(findings["first"])


def report(args, processes, workers, url, bare_seconds, bare, mix, findings) -> None:
    profile = (
        f"-c {GUNICORN_CONF.name} ({workers} workers)"
        if GUNICORN_CONF.exists()
        else f"sync x{workers} workers (no gunicorn.conf.py: bench_http.py's command)"
    )
    kind = "PostgreSQL" if url.startswith("postgresql") else "SQLite (WAL)"
    limits = "Redis" if args.redis else "each worker's memory"
    baseline = "the app's own bare routes" if args.in_app_baseline else "a bare Flask app"
    print(
        f"Load bench {date.today()}: gunicorn {profile}, {kind}, rate limits in {limits}, "
        f"bare mix on {baseline}; "
        f"{args.clients} clients in {processes} processes, one connection per request; "
        f"{os.cpu_count()} cores"
    )
    print(
        f"mix {args.seconds:g} s between two halves of the bare mix ({bare_seconds:g} s); "
        f"latencies of answers that went right"
        + "".join(f"; SHOP_{setting}" for setting in args.set)
    )
    bare_rows, mix_rows = summary(bare), summary(mix)
    print(
        f"{'phase / kind':<22}{'requests':>9}{'req/s':>9}{'p50':>8}{'p95':>8}{'p99':>8}"
        f"{'5xx':>6}{'other':>7}   bare p50/p95/p99 ms"
    )
    for name, row in bare_rows.items():
        print_row(f"bare {name}", row)
    for name, row in mix_rows.items():
        counterpart = "all" if name == "all" else BARE_OF.get(name, "bare_template")
        print_row(f"mix {name}", row, bare_rows.get(counterpart))
    cost, others = {}, {}
    for label, result, rows in (("bare", bare, bare_rows), ("mix", mix, mix_rows)):
        cores = {name: value / result["wall"] for name, value in result["cpu"].items()}
        rest = cores["machine"] - sum(v for name, v in cores.items() if name != "machine")
        served = max(rows["all"]["ok"], 1) / 1000
        parts = {name: result["cpu"][name] / served for name in SERVER_SIDE if name in cores}
        cost[label] = sum(parts.values())
        others[label] = rest
        print(
            f"CPU during {label}, cores busy: {cores['machine']:.2f} of {os.cpu_count()}: "
            + ", ".join(f"{name} {v:.2f}" for name, v in cores.items() if name != "machine")
            + f", everything else on the machine {rest:.2f}; server CPU per request "
            f"{cost[label]:.2f} ms"
            + (
                " (" + ", ".join(f"{name} {v:.2f}" for name, v in parts.items()) + ")"
                if len(parts) > 1
                else ""
            )
        )
    if abs(others["mix"] - others["bare"]) > 0.2:
        print(
            "  other work on the machine changed between the phases: the throughput ratio "
            "below is unreliable, the one from server CPU per request less so"
        )
    odd = mix["tally"].statuses + bare["tally"].statuses
    if odd:
        print("unexpected answers (kind, status): " + ", ".join(
            f"{k[0]} {k[1]} x{n}" for k, n in odd.most_common(12)
        ))  # fmt: skip
    for (kind, message), count in (mix["tally"].messages + bare["tally"].messages).items():
        print(f"  {kind} answered with the form again x{count}: {message}")
    print(
        f"server log: {findings['locked']} '{LOCKED}', {findings['tracebacks']} tracebacks, "
        f"{findings['worker_timeouts']} worker timeouts"
    )
    ratio = mix_rows["all"]["rps"] / bare_rows["all"]["rps"] if bare_rows["all"]["rps"] else 0
    server_errors = mix_rows["all"]["5xx"] + bare_rows["all"]["5xx"]  # the warm-up's: below
    target = RATIO_TARGETS["postgresql" if url.startswith("postgresql") else "sqlite"]
    print(f"{'target':<44}{'measured':>12}  result")
    print(
        f"{'mix throughput vs the bare mix >= ' + format(target, '.0%'):<44}"
        f"{ratio:>11.2f}x  {verdict(ratio >= target)}"
    )
    print(
        f"{'  the same from server CPU per request':<44}{cost['bare'] / cost['mix']:>11.2f}x  "
        "(less sensitive to other work on the machine)"
    )
    print(f"{'zero 5xx':<44}{server_errors:>12}  {verdict(server_errors == 0)}")
    print(
        f"{'zero ' + repr(LOCKED) + ' in the server log':<44}{findings['locked']:>12}  "
        f"{verdict(findings['locked'] == 0)}"
    )


if __name__ == "__main__":
    main()
