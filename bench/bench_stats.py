"""Stats benchmark: the heaviest sharer's 30-day funnel from the daily rollups against the same
numbers from the raw clicks, the cost of keeping the rollups as clicks are written, and the
stats page and the admin overview against a bare page of the same app, in one run.

    .venv/bin/python bench/bench_stats.py [--clicks 1000000] [--orders 20000] [--rounds 7]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:54329/bench_stats]

SQLite in a temporary folder by default. With --database-url, the PostgreSQL database it names
is dropped if it exists, created, migrated and dropped again at the end (names starting with
"shop_test" are refused: those belong to the test suite). The data is generated with bulk Core
inserts (COPY on PostgreSQL), not the services, and the rollups are built by
``rollup.recount`` and ``sales.recount``, as ``flask rollup`` does. Cases run interleaved so
drift in machine load hits every case alike. Always exits 0: a report, not a gate.

The pages are measured as served, and also as a first view: the app keeps the sums of the
China days that have ended for 10 minutes per process and reads today's rows on every view, so
the first view of a period sums every day and the views after it only today's. Within the
first five minutes after midnight China time every view sums every day (late click batches).
"""

import argparse
import gc
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout, not an install

from flask import render_template_string  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

from bench.common import database  # noqa: E402
from shop import create_app  # noqa: E402
from shop.accounts import accounts  # noqa: E402
from shop.accounts.models import User  # noqa: E402
from shop.catalog.models import Category, Merchant, Product  # noqa: E402
from shop.insights import stats  # noqa: E402
from shop.money import sales  # noqa: E402
from shop.money.models import LedgerEntry  # noqa: E402
from shop.orders.models import Order, OrderItem  # noqa: E402
from shop.platform import db as dbsetup  # noqa: E402
from shop.platform.extensions import db, passwords  # noqa: E402
from shop.sharing import rollup  # noqa: E402
from shop.sharing.models import Click, ClickDay, ShareLink, SharerVisitor, Shop, ShopItem  # noqa: E402

DAYS = 60
PERIOD_DAYS = 30
HEAVY_SHARERS = 3
HEAVY_SHARE = 0.20  #: of all clicks, each
TAIL_SHARERS = 2_000
BUYERS = 5_000
MERCHANTS = 20
PRODUCTS_PER_MERCHANT = 10
CHUNK = 50_000
#: The click writer's batch size (clicks.ClickWriter).
WRITER_BATCH = 500
CHANNELS = ("wechat_group", "moments", "poster")
#: Counted clicks per visitor over the DAYS days: a sharer's clicks come from an audience of
#: about clicks / CLICKS_PER_VISITOR people (their groups and friends), except a share
#: SHARED_VISITORS from visitors of the whole platform.
CLICKS_PER_VISITOR = 4
SHARED_VISITORS = 0.1
UA_FAMILIES = ("wechat", "ios", "android", "qq", "desktop", "other")
UA_WEIGHTS = (60, 15, 15, 5, 4, 1)
#: Uncounted clicks: ~10% of all, as reason -> share of all clicks.
UNCOUNTED = {"bot": 0.05, "duplicate": 0.035, "flood": 0.01, "head": 0.003, "prefetch": 0.002}
#: Order statuses and their shares.
STATUSES = {
    "placed": 0.06,
    "cancelled": 0.10,
    "paid": 0.14,
    "shipped": 0.15,
    "completed": 0.48,
    "refund_requested": 0.02,
    "refunded": 0.05,
}
TARGETS = {"funnel": 0.05, "maintenance": 3.0, "page": 3.0}
#: The index-only variant: every column the raw funnel reads, after the link and the time.
COVERING = "link_id, clicked_at, uncounted_reason, is_scan, visitor_id"
#: The same bare page as bench/bench_app.py's /_bench/template: base.html, no database work.
BARE_PAGE = '{% extends "base.html" %}{% block content %}<p>{{ text }}</p>{% endblock %}'


