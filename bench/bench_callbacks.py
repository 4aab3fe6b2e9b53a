"""Callback benchmark: verified WeChat Pay (API v3) payment callbacks against a truly bare Flask
POST route that writes the same payment row, both under the project's gunicorn.conf.py (as
`make serve` runs it, request log on), driven by wrk with a Lua script, in interleaved rounds.
The shop runs as production does: gunicorn and ``flask worker`` beside it (the callback is
answered once its outbox row is committed; the worker pays the order).

    .venv/bin/python bench/bench_callbacks.py [--rounds 5] [--seconds 5] [--connections 8]
                                              [--threads 2] [--profile 300]

Sets up its own instance (SQLite in a temporary folder, demo data, WeChat Pay configured with
keys made for the run) and, before each round, as many placed WeChat Pay orders as the round
can use (each attributed to a sharer, so paying it estimates a rebate and stores the split).
Each callback is for a distinct order and is made as WeChat Pay makes it: the event JSON with
the trade AEAD_AES_256_GCM-encrypted under the APIv3 key, signed (SHA256withRSA) with the
platform key just before its round. The shop verifies the signature with WeChat Pay's public
key, decrypts, writes one outbox row and answers 204; ``flask worker`` then pays the order (the
payment row, the paid transition, rebate estimate, split, merchant entry, rollups). Every
answer must be 204 and every callback exactly one ``paid`` row. The drain is the time from the
end of a round until the worker has applied every callback of it.

Two shop cases per round: ``wechat_callback`` with the worker running during the load (it
takes CPU and the write lock from the web workers, as in production), and
``callback_no_worker`` with the worker stopped during the load and started when it ends (its
drain includes the worker's start-up, printed apart): the difference in answers per second is
the worker's share.

The baseline (bench/bare_callback_app.py) is Flask alone: the decrypted trade as plain JSON,
one INSERT of the same payment_events row into the same database. Every case runs once per
round, the order alternating, and the table gives medians with the per-round range. Then, in
one process (Flask's test client), where a callback's CPU goes: signature check, decryption,
the whole request (the answer), and the worker's apply. Exits 0 with a report (not a gate);
1 when wrk is missing.
"""

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import free_port, prepare, start_server, stop_server  # noqa: E402

BARE_APP = "bench.bare_callback_app:app"
SHOP_APP = "wsgi:app"
NOTIFY = "/payments/wechatpay/notify"
TARGET = 0.5
MCHID, APPID, KEY_ID = "1900000109", "wx8888888888888888", "PUB_KEY_ID_0100000000000000000"
APIV3_KEY = "0123456789abcdef0123456789abcdef"
WRK_MISSING = (
    "wrk is not installed; this benchmark needs it as its load generator "
    "(a Python client is slower than the server it measures). On Debian or Ubuntu:\n"
    "    sudo apt-get install wrk"
)
START = 180.0
#: A round gets this many times the requests its warm-up rate says it could serve.
HEADROOM = 3.0
#: Requests per Lua function in a wrk script.
CHUNK = 5000
#: The bare app's rows point at orders of this pool (its rows are not payments of them).
BARE_ORDERS = 500
CHINA = timezone(timedelta(hours=8))
CASES = ("bare", "shop", "shop_paused")
LABELS = {"bare": "bare_insert", "shop": "wechat_callback", "shop_paused": "callback_no_worker"}
SUFFIX = {"shop": " (worker running)", "shop_paused": " (worker stopped)"}


def rsa_pems() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()  # fmt: skip
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


class Platform:
    """WeChat Pay's side of a callback, as documented: sign with the platform key, encrypt the
    resource with the merchant's APIv3 key."""

    def __init__(self, private_pem: str):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.key = serialization.load_pem_private_key(private_pem.encode(), password=None)
        self.aead = AESGCM(APIV3_KEY.encode())

    @staticmethod
    def trade(order_number: str, total: int) -> dict:
        """The paid trade as WeChat Pay describes it (the resource, before encryption)."""
        china = datetime.now(UTC).astimezone(CHINA)
        return {
            "appid": APPID,
            "mchid": MCHID,
            "out_trade_no": order_number,
            "transaction_id": "4200" + secrets.token_hex(12),
            "trade_type": "JSAPI",
            "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功",
            "bank_type": "OTHERS",
            "success_time": china.isoformat(timespec="seconds"),
            "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
            "amount": {"total": total, "payer_total": total, "currency": "CNY",
                       "payer_currency": "CNY"},
        }  # fmt: skip

    def callback(self, order_number: str, total: int) -> tuple[dict, bytes, dict]:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        trade = self.trade(order_number, total)
        nonce = secrets.token_hex(6)
        sealed = self.aead.encrypt(
            nonce.encode(), json.dumps(trade, ensure_ascii=False).encode(), b"transaction"
        )
        event = {
            "id": secrets.token_hex(18),
            "create_time": trade["success_time"],
            "resource_type": "encrypt-resource",
            "event_type": "TRANSACTION.SUCCESS",
            "summary": "支付成功",
            "resource": {
                "original_type": "transaction",
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(sealed).decode(),
                "associated_data": "transaction",
                "nonce": nonce,
            },
        }
        body = json.dumps(event, ensure_ascii=False).encode()
        stamp, sign_nonce = str(int(time.time())), secrets.token_hex(16)
        message = f"{stamp}\n{sign_nonce}\n".encode() + body + b"\n"
        signature = self.key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        headers = {
            "Content-Type": "application/json",
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": sign_nonce,
            "Wechatpay-Signature": base64.b64encode(signature).decode(),
            "Wechatpay-Serial": KEY_ID,
        }
        return headers, body, trade


# --- orders ------------------------------------------------------------------------------