@dataclass
class World:
    """Ids of what was generated, for the click, order and request generators."""

    now: datetime
    admin_id: int = 0
    sharer_ids: list[int] = field(default_factory=list)
    sharer_weights: list[float] = field(default_factory=list)
    #: Per sharer (by index): the ids of their links, repeated by weight.
    link_pool: list[list[int]] = field(default_factory=list)
    link_sharer: dict[int, int] = field(default_factory=dict)
    link_channel: dict[int, str] = field(default_factory=dict)
    link_product: dict[int, int | None] = field(default_factory=dict)
    shop_products: dict[int, list[int]] = field(default_factory=dict)  #: sharer -> products
    buyer_ids: list[int] = field(default_factory=list)
    products: dict[int, tuple[int, int, int]] = field(default_factory=dict)  #: merchant, price, bps
    next_click_id: int = 1


# --- database set-up ---------------------------------------------------------------------


def build_app(url: str, instance: Path):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": "bench-stats",
            "SQLALCHEMY_ENGINE_OPTIONS": {},
            # Every page request computes its numbers (the app keeps them 30 s otherwise,
            # so the chart image that follows a page reuses them). The sums of ended days stay
            # kept as the app keeps them (STATS_PAST_DAYS_SECONDS, OVERVIEW_PAST_DAYS_SECONDS):
            # a repeat view reads today's rows; the "first view" cases drop them before each
            # request and so sum every day.
            "STATS_CACHE_SECONDS": 0,
            "CREDIT_CACHE_SECONDS": 0,
        }
    )

    @app.get("/_bench/template")
    def bench_bare_template():
        return render_template_string(BARE_PAGE, text="bench")

    return app


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def insert_rows(connection, model, rows: list[dict]) -> None:
    for begin in range(0, len(rows), CHUNK):
        connection.execute(insert(model.__table__), rows[begin : begin + CHUNK])


def reset_sequences(connection, tables: list[str]) -> None:
    """After rows with explicit ids, so later inserts on PostgreSQL get fresh ones."""
    if connection.dialect.name != "postgresql":
        return
    for table in tables:
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
        )


# --- data --------------------------------------------------------------------------------