def order_factory(app):
    """``make(count)``: that many new placed WeChat Pay orders, each attributed to a demo
    sharer's link, as [(id, number, total)]."""
    from sqlalchemy import insert, select

    from shop.accounts.models import User
    from shop.orders.models import Order, OrderItem, OrderStatus
    from shop.platform.extensions import db
    from shop.sharing.models import ShareLink

    with app.app_context():
        link = db.session.execute(
            select(ShareLink).where(ShareLink.product_id.is_not(None)).order_by(ShareLink.id)
        ).scalars().first()  # fmt: skip
        product = link.product
        sharer_id = link.shop.user_id
        buyer_id = db.session.execute(
            select(User.id).where(User.id != sharer_id).order_by(User.id)
        ).scalars().first()  # fmt: skip
        fixed = {
            "product": (product.id, product.title[:120], product.price_cents, product.rebate_bps),
            "merchant_id": product.merchant_id,
            "sharer_id": sharer_id,
            "link_id": link.id,
            "buyer_id": buyer_id,
        }
        db.session.rollback()
    made = [0]

    def make(count: int) -> list[tuple[int, str, int]]:
        product_id, title, price, rebate_bps = fixed["product"]
        now = datetime.now(UTC).replace(tzinfo=None)
        run = secrets.token_hex(3)
        rows = []
        for _ in range(count):
            made[0] += 1
            rows.append({
                "number": f"BC{run}{made[0]:09d}",
                "buyer_id": fixed["buyer_id"], "merchant_id": fixed["merchant_id"],
                "checkout_key": f"bench-{run}-{made[0]}", "status": OrderStatus.PLACED,
                "total_cents": price, "goods_cents": price, "shipping_cents": 0,
                "discount_cents": 0, "ship_name": "王小二", "ship_phone": "13912345678",
                "ship_region": "浙江省 杭州市 西湖区", "ship_detail": "文三路 90 号",
                "payment_provider": "wechatpay", "attribution_reason": "attributed",
                "sharer_id": fixed["sharer_id"], "link_id": fixed["link_id"],
                "click_lag_seconds": 60, "attribution_others": {}, "placed_at": now,
                "pay_deadline": now + timedelta(minutes=30),
            })  # fmt: skip
        with app.app_context():
            db.session.execute(insert(Order), rows)
            numbers = [row["number"] for row in rows]
            found = db.session.execute(
                select(Order.id, Order.number, Order.total_cents).where(Order.number.in_(numbers))
            ).all()
            db.session.execute(
                insert(OrderItem),
                [
                    {"order_id": order_id, "product_id": product_id, "title": title,
                     "unit_price_cents": price, "quantity": 1, "rebate_bps": rebate_bps,
                     "rebate_cents": price * rebate_bps // 10_000}
                    for order_id, _number, _total in found
                ],
            )  # fmt: skip
            db.session.commit()
        return [tuple(row) for row in found]

    return make


# --- wrk ---------------------------------------------------------------------------------


def _lua_string(text: str) -> str:
    level = "=" * 3
    while f"]{level}]" in text:
        level += "="
    return f"[{level}[{text}]{level}]"


def wrk_script(path: Path, requests: list[tuple[str, dict, bytes]], threads: int) -> Path:
    """A wrk Lua script that sends each request once: thread k of n sends requests k, k+n, …;
    one that runs out asks for ``/healthz`` (answered 200, so never a non-2xx), notes it
    ran out and stops. After the run it writes a line per status of the answers that were
    not 2xx (``status 404: 1``) and one per thread that ran out (``ran out``)."""
    # A Lua function holds at most 65536 constants: the requests are made in chunks, each in a
    # function of its own (the semicolons keep "(function" from reading as a call).
    lines = ["local reqs = {};"]
    for number, (target, headers, body) in enumerate(requests):
        if number % CHUNK == 0:
            if number:
                lines.append("end)();")
            lines.append("(function()")
        table = ", ".join(f"[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items())
        lines.append(
            f'reqs[#reqs + 1] = wrk.format("POST", "{target}", {{{table}}}, '
            f"{_lua_string(body.decode())})"
        )
    if requests:
        lines.append("end)();")
    lines += [
        'local spent = wrk.format("GET", "/healthz")',
        # wrk starts each thread as soon as setup() has run for it, so the thread count is
        # written here rather than counted in setup().
        f"local step, number, i = {threads}, 0, 0",
        "local threads = {}",
        "statuses = {}",  # per thread: status -> answers that were not 2xx
        "ran_out = 0",
        "function setup(thread)",
        "  number = number + 1",
        '  thread:set("id", number)',
        "  threads[#threads + 1] = thread",
        "end",
        "function request()",
        "  local n = id + i * step",
        "  i = i + 1",
        "  if n > #reqs then",
        "    ran_out = 1",
        "    return spent",
        "  end",
        "  return reqs[n]",
        "end",
        "function response(status, headers, body)",
        "  if status < 200 or status > 299 then",
        "    statuses[status] = (statuses[status] or 0) + 1",
        "  end",
        "  if id + (i - 1) * step > #reqs then wrk.thread:stop() end",
        "end",
        # After the run: which statuses the answers that were not 2xx had (one line each).
        "function done(summary, latency, requests)",
        "  for _, thread in ipairs(threads) do",
        '    if thread:get("ran_out") == 1 then io.write("ran out\\n") end',
        '    for status, n in pairs(thread:get("statuses")) do',
        '      io.write(string.format("status %d: %d\\n", status, n))',
        "    end",
        "  end",
        "end",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_wrk(port: int, script: Path, seconds: float, connections: int, threads: int) -> dict:
    from bench.bench_http import parse_wrk

    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency",
        "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}/",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    if done.stderr.strip():  # a script error: wrk would go on with GET / instead
        raise RuntimeError(f"wrk: {done.stderr.strip()[:2000]}")
    result = parse_wrk(done.stdout)
    result["statuses"] = {}
    result["ran_out"] = bool(re.search(r"^ran out$", done.stdout, re.MULTILINE))
    for status, n in re.findall(r"^status (\d+): (\d+)$", done.stdout, re.MULTILINE):
        result["statuses"][int(status)] = result["statuses"].get(int(status), 0) + int(n)
    return result


def spread(values: list[float], fmt: str) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{format(mid, fmt)} ({format(low, fmt)}-{format(high, fmt)})"


def _statuses(rounds: list[dict]) -> str:
    found: dict[int, int] = {}
    for result in rounds:
        for status, n in result["statuses"].items():
            found[status] = found.get(status, 0) + n
    return ", ".join(f"{status} x{n}" for status, n in sorted(found.items())) or "none"


def recorded(database: Path) -> dict[str, int]:
    """The callbacks' outbox rows: all of them, those not yet applied, those with an error."""
    import sqlite3

    with sqlite3.connect(database) as conn:
        total, due, failed = conn.execute(
            "select count(*), coalesce(sum(done_at is null), 0), "
            "coalesce(sum(last_error != ''), 0) from outbox where topic = 'payment'"
        ).fetchone()
    return {"total": total, "due": due, "failed": failed}


def drain(database: Path, since: float, limit: float = 900.0) -> float:
    """Seconds from ``since`` (the end of a round) until no callback waits for the worker."""
    while recorded(database)["due"]:
        if time.monotonic() - since > limit:
            raise SystemExit(f"the worker did not apply the callbacks in {limit:g} s")
        time.sleep(0.02)
    return time.monotonic() - since


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of process ``pid`` and its live children (gunicorn's workers),
    from /proc; 0 where /proc is missing."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        names = os.listdir("/proc")
    except OSError:
        return 0.0
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


class Worker:
    """``flask worker`` beside gunicorn, as `make run` and docs/production.md run it."""

    def __init__(self, env: dict, log: Path):
        self.env = {**env, "FLASK_APP": "wsgi.py"}
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> float:
        """Start it; returns the seconds until it said it started (its start-up)."""
        begin = time.monotonic()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(ROOT / ".venv" / "bin" / "flask"), "worker"],
                cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=log, text=True,
            )  # fmt: skip
        line = self.process.stdout.readline()
        if "Worker started" not in line:
            raise SystemExit(f"flask worker did not start: {line!r}")
        return time.monotonic() - begin

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: it finishes the batch in hand
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


def payment_rows(database: Path) -> dict[str, int]:
    """The shop's payment rows (the bare app's event ids start with "bare")."""
    import sqlite3

    with sqlite3.connect(database) as conn:
        rows = conn.execute(
            "select outcome = 'paid', count(*) from payment_events "
            "where event_id not like 'bare%' group by 1"
        ).fetchall()
    found = {bool(paid): n for paid, n in rows}
    return {"paid": found.get(True, 0), "other": found.get(False, 0)}


# --- one process: where a callback's CPU goes ------------------------------------------------


def profile_in_process(app, platform: Platform, make, count: int) -> dict:
    from shop.orders.gateways import providers

    adapter = providers.for_app(app)["wechatpay"]
    calls = [platform.callback(number, total)[:2] for _id, number, total in make(count)]
    out = {}
    begin = time.process_time()
    for headers, body in calls:
        adapter.verify(headers, body)
    out["verify"] = (time.process_time() - begin) / count * 1000
    resources = [json.loads(body)["resource"] for _headers, body in calls]
    begin = time.process_time()
    for resource in resources:
        adapter.decrypt(resource)
    out["decrypt"] = (time.process_time() - begin) / count * 1000
    client = app.test_client()
    begin = time.process_time()
    statuses = [client.post(NOTIFY, data=body, headers=h).status_code for h, body in calls]
    out["request"] = (time.process_time() - begin) / count * 1000
    out["ok"] = statuses.count(204) == count
    from shop.platform import outbox
    from shop.platform.extensions import db

    with app.app_context():
        begin = time.process_time()
        while outbox.process_batch():  # the worker's outbox loop: payments, then their notices
            pass
        out["apply"] = (time.process_time() - begin) / count * 1000
        db.session.remove()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", type=int, default=300, help="callbacks timed in-process")
    parser.add_argument("--keep", type=Path, help="use (and keep) this empty folder")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print(WRK_MISSING, file=sys.stderr)
        return 1

    merchant_private, _merchant_public = rsa_pems()
    platform_private, platform_public = rsa_pems()
    platform = Platform(platform_private)
    with tempfile.TemporaryDirectory() as tmp:
        instance = args.keep or Path(tmp)
        database = instance / "fenxiang.sqlite3"
        env = dict(os.environ)
        for name in ("SHOP_REDIS_URL", "SHOP_RATELIMIT_STORAGE_URI", "SHOP_DATABASE_URL"):
            env.pop(name, None)
        env.update(
            SHOP_INSTANCE_PATH=str(instance),
            SHOP_REQUEST_LOG="true",  # as `make serve` runs it
            SHOP_PUBLIC_BASE_URL="https://shop.example.cn",
            SHOP_WECHATPAY_MCHID=MCHID,
            SHOP_WECHATPAY_APPID=APPID,
            SHOP_WECHATPAY_SERIAL_NO="MERCHANT_SERIAL_1",
            SHOP_WECHATPAY_PRIVATE_KEY=merchant_private,
            SHOP_WECHATPAY_APIV3_KEY=APIV3_KEY,
            SHOP_WECHATPAY_PUBLIC_KEY=platform_public,
            SHOP_WECHATPAY_PUBLIC_KEY_ID=KEY_ID,
            BENCH_BARE_DATABASE=str(database),
        )
        os.environ.update(env)
        prepare()
        from shop import create_app

        app = create_app()
        make = order_factory(app)
        log = instance / "gunicorn.log"
        worker = Worker(env, instance / "worker.log")
        servers = {}
        try:
            for name, target in (("bare", BARE_APP), ("shop", SHOP_APP)):
                port = free_port()
                server = start_server(port, env, 0, log=log, use_conf=True, app=target, wait=START)
                servers[name] = (server, port)
            servers["shop_paused"] = servers["shop"]
            worker.start()

            pool = make(BARE_ORDERS)
            seeded = payment_rows(database)  # the demo's own payments, before any callback

            def requests_for(case: str, count: int) -> list[tuple[str, dict, bytes]]:
                made = []
                if case == "bare":
                    orders = [pool[n % len(pool)] for n in range(count)]
                else:
                    orders = make(count)
                for order_id, number, total in orders:
                    if case != "bare":
                        headers, body, _trade = platform.callback(number, total)
                        made.append((NOTIFY, headers, body))
                    else:
                        trade = platform.trade(number, total)
                        trade["transaction_id"] = "bare" + trade["transaction_id"]
                        plain = json.dumps({**trade, "order_id": order_id}, ensure_ascii=False)
                        made.append(("/notify", {"Content-Type": "application/json"},
                                     plain.encode()))  # fmt: skip
                return made

            def one(case: str, count: int, seconds: float) -> dict:
                made = requests_for(case, count)
                script = wrk_script(instance / f"{case}.lua", made, args.threads)
                before = recorded(database)["total"], payment_rows(database)["paid"]
                if case == "shop_paused":
                    worker.stop()
                pids = [servers[case][0].pid] + ([worker.process.pid] if worker.process else [])
                cpu = [cpu_seconds(pid) for pid in pids]
                result = run_wrk(servers[case][1], script, seconds, args.connections, args.threads)
                ended = time.monotonic()
                cpu = [cpu_seconds(pid) - was for pid, was in zip(pids, cpu, strict=True)]
                answers = max(1, result["requests"])
                result["server_cpu"] = cpu[0] / answers * 1000
                result["worker_cpu"] = (cpu[1] / answers * 1000) if len(cpu) > 1 else 0.0
                result["offered"] = count
                result["exhausted"] = result["ran_out"]
                if case != "bare":
                    result["startup"] = worker.start() if case == "shop_paused" else 0.0
                    result["drain"] = drain(database, ended)
                    after = recorded(database)["total"], payment_rows(database)["paid"]
                    # Every callback the round recorded paid its own order, once.
                    result["recorded"] = after[0] - before[0]
                    result["paid"] = after[1] - before[1]
                return result

            # Warm every worker; the warm-up's rate sizes each round's supply of callbacks.
            rates, warm_answered = {}, 0
            for case in ("bare", "shop"):
                # wrk's rate is answers over the whole -d: a warm-up that ran out gives a floor.
                warm = one(case, 400 if case == "shop" else 20_000, 2)
                rates[case] = max(warm["rps"], 50.0)
                if case == "shop":
                    warm_answered = warm["requests"] - warm["bad_status"]
            # The warm-up's 400 callbacks run out within it (its rate is a floor), and without
            # the worker the answers come faster: rounds sized by that rate alone ran out of
            # callbacks (their thread's last request then got a 404 wrk could count), so the
            # bare rate sets a floor too.
            # With the worker yielding to a burst (outbox.next_pause) a callback round runs at
            # about the bare rate whether the worker runs or not: size both from it at least.
            rates["shop"] = max(rates["shop"], rates["bare"])
            rates["shop_paused"] = rates["shop"]
            results: dict[str, list[dict]] = {case: [] for case in CASES}
            for number in range(args.rounds):
                order = CASES if number % 2 == 0 else CASES[::-1]
                for case in order:
                    count = int(rates[case] * args.seconds * HEADROOM) + 200
                    result = one(case, count, args.seconds)
                    rates[case] = max(rates[case], result["rps"])
                    results[case].append(result)
                    # As it goes (the table comes at the end, after long drains).
                    drained = f", drained in {result['drain']:.1f} s" if case != "bare" else ""
                    print(
                        f"round {number + 1} {case}: {result['rps']:.0f} req/s, "
                        f"p99 {result['p99']:.1f} ms{drained}",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            worker.stop()
            for server, _port in {id(s): s for s in servers.values()}.values():
                stop_server(server)
        rows = payment_rows(database)
        rows = {key: rows[key] - seeded[key] for key in rows}
        inbox = recorded(database)
        server_log = log.read_text(errors="replace")
        worker_log = (instance / "worker.log").read_text(errors="replace")
        profile = profile_in_process(app, platform, make, args.profile) if args.profile else {}

    print(
        f"Callback bench: wrk -t{args.threads} -c{args.connections}, gunicorn.conf.py "
        f"(sync workers, request log on) and flask worker, SQLite (WAL); {args.rounds} "
        f"interleaved rounds x {args.seconds:g} s per case; median (min-max over rounds); each "
        "callback for a distinct order"
    )
    print(f"{'case':<20}{'req/s':>22}{'p50 ms':>22}{'p99 ms':>24}{'non-2xx':>8}{'drain s':>22}")
    for case, rounds in results.items():
        errors = sum(r["bad_status"] for r in rounds)
        drained = spread([r["drain"] for r in rounds], ".1f") if case != "bare" else "-"
        print(
            f"{LABELS[case]:<20}{spread([r['rps'] for r in rounds], '.0f'):>22}"
            f"{spread([r['p50'] for r in rounds], '.2f'):>22}"
            f"{spread([r['p99'] for r in rounds], '.2f'):>24}{errors:>8}{drained:>22}"
        )
    print(
        "socket errors (wrk's connect, read, write and timeout; every callback is still "
        "checked below): "
        + ", ".join(
            f"{LABELS[case]} {sum(r['socket_errors'] for r in rounds)}"
            for case, rounds in results.items()
        )
    )
    print(
        "statuses of the answers that were not 2xx (wrk's response hook): "
        + ", ".join(f"{LABELS[case]} {_statuses(rounds)}" for case, rounds in results.items())
    )
    odd = [
        line for line in server_log.splitlines()
        if '"request_id"' in line and not re.search(r'"status": 2\d\d,', line)
    ]  # fmt: skip
    print(f"request-log lines of the servers that are not 2xx: {len(odd)}")
    for line in odd[:5]:
        print(f"  {line[:300]}")
    print()
    verdict = "-"
    for case in ("shop", "shop_paused"):
        pairs = list(zip(results[case], results["bare"], strict=True))
        ratios = [s["rps"] / b["rps"] for s, b in pairs]
        tails = [s["p99"] / b["p99"] for s, b in pairs if b["p99"]]
        verdict = "PASS" if statistics.median(ratios) >= TARGET else "MISS"
        print(f"{'callback throughput vs bare' + SUFFIX[case]:<48}{spread(ratios, '.2f') + 'x':>22}"
              f"{'>= ' + str(TARGET):>8}  {verdict}")  # fmt: skip
        print(f"{'  p99 vs bare' + SUFFIX[case]:<48}{spread(tails, '.1f') + 'x':>22}")
        drains = [r["drain"] for r in results[case]]
        line = f"{'  drain after the round' + SUFFIX[case]:<48}{spread(drains, '.1f') + ' s':>22}"
        if case == "shop_paused":
            startups = spread([r["startup"] for r in results[case]], ".1f")
            line += f"  (of which the worker's start-up {startups} s)"
        print(line)
    print(
        "CPU ms per answer during the load (gunicorn's processes; flask worker's): "
        + "; ".join(
            f"{LABELS[case]} {spread([r['server_cpu'] for r in rounds], '.2f')}"
            + (f" + worker {spread([r['worker_cpu'] for r in rounds], '.2f')}"
               if case == "shop" else "")
            for case, rounds in results.items()
        )
    )  # fmt: skip
    exhausted = sum(r["exhausted"] for rounds in results.values() for r in rounds)
    which = ", ".join(
        f"{LABELS[case]} {sum(r['exhausted'] for r in rounds)}" for case, rounds in results.items()
    )
    print(f"rounds that ran out of prepared callbacks: {exhausted} ({which})")
    shop_rounds = results["shop"] + results["shop_paused"]
    answered = warm_answered + sum(r["requests"] - r["bad_status"] for r in shop_rounds)
    # wrk leaves out answers still on their way when its time is up: paid >= answered.
    per_round = all(r["paid"] == r["recorded"] for r in shop_rounds)
    fine = (
        rows["paid"] >= answered and not rows["other"] and per_round
        and rows["paid"] == inbox["total"] and not inbox["due"] and not inbox["failed"]
    )  # fmt: skip
    print(
        f"callbacks answered 204 (warm-up and rounds): {answered}; recorded: {inbox['total']}; "
        f"orders paid by the worker: {rows['paid']}; other outcomes: {rows['other']}; "
        f"failed rows: {inbox['failed']} ({'none lost' if fine else 'MISMATCH'})"
    )
    if profile:
        print(
            f"in one process (CPU ms per callback, {args.profile} callbacks): signature check "
            f"{profile['verify']:.3f}, decryption {profile['decrypt']:.3f}, whole request "
            f"{profile['request']:.2f} ({'all 204' if profile['ok'] else 'NOT ALL 204'}), "
            f"worker's apply {profile['apply']:.2f}"
        )
    worker_errors = worker_log.count("Traceback")
    print(
        f"worker log: {worker_errors} tracebacks, {worker_log.count('database is locked')} locked"
    )
    tracebacks = server_log.count("Traceback")
    print(f"server log: {tracebacks} tracebacks, {server_log.count('database is locked')} locked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