def seed_world(rng: random.Random, now: datetime) -> World:
    """Categories, merchants, products, users, shops and share links: a few heavy sharers with
    many links across channels and products, and a long tail with a few links each."""
    world = World(now=now)
    created = now - timedelta(days=DAYS + 30)
    password_hash = passwords.hash("bench-password-1")
    users, merchants, products, shops, items, links = [], [], [], [], [], []

    def user(phone_prefix: str, n: int, name: str, is_admin: bool = False) -> int:
        users.append(
            {
                "id": len(users) + 1,
                "phone": f"{phone_prefix}{n:08d}",
                "email": None,
                "display_name": name,
                "password_hash": password_hash,
                "is_admin": is_admin,
                "created_at": created,
                "password_changed_at": created,
            }
        )
        return len(users)

    world.admin_id = user("130", 0, "管理员", is_admin=True)
    categories = [
        {"id": i + 1, "slug": f"cat-{i}", "name_zh": f"类目{i}", "name_en": f"Category {i}"}
        for i in range(5)
    ]
    for m in range(MERCHANTS):
        owner = user("131", m, f"商家{m}")
        merchants.append(
            {
                "id": m + 1,
                "user_id": owner,
                "name": f"商家{m}",
                "licence_no": f"91110000MA{m:08d}",
                "contact_name": "联系人",
                "contact_phone": f"139{m:08d}",
                "category_id": m % 5 + 1,
                "status": "approved",
                "submitted_at": created,
                "decided_at": created,
                "created_at": created,
            }
        )
        for p in range(PRODUCTS_PER_MERCHANT):
            product_id = len(products) + 1
            price, bps = rng.randrange(1990, 39900, 100), rng.choice((500, 800, 1000, 1500))
            products.append(
                {
                    "id": product_id,
                    "merchant_id": m + 1,
                    "category_id": m % 5 + 1,
                    "title": f"商品 {m}-{p}",
                    "description": "",
                    "price_cents": price,
                    "stock": 1000,
                    "rebate_bps": bps,
                    "status": "listed",
                    "created_at": created,
                    "updated_at": created,
                }
            )
            world.products[product_id] = (m + 1, price, bps)
    product_ids = list(world.products)

    # Click shares: three sharers with HEAVY_SHARE each, the rest over a Zipf-like tail.
    tail = [1 / (rank + 10) for rank in range(TAIL_SHARERS)]
    tail_total = sum(tail)
    rest = 1 - HEAVY_SHARERS * HEAVY_SHARE
    weights = [HEAVY_SHARE] * HEAVY_SHARERS + [w / tail_total * rest for w in tail]
    alphabet = "23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
    codes: set[str] = set()
    for index, weight in enumerate(weights):
        sharer_id = user("150", index, f"分享者{index}")
        shop_id = len(shops) + 1
        shops.append(
            {
                "id": shop_id,
                "user_id": sharer_id,
                "slug": f"shop-{index}",
                "name": f"小店{index}",
                "created_at": created,
            }
        )
        heavy = index < HEAVY_SHARERS
        chosen = rng.sample(product_ids, 12 if heavy else rng.randint(1, 4))
        world.shop_products[sharer_id] = chosen
        for position, product_id in enumerate(chosen):
            items.append(
                {
                    "id": len(items) + 1,
                    "shop_id": shop_id,
                    "product_id": product_id,
                    "position": position,
                    "created_at": created,
                }
            )
        targets: list[tuple[int | None, str, str]] = []
        for product_id in chosen:
            channels = CHANNELS if heavy else rng.sample(CHANNELS, rng.randint(1, 2))
            targets += [(product_id, channel, "") for channel in channels]
        if heavy:  # the whole shop, and own labels
            targets += [(None, "wechat_group", ""), (None, "custom", "同事群")]
            targets += [(chosen[0], "custom", "家长群"), (chosen[1], "custom", "小红书")]
        pool: list[int] = []
        for rank, (product_id, channel, label) in enumerate(targets):
            link_id = len(links) + 1
            code = "".join(rng.choices(alphabet, k=8))
            while code in codes:
                code = "".join(rng.choices(alphabet, k=8))
            codes.add(code)
            links.append(
                {
                    "id": link_id,
                    "code": code,
                    "sharer_id": sharer_id,
                    "shop_id": shop_id,
                    "product_id": product_id,
                    "target_key": f"p{product_id}" if product_id else "shop",
                    "channel": channel,
                    "label": label,
                    "created_at": created,
                }
            )
            world.link_sharer[link_id] = sharer_id
            world.link_channel[link_id] = channel
            world.link_product[link_id] = product_id
            pool += [link_id] * max(1, 12 // (rank + 1))  # a few links carry most clicks
        world.sharer_ids.append(sharer_id)
        world.sharer_weights.append(weight)
        world.link_pool.append(pool)
    for b in range(BUYERS):
        world.buyer_ids.append(user("186", b, f"买家{b}"))

    with dbsetup.writing(), db.engine.begin() as connection:
        for model, rows in (
            (Category, categories),
            (User, users),
            (Merchant, merchants),
            (Product, products),
            (Shop, shops),
            (ShopItem, items),
            (ShareLink, links),
        ):
            insert_rows(connection, model, rows)
        reset_sequences(
            connection,
            ["categories", "users", "merchants", "products", "shops", "shop_items", "share_links"],
        )
    return world


CLICK_COLUMNS = (
    "id",
    "link_id",
    "clicked_at",
    "visitor_id",
    "ip_hash",
    "ua_family",
    "referrer_host",
    "is_scan",
    "uncounted_reason",
)


def generate_clicks(world: World, n: int, rng: random.Random) -> list[tuple]:
    """``n`` click rows as tuples in CLICK_COLUMNS order, oldest first (ids follow time, as
    they do when clicks are recorded), spread over DAYS days with evening peaks, from each
    sharer's audience; about 10% bots, link previews, duplicates (a visitor's repeat within
    minutes) and floods."""
    start = world.now - timedelta(days=DAYS)
    span = DAYS * 86400 - 60
    hours = [1, 1, 1, 1, 1, 2, 3, 5, 6, 6, 6, 7, 9, 7, 6, 6, 6, 7, 9, 12, 14, 13, 9, 4]
    uncounted = int(n * sum(UNCOUNTED.values()))
    base = n - uncounted
    # Each sharer's own audience (their groups and friends), and visitors of the whole platform.
    audiences, size = [], 0
    for weight in world.sharer_weights:
        audiences.append((size, max(5, int(weight * base / CLICKS_PER_VISITOR))))
        size += audiences[-1][1]
    shared = max(10, int(base * SHARED_VISITORS / CLICKS_PER_VISITOR))
    visitors = [f"{rng.getrandbits(128):032x}" for _ in range(size + shared)]
    ips = [f"{rng.getrandbits(128):032x}" for _ in range(max(10, len(visitors) // 2))]
    sharers = rng.choices(range(len(world.sharer_ids)), weights=world.sharer_weights, k=base)
    uas = rng.choices(UA_FAMILIES, weights=UA_WEIGHTS, k=base)
    china_hours = rng.choices(range(24), weights=hours, k=n)
    rows: list[list] = []

    def moment(i: int) -> datetime:
        day = rng.randrange(DAYS)
        seconds = day * 86400 + (china_hours[i] - 8) % 24 * 3600 + rng.randrange(3600)
        return start + timedelta(seconds=min(seconds, span))

    for i in range(base):
        link_id = rng.choice(world.link_pool[sharers[i]])
        if rng.random() < SHARED_VISITORS:
            visitor = size + rng.randrange(shared)
        else:
            offset, audience = audiences[sharers[i]]
            visitor = offset + rng.randrange(audience)
        rows.append(
            [
                0,
                link_id,
                moment(i),
                visitors[visitor],
                ips[visitor % len(ips)],
                uas[i],
                "mp.weixin.qq.com" if rng.random() < 0.2 else "",
                world.link_channel[link_id] == "poster",
                None,
            ]
        )
    extra: list[list] = []
    for reason, share in UNCOUNTED.items():
        for _ in range(int(n * share)):
            original = rows[rng.randrange(base)]
            row = list(original)
            if reason == "duplicate":  # the same visitor again within the 10-minute window
                row[2] = original[2] + timedelta(seconds=rng.randrange(5, 590))
            elif reason == "flood":  # one address hammering a link
                row[3] = f"{rng.getrandbits(128):032x}"
                row[4] = ips[0]
            else:  # crawlers and preview fetchers: a new cookie every time
                row[3] = f"{rng.getrandbits(128):032x}"
                row[5] = "bot" if reason == "bot" else original[5]
                row[6] = ""
            row[2] = min(row[2], world.now - timedelta(seconds=1))
            row[8] = reason
            extra.append(row)
    rows += extra
    rows += [list(rows[rng.randrange(base)]) for _ in range(n - len(rows))]  # rounding
    rows.sort(key=lambda row: row[2])
    for row in rows:
        row[0] = world.next_click_id
        world.next_click_id += 1
    return [tuple(row) for row in rows]


def load_clicks(rows: list[tuple]) -> None:
    with dbsetup.writing(), db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            raw = connection.connection.driver_connection
            with raw.cursor() as cursor:
                columns = ", ".join(CLICK_COLUMNS)
                with cursor.copy(f"COPY clicks ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        else:
            statement = insert(Click.__table__)
            for begin in range(0, len(rows), CHUNK):
                connection.execute(
                    statement,
                    [
                        dict(zip(CLICK_COLUMNS, row, strict=True))
                        for row in rows[begin : begin + CHUNK]
                    ],
                )
        reset_sequences(connection, ["clicks"])


def generate_orders(world: World, clicks: list[tuple], n: int, rng: random.Random) -> dict:
    """``n`` orders, each following a counted click (so attributed to that click's sharer in
    proportion to their clicks), with one item each and the ledger entries their states imply
    (estimated when paid, settled a week after completion, voided on a refund)."""
    counted = [row for row in clicks if row[8] is None]
    statuses = rng.choices(list(STATUSES), weights=list(STATUSES.values()), k=n)
    orders, items, ledger = [], [], []
    for number in range(1, n + 1):
        click = rng.choice(counted)
        link_id, clicked_at = click[1], click[2]
        sharer_id = world.link_sharer[link_id]
        product_id = world.link_product[link_id] or rng.choice(world.shop_products[sharer_id])
        merchant_id, price, bps = world.products[product_id]
        quantity = rng.choice((1, 1, 1, 2, 3))
        total = price * quantity
        rebate = total * bps // 10_000
        placed = min(
            clicked_at + timedelta(seconds=int(rng.expovariate(1 / 7200)) + 20),
            world.now - timedelta(minutes=1),
        )
        status = statuses[number - 1]
        paid = placed + timedelta(minutes=2) if status not in ("placed", "cancelled") else None
        shipped = paid + timedelta(days=1) if paid and status != "paid" else None
        completed = shipped + timedelta(days=4) if status == "completed" and shipped else None
        if completed and completed > world.now:  # too recent to have got this far
            status, completed = "shipped", None
        if shipped and shipped > world.now:
            status, shipped = "paid", None
        closed = None
        if status == "cancelled":
            closed = placed + timedelta(minutes=30)
        elif status == "refunded":
            closed = min((shipped or paid) + timedelta(days=2), world.now)
        orders.append(
            {
                "id": number,
                "number": f"B{number:014d}",
                "buyer_id": rng.choice(world.buyer_ids),
                "merchant_id": merchant_id,
                "checkout_key": f"bench-{number}",
                "status": status,
                "total_cents": total,
                "ship_name": "收件人",
                "ship_phone": "13800000000",
                "ship_region": "上海市 浦东新区",
                "ship_detail": f"某某路 {rng.randrange(500)} 号",
                "payment_provider": "sandbox",
                "attribution_reason": "attributed",
                "click_id": click[0],
                "link_id": link_id,
                "click_lag_seconds": max(0, int((placed - clicked_at).total_seconds())),
                "sharer_id": sharer_id,
                "attribution_others": {},
                "placed_at": placed,
                "pay_deadline": placed + timedelta(minutes=30),
                "paid_at": paid,
                "shipped_at": shipped,
                "completed_at": completed,
                "closed_at": closed,
                "refund_from": "shipped" if status in ("refund_requested", "refunded") else None,
                "version": 1,
            }
        )
        items.append(
            {
                "id": number,
                "order_id": number,
                "product_id": product_id,
                "title": f"商品 {product_id}",
                "unit_price_cents": price,
                "quantity": quantity,
                "rebate_bps": bps,
                "rebate_cents": rebate,
            }
        )
        if paid and rebate > 0:
            entry = {"sharer_id": sharer_id, "amount_cents": rebate, "order_id": number}
            ledger.append(
                {**entry, "kind": "estimated", "order_item_id": number, "created_at": paid}
            )
            if completed and completed + timedelta(days=7) < world.now:
                ledger.append(
                    {
                        **entry,
                        "kind": "settled",
                        "order_item_id": number,
                        "created_at": completed + timedelta(days=7),
                    }
                )
            elif status == "refunded":
                ledger.append(
                    {**entry, "kind": "voided", "order_item_id": number, "created_at": closed}
                )
    return {"orders": orders, "items": items, "ledger": ledger}


def load_orders(generated: dict) -> None:
    with dbsetup.writing(), db.engine.begin() as connection:
        insert_rows(connection, Order, generated["orders"])
        insert_rows(connection, OrderItem, generated["items"])
        insert_rows(connection, LedgerEntry, generated["ledger"])
        reset_sequences(connection, ["orders", "order_items", "ledger_entries"])


def analyze() -> None:
    """Planner statistics after the bulk load, as autovacuum would gather on PostgreSQL (and
    VACUUM sets the visibility map, which index-only scans need)."""
    if is_postgres():
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))


# --- measuring ---------------------------------------------------------------------------


def run_interleaved(cases: dict, rounds: int, repeat: int) -> dict[str, list[list[float]]]:
    """Milliseconds per call: {case: [[round 1 samples], [round 2 samples], ...]}. Each round
    runs every case ``repeat`` times, starting with a different case each round."""
    names = list(cases)
    samples: dict[str, list[list[float]]] = {name: [] for name in names}
    for number in range(rounds):
        gc.collect()
        order = names[number % len(names) :] + names[: number % len(names)]
        for name in order:
            this_round = []
            for _ in range(repeat):
                begin = time.perf_counter()
                cases[name]()
                this_round.append((time.perf_counter() - begin) * 1000)
            samples[name].append(this_round)
    return samples


def median_of(rounds: list[list[float]]) -> float:
    return statistics.median(value for one in rounds for value in one)


def round_ratios(case: list[list[float]], base: list[list[float]]) -> list[float]:
    return [
        statistics.median(mine) / statistics.median(theirs)
        for mine, theirs in zip(case, base, strict=True)
    ]


# --- part 3: rollup maintenance ----------------------------------------------------------


def bench_maintenance(world: World, rng: random.Random, rounds: int) -> dict:
    """Clicks written one transaction at a time and in the click writer's batches of 500, each
    plain and with ``rollup.add_clicks`` in the same transaction, on a database whose click and
    rollup tables start empty. All cases write rows of the same make (the last hour's clicks on
    links of sharers drawn by weight, ~10% uncounted), made before the timing starts."""
    singles, batches = 100, 4
    needed = 2 * (rounds * singles + 1) + 2 * (rounds * batches + 1) * WRITER_BATCH
    sharers = rng.choices(range(len(world.sharer_ids)), weights=world.sharer_weights, k=needed)
    made = []
    # Returning visitors too, so the visitor upsert both inserts and updates.
    visitors = [f"{rng.getrandbits(128):032x}" for _ in range(needed // 3)]
    reasons = rng.choices([None, *UNCOUNTED], weights=[0.9, *UNCOUNTED.values()], k=needed)
    for sharer, reason in zip(sharers, reasons, strict=True):
        link_id = rng.choice(world.link_pool[sharer])
        made.append(
            {
                "id": world.next_click_id,
                "link_id": link_id,
                "clicked_at": world.now - timedelta(seconds=rng.randrange(3600)),
                "visitor_id": rng.choice(visitors),
                "ip_hash": f"{rng.getrandbits(128):032x}",
                "ua_family": "wechat",
                "referrer_host": "",
                "is_scan": world.link_channel[link_id] == "poster",
                "uncounted_reason": reason,
            }
        )
        world.next_click_id += 1
    supply = iter(made)
    statement = insert(Click.__table__)

    def writer(size: int, with_rollup: bool):
        def write() -> None:
            rows = [next(supply) for _ in range(size)]
            # A click recorded in its request knows its link (clicks.record_click passes it);
            # the click writer's batches read their links.
            known = None
            if size == 1:
                link_id = rows[0]["link_id"]
                known = {
                    link_id: (
                        world.link_sharer[link_id],
                        world.link_product[link_id],
                        world.link_channel[link_id],
                    )
                }
            with dbsetup.writing(), db.engine.begin() as connection:
                connection.execute(statement, rows)
                if with_rollup:
                    rollup.add_clicks(connection, rows, links=known)

        return write

    cases = {
        "single_plain": writer(1, False),
        "single": writer(1, True),
        "batch_plain": writer(WRITER_BATCH, False),
        "batch": writer(WRITER_BATCH, True),
    }
    for case in cases.values():  # warm up: compiled statements, a pooled connection
        case()
    samples = run_interleaved(
        {name: case for name, case in cases.items() if name.startswith("single")}, rounds, singles
    )
    samples |= run_interleaved(
        {name: case for name, case in cases.items() if name.startswith("batch")}, rounds, batches
    )
    with dbsetup.writing(), db.engine.begin() as connection:
        # The big load starts from empty click and rollup tables.
        for model in (ClickDay, SharerVisitor, Click):
            connection.execute(model.__table__.delete())
    return samples


# --- part 2: the funnel query ------------------------------------------------------------


def bench_queries(world: World, sharer_id: int, rounds: int, repeat: int) -> dict:
    """``stats.funnel`` (rollups) against ``stats.funnel_from_raw`` (raw clicks) for the last
    PERIOD_DAYS China days, after checking that both give the same numbers."""
    end = rollup.china_day(world.now)
    start = end - timedelta(days=PERIOD_DAYS - 1)

    def rolled():
        result = stats.funnel(sharer_id, start, end, now=world.now)
        db.session.rollback()
        return result

    def raw():
        result = stats.funnel_from_raw(sharer_id, start, end)
        db.session.rollback()
        return result

    first, second = rolled(), raw()
    # A period ending today: the visitor count is exact from the rollup too.
    compared = ("clicks", "scans", "bots", "repeats", "visitors", "orders", "paid", "settled")
    for name in compared:
        assert getattr(first, name) == getattr(second, name), (name, first, second)
    assert first.by_link == second.by_link and first.daily == second.daily
    samples = run_interleaved({"raw": raw, "funnel": rolled}, rounds, repeat)
    return {**samples, "result": first, "raw_function": raw}


def bench_covering_index(raw, rounds: int, repeat: int) -> tuple[list[list[float]], float]:
    """The raw-clicks query again with a composite covering index on clicks; returns its
    samples and how long building the index took (ms). Measured after everything else."""
    begin = time.perf_counter()
    with dbsetup.writing(), db.engine.begin() as connection:
        connection.execute(text(f"CREATE INDEX ix_bench_clicks_covering ON clicks ({COVERING})"))
    build_ms = (time.perf_counter() - begin) * 1000
    analyze()
    samples = run_interleaved({"covering": raw}, rounds, repeat)["covering"]
    with dbsetup.writing(), db.engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_bench_clicks_covering"))
    return samples, build_ms


# --- part 4: pages -----------------------------------------------------------------------


def signed_in_client(app, user_id: int):
    """A test client with a live session for ``user_id``, as signing in leaves it."""
    with app.app_context():
        user = db.session.get(User, user_id)
        token = accounts.start_session(user, now=datetime.now(UTC).replace(tzinfo=None))
        db.session.commit()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = token
        session["_fresh"] = True
    return client


def bench_pages(app, world: World, sharer_id: int, rounds: int, repeat: int) -> dict:
    sharer = signed_in_client(app, sharer_id)
    admin = signed_in_client(app, world.admin_id)
    statuses: dict[str, int] = {}

    def get(client, path: str, name: str, *, forget: str | None = None):
        def call() -> None:
            if forget:  # a first view: the ended days' sums are not kept yet
                app.extensions.pop(forget, None)
            response = client.get(path)
            statuses[name] = response.status_code
            response.close()

        return call

    stats_path = f"/me/stats?period={PERIOD_DAYS}d"
    cases = {
        "bare_sharer": get(sharer, "/_bench/template", "bare_sharer"),
        "stats_page": get(sharer, stats_path, "stats_page"),
        "stats_first": get(sharer, stats_path, "stats_first", forget="stats_closed_days"),
        "stats_chart": get(sharer, f"/me/stats/chart.svg?period={PERIOD_DAYS}d", "stats_chart"),
        "bare_admin": get(admin, "/_bench/template", "bare_admin"),
        "admin_page": get(admin, "/admin/", "admin_page"),
        "admin_first": get(admin, "/admin/", "admin_first", forget="overview_closed_days"),
    }
    for case in cases.values():
        case()
    samples = run_interleaved(cases, rounds, repeat)
    return {**samples, "statuses": statuses}


# --- report ------------------------------------------------------------------------------


def report_line(label: str, case, base, target: float | None, status: int = 200) -> str:
    median = median_of(case)
    if base is None:
        return f"{label:<46}{median:>10.2f}"
    ratio = median / median_of(base)
    spread = round_ratios(case, base) if len(case) == len(base) else [ratio]
    line = f"{label:<46}{median:>10.2f}{ratio:>8.3f}x{min(spread):>8.3f}-{max(spread):.3f}x"
    if target is not None:
        verdict = "PASS" if ratio <= target else "MISS"
        if status != 200:  # an error page is quick: its ratio means nothing
            verdict = f"HTTP {status}"
        line += f"{'<= ' + str(target) + 'x':>10}  {verdict}"
    elif status != 200:
        line += f"{'':>10}  HTTP {status}"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--database-url", default=None, help="PostgreSQL; SQLite when left out")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    timings: dict[str, float] = {}
    now = datetime.now(UTC).replace(tzinfo=None)

    def timed(name: str, action, *a):
        begin = time.perf_counter()
        result = action(*a)
        timings[name] = time.perf_counter() - begin
        return result

    with database(args.database_url, "bench_stats.sqlite3") as (url, instance):
        app = build_app(url, instance)
        with app.app_context():
            from flask_migrate import upgrade

            timed("migrate", upgrade)
            world = timed("seed", seed_world, rng, now)
            maintenance = bench_maintenance(world, rng, args.rounds)
            clicks = timed("generate clicks", generate_clicks, world, args.clicks, rng)
            timed("load clicks", load_clicks, clicks)
            orders = generate_orders(world, clicks, args.orders, rng)
            timed("load orders", load_orders, orders)

            def recount():
                with dbsetup.writing(), db.engine.begin() as connection:
                    return rollup.recount(connection)

            recounted = timed("recount", recount)

            def recount_orders():
                with dbsetup.writing(), db.engine.begin() as connection:
                    return sales.recount(connection)

            # The orders were bulk-loaded past the services that keep their rollups.
            orders_recounted = timed("recount orders", recount_orders)
            timed("analyze", analyze)
            per_sharer = Counter(world.link_sharer[row[1]] for row in clicks)
            heavy_id, heavy_clicks = per_sharer.most_common(1)[0]
            del clicks
            gc.collect()
            day_rows, visitor_rows = (
                db.session.execute(select(func.count()).select_from(model)).scalar_one()
                for model in (ClickDay, SharerVisitor)
            )
            db.session.rollback()

            queries = bench_queries(world, heavy_id, args.rounds, 5)
        pages = bench_pages(app, world, heavy_id, args.rounds, 10)
        with app.app_context():
            covering, covering_build_ms = bench_covering_index(
                queries["raw_function"], args.rounds, 5
            )
            dialect = db.engine.dialect.name
            db.engine.dispose()

    print(f"stats bench: {dialect}, {args.rounds} interleaved rounds, medians of every call")
    print(
        f"data: {args.clicks} clicks over {DAYS} days ({HEAVY_SHARERS} sharers with "
        f"~{HEAVY_SHARE:.0%} each, {TAIL_SHARERS} more; ~10% bots, duplicates, floods), "
        f"{args.orders} orders, {len(world.link_sharer)} links"
    )
    print(
        f"setup: seed {timings['seed']:.1f} s, generate clicks {timings['generate clicks']:.1f} s,"
        f" load clicks {timings['load clicks']:.1f} s, load orders {timings['load orders']:.1f} s,"
        f" analyze {timings['analyze']:.1f} s"
    )
    print(
        f"rollup.recount (flask rollup): {timings['recount']:.1f} s for {recounted['clicks']} "
        f"clicks -> {day_rows} day rows, {visitor_rows} sharer visitors"
    )
    print(
        f"sales.recount (flask rollup, orders): {timings['recount orders']:.1f} s for "
        f"{orders_recounted['orders']} earning orders -> {orders_recounted['order_days']} "
        f"link-days, {orders_recounted['sale_days']} sales-days"
    )
    result = queries["result"]
    print(
        f"heaviest sharer: user {heavy_id}, {heavy_clicks} clicks in {DAYS} days; "
        f"{PERIOD_DAYS}-day funnel, the same from both: {result.clicks} counted clicks, "
        f"{result.visitors} visitors, {result.orders} orders, {result.paid} paid, "
        f"{result.settled} settled"
    )
    print(f"{'case':<46}{'median ms':>10}{'ratio':>9}{'rounds':>15}{'target':>10}  result")
    page, status = TARGETS["page"], pages["statuses"]
    maintained = (
        ("1 click per tx: plain insert", "single_plain", None),
        ("  + rollup.add_clicks, vs plain", "single", "single_plain"),
        (f"{WRITER_BATCH} clicks per tx: plain insert", "batch_plain", None),
        ("  + rollup.add_clicks, vs plain", "batch", "batch_plain"),
    )
    for label, case, base, target in (
        ("stats.funnel_from_raw (raw clicks)", queries["raw"], None, None),
        ("stats.funnel (rollups), vs raw", queries["funnel"], queries["raw"], TARGETS["funnel"]),
        ("  raw + covering index (run last), vs raw", covering, queries["raw"], None),
    ):
        print(report_line(label, case, base, target))
    for label, case, base in maintained:
        base_samples = maintenance[base] if base else None
        print(report_line(label, maintenance[case], base_samples, TARGETS["maintenance"]))
    for label, case, base, target in (
        ("bare page, sharer signed in", "bare_sharer", None, None),
        (f"/me/stats?period={PERIOD_DAYS}d, vs bare", "stats_page", "bare_sharer", page),
        ("  first view (ended days summed), vs bare", "stats_first", "bare_sharer", None),
        ("  its chart.svg, vs bare", "stats_chart", "bare_sharer", None),
        ("bare page, admin signed in", "bare_admin", None, None),
        ("/admin/ overview, vs bare", "admin_page", "bare_admin", page),
        ("  first view (ended days summed), vs bare", "admin_first", "bare_admin", None),
    ):
        base_samples = pages[base] if base else None
        print(report_line(label, pages[case], base_samples, target, status[case]))
    print(
        f"covering index on clicks ({COVERING}): built in {covering_build_ms / 1000:.1f} s after "
        "the other cases, measured against the raw median above"
    )


if __name__ == "__main__":
    main()
