"""The server killed at named points in placing an order, paying, settling and paying out.

A fault point (shop/faults.py) ends the process with ``os._exit`` after the writes of its action
and before the commit, as a power cut or an OOM kill would. For each point one gunicorn armed
with it serves every run (its master replaces the worker each run ends); settlement runs from
cron, so each of its runs starts ``flask settle-rebates`` as a process of its own. A run makes
fresh data in the test process, performs the action as a buyer, a gateway, a merchant, a sharer,
an admin or cron would, and sees the process end with ``faults.EXIT_CODE``. Then:

- every row of every table is as it was before the action (a fingerprint of the whole
  database): no partial order, no ledger entry without its order or payout change, stock,
  rollups and balances untouched; the checks named in each test say the same in words;
- the invariant checker passes (ledger against rollups, no negative stock, at most one entry
  of each kind per order item...), no sharer's estimated or available balance is below zero
  (nothing here is refunded, so no clawback may take one there), and on SQLite
  ``PRAGMA integrity_check`` is ok and ``foreign_key_check`` is empty.

After a point's runs, a server started without the fault (or the command without it) repeats
every run's action with the same checkout key, payment notice, payout key or decision: it
succeeds exactly once, and a second repeat changes nothing.

One line per database (points, runs, failures, seconds, the command) is printed and written to
test-artifacts/faults/summary-<database>.txt.
"""

import http.client
import json
import secrets
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import case, func, or_, select, text

from shop import PROJECT_ROOT
from shop.catalog.models import Product
from shop.money import ledger, payouts
from shop.money.models import EFFECTS, EntryKind, LedgerEntry, Payout, PayoutStatus
from shop.orders import checkout, payments, states
from shop.orders.models import Order, OrderEvent, OrderItem, OrderStatus, PaymentEvent
from shop.platform import faults
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from shop.teams import teams
from shop.web.storefront.sharing import visitor_cookie_value
from tests import invariants
from tests.factories import make_category, make_product, make_shop, make_user
from tests.security.helpers import diff, fingerprint
from tests.server.live import (
    CHECKOUT_ADDRESS,
    SECRET_KEY,
    TIMEOUT,
    Browser,
    Server,
    count,
    hidden_fields,
    server_env,
    sign_in,
)
from tests.services.test_orders import ADDRESS, WINDOW, shared_click

#: Runs per fault point, on each database (100 in all).
RUNS = {
    "place_order.after_stock": 20,
    "pay.after_ledger": 21,
    "settle.after_ledger": 19,
    "payout_request.after_ledger": 20,
    "payout_decide.after_update": 20,
}
#: Armed gunicorn: two worker processes, so one serves the next run while the master forks a
#: replacement for the one the last run ended.
WORKERS = 2
#: A point stops after this many failed runs (each may wait for timeouts).
MAX_FAILURES = 3
RETURN_WINDOW = timedelta(days=7)  # the default RETURN_WINDOW_DAYS
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "faults"
EXITED = f"exited with code {faults.EXIT_CODE}"


@dataclass
class Tally:
    runs: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    roads: dict[str, int] = field(default_factory=dict)


#: {database: {fault point: Tally}}, written out when the module's tests are done.
SUMMARY: dict[str, dict[str, Tally]] = {}


@pytest.fixture(scope="module", autouse=True)
def _write_summary():
    yield
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    command = shlex.join(sys.argv)
    for db_name, points in SUMMARY.items():
        runs = sum(t.runs for t in points.values())
        failed = sum(len(t.failures) for t in points.values())
        seconds = sum(t.seconds for t in points.values())
        detail = "; ".join(
            f"{point} {t.runs} runs"
            + (f" ({', '.join(f'{r} {n}' for r, n in t.roads.items())})" if t.roads else "")
            + f", {len(t.failures)} failed, {t.seconds:.1f} s"
            for point, t in points.items()
        )
        line = (
            f"fault tests [{db_name}]: {len(points)} points, {runs} runs, {failed} failures, "
            f"{seconds:.1f} s ({detail}); command: {command}"
            + (" with SHOP_TEST_DATABASE_URL set" if db_name == "postgresql" else "")
        )
        print("\n" + line)
        (ARTIFACTS / f"summary-{db_name}.txt").write_text(line + "\n", encoding="utf-8")


# --- running and killing -------------------------------------------------------------------


@pytest.fixture
def start_armed(database_url, tmp_path):
    """``start_armed(point)``: a gunicorn on the test's database with ``point`` armed.

    Started with ``--preload``: the master imports the app once and a replacement worker is a
    fork, not a second import (~1.5 s of CPU here, 100 times). The app opens no database
    connection when it is made, so each worker still has its own connections, made after the
    fork, and dies with its own transaction as a worker of ``make serve`` would."""
    started: list[Server] = []

    def start(point: str) -> "Armed":
        env = server_env(database_url, tmp_path / "instance", FAULT=point)
        env["GUNICORN_CMD_ARGS"] = "--preload"
        log = tmp_path / f"gunicorn-armed-{len(started)}.log"
        started.append(Server(env, log, workers=WORKERS, threads=2))
        return Armed(started[-1])

    yield start
    for server in started:
        server.stop()


class Armed:
    """A server started with one fault point armed; counts the workers it ended."""

    def __init__(self, server: Server):
        self.server = server
        self.ended = 0

    def endings(self) -> int:
        return self.server.log_path.read_text(errors="replace").count(EXITED)

    def answering(self) -> None:
        """Wait until a worker answers (the master replaces one that ended)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                if Browser(self.server, timeout=5).get("/auth/signin").status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            if self.server.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no worker answers:\n{self.server.log()}")
            time.sleep(0.05)

    def crash(self, action) -> None:
        """``action()`` must end its worker at the fault point: the connection drops without
        an answer and the master logs the fault's exit code once more."""
        try:
            answer = action()
        except (ConnectionError, http.client.HTTPException):
            pass
        else:
            raise AssertionError(
                f"answered {answer.status} instead of ending at the fault point: "
                f"{answer.text[:300]}"
            )
        self.ended += 1
        deadline = time.monotonic() + TIMEOUT
        while self.endings() < self.ended:
            if time.monotonic() > deadline:
                raise AssertionError(f"no worker {EXITED}:\n{self.server.log()}")
            time.sleep(0.02)


def run_point(point: str, db_name: str, one_run, roads=None) -> Tally:
    """``one_run(i)`` for each run of ``point``; a failed run is kept and the next one goes
    on, up to MAX_FAILURES; then the failures, if any, fail the test."""
    tally = SUMMARY.setdefault(db_name, {}).setdefault(point, Tally())
    begin = time.perf_counter()
    for i in range(RUNS[point]):
        try:
            one_run(i)
        except Exception as error:  # a failed check, a refused request: a failed run
            tally.failures.append(f"run {i}: {type(error).__name__}: {error}"[:3000])
            if len(tally.failures) >= MAX_FAILURES:
                break
        finally:
            tally.runs += 1
            if roads:
                road = roads(i)
                tally.roads[road] = tally.roads.get(road, 0) + 1
    tally.seconds = time.perf_counter() - begin
    print(
        f"\n[{db_name}] {point}: {tally.runs} runs (each killed at the point), "
        f"{len(tally.failures)} failed, {tally.seconds:.1f} s"
    )
    assert not tally.failures, "\n".join(tally.failures)
    return tally


def untouched(app, before: dict) -> None:
    """Nothing the action wrote remains, and the database is sound."""
    with app.app_context():
        changes = diff(before, fingerprint())
        assert not changes, f"rows left behind by the killed action: {changes}"
        sound()


def sound() -> None:
    """The invariants, balances at or above zero, and on SQLite a sound file (inside an app
    context)."""
    invariants.check(db.session)
    assert below_zero() == [], "balances below zero"
    if db.engine.dialect.name == "sqlite":
        assert db.session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        assert db.session.execute(text("PRAGMA foreign_key_check")).all() == []
    db.session.rollback()


def below_zero() -> list:
    """Sharers whose estimated or available balance (sums of their entries) is below zero."""

    def balance(which: int):  # 0: estimated, 1: available (EFFECTS)
        moves = [
            case((LedgerEntry.kind == kind, LedgerEntry.amount_cents * effect[which]), else_=0)
            for kind, effect in EFFECTS.items()
            if effect[which]
        ]
        return func.sum(sum(moves))

    estimated, available = balance(0), balance(1)
    query = (
        select(LedgerEntry.sharer_id, estimated, available)
        .group_by(LedgerEntry.sharer_id)
        .having(or_(estimated < 0, available < 0))
    )
    return db.session.execute(query).all()


def snapshot(app) -> dict:
    with app.app_context():
        return fingerprint()


def finish(db_name: str, point: str, replayed: str) -> None:
    print(f"[{db_name}] {point}: without the fault, {replayed}")


# --- data made in the test process -----------------------------------------------------------


@dataclass
class Sale:
    order_id: int
    items: int  #: order items (each earns a rebate)
    leader: bool  #: the sharer's team leader earns an override on each item
    sharer_id: int
    merchant_account: str


def earning_order(
    *, at, items: int = 1, leader: bool = False, provider: str = "sandbox", price: int = 9900
) -> Sale:
    """An order placed at ``at`` by a new buyer after a sharer's link, earning a rebate on
    each of its ``items`` (and the leader's override when ``leader``): the first at ``price``
    fen, the others at ¥99, all at 10%. Inside an app context."""
    visitor = secrets.token_hex(16)
    # With a leader, a 1% fee covers the 10% override on a 10% rebate (the platform pays it
    # out of its fee; an uncovered override is cut to the fee at payment).
    category = make_category(fee_bps=100 if leader else None)
    first = make_product(stock=5, price_cents=price, original_price_cents=None, with_image=False,
                         category=category)  # fmt: skip
    products = [first] + [
        make_product(stock=5, merchant=first.merchant, with_image=False, category=category)
        for _ in range(items - 1)
    ]
    sharer = shared_click(first, visitor=visitor, at=at - timedelta(hours=1))
    if leader:
        code = teams.invite_of(make_shop().user, now=at).invite_code
        assert teams.bind(sharer, code, now=at) is not None
    buyer = make_user()
    [order] = checkout.place_order(
        buyer,
        [(p.id, 1) for p in products],
        ADDRESS,
        checkout_key=secrets.token_urlsafe(18),
        provider=provider,
        visitor_id=visitor,
        now=at,
        window=WINDOW,
        allow_self_purchase=True,
        pay_within=timedelta(minutes=30),
        team_override_bps=1000 if leader else 0,
    )
    assert order.sharer_id == sharer.id and (order.leader_id is not None) == leader
    return Sale(order.id, items, leader, sharer.id, first.merchant.user.phone)


def sandbox():
    return payments.providers(SECRET_KEY, ["sandbox"])["sandbox"]


def signed_notice(order_id: int) -> tuple[bytes, str]:
    provider = sandbox()
    body = provider.notice_body(db.session.get(Order, order_id))
    return body, provider.sign(body)


def settled_sale(*, at, items: int = 1, leader: bool = False, settle: bool = True) -> Sale:
    """An order paid, shipped and received long enough ago to settle (and settled when
    ``settle``). Its first item is a ¥500 product at 10%: ¥50 of rebate."""
    sale = earning_order(at=at - timedelta(days=12), items=items, leader=leader, price=50_000)
    body, signature = signed_notice(sale.order_id)
    notice = sandbox().parse(body, signature)
    paid_at = at - timedelta(days=12) + timedelta(minutes=1)
    assert payments.apply_notice("sandbox", notice, now=paid_at).applied
    order = db.session.get(Order, sale.order_id)
    merchant = order.items[0].product.merchant.user
    states.ship(order, "顺丰速运", "SF1234567890", actor=merchant, now=at - timedelta(days=10))
    states.confirm_receipt(order, actor=order.buyer, now=at - timedelta(days=8))
    if settle:
        posted = ledger.settle_order(order.id, now=at, return_window=RETURN_WINDOW)
        assert posted == items
    return sale


def entries(kind: EntryKind, *where) -> int:
    return count(LedgerEntry, LedgerEntry.kind == kind, *where)


# --- placing an order ------------------------------------------------------------------------


def test_killed_placing_an_order_keeps_no_order_and_all_stock(
    app, start_server, start_armed, db_name
):
    """Buy now (one order) and a cart of two shops' products (two orders in one transaction)."""
    point = "place_order.after_stock"
    armed = start_armed(point)
    done = []

    def one_run(i: int) -> None:
        cart = i % 2 == 1
        with app.app_context():
            visitor = secrets.token_hex(16)
            products = [make_product(stock=5, with_image=False) for _ in range(1 + cart)]
            sharer = shared_click(products[0], visitor=visitor, at=utcnow() - timedelta(hours=1))
            buyer = make_user()
            cookie = visitor_cookie_value(visitor)
            ids, buyer_id, sharer_id = [p.id for p in products], buyer.id, sharer.id
            account = buyer.phone
            db.session.commit()
        armed.answering()
        browser = sign_in(armed.server, account)
        browser.cookies[app.config["VISITOR_COOKIE"]] = cookie  # came through the share link
        path = f"/checkout/{ids[0]}"
        if cart:
            token = hidden_fields(browser.get(path).text)["csrf_token"]
            for product_id in ids:
                added = browser.post(
                    "/cart/add", {"csrf_token": token, "product_id": product_id, "quantity": 1}
                )
                assert (added.status, added.location) == (303, "/cart"), added.text[:300]
            path = "/cart/checkout"
        page = browser.get(path)
        assert page.status == 200, page.text[:300]
        form = {**hidden_fields(page.text), **CHECKOUT_ADDRESS, "quantity": "1"}
        form["provider"] = "sandbox"
        before = snapshot(app)
        armed.crash(lambda: browser.post(path, form))
        with app.app_context():
            assert (count(Order), count(OrderItem), count(OrderEvent)) == (0, 0, 0)
            assert [db.session.get(Product, pid).stock for pid in ids] == [5] * len(ids)
        untouched(app, before)
        done.append((browser.copy(), path, form, ids, buyer_id, sharer_id))

    run_point(point, db_name, one_run, roads=lambda i: "cart" if i % 2 else "buy-now")
    healthy = start_server(workers=1)
    armed.server.stop()
    healthy.wait_ready()
    for browser, path, form, ids, buyer_id, sharer_id in done:
        browser.port = healthy.port
        twin = browser.copy()  # the same form sent again from another tab: same checkout key
        placed, again = browser.post(path, form), twin.post(path, form)
        assert placed.status == again.status == 302, (placed.text[:300], healthy.log())
        with app.app_context():
            made = db.session.execute(db.select(Order).where(Order.buyer_id == buyer_id))
            made = made.scalars().all()
            assert len(made) == len(ids) and {o.sharer_id for o in made} == {sharer_id}
            assert sorted(i.product_id for o in made for i in o.items) == sorted(ids)
            assert [db.session.get(Product, pid).stock for pid in ids] == [4] * len(ids)
            db.session.rollback()
    with app.app_context():
        sound()
    finish(db_name, point, f"the same forms then placed {len(done)} checkouts once each")


# --- paying ----------------------------------------------------------------------------------

PAY_ROADS = ("callback", "return", "manual")


def test_killed_paying_keeps_the_order_unpaid_with_no_rebate(
    app, start_server, start_armed, db_name
):
    """The gateway's callback, the buyer's return path and a merchant confirming a transfer."""
    point = "pay.after_ledger"
    armed = start_armed(point)
    done = []

    def pay(server: Server, road: str, sale: Sale, body: bytes, signature: str, merchant=None):
        if road == "callback":
            headers = {"Content-Type": "application/json", "X-Sandbox-Signature": signature}
            return Browser(server).request("POST", "/payments/sandbox/notify", body, headers)
        if road == "return":
            query = urlencode({"body": body.decode(), "sig": signature})
            return Browser(server).get(f"/payments/sandbox/return?{query}")
        page = merchant.get(f"/merchant/orders/{sale.order_id}")
        token = hidden_fields(page.text)["csrf_token"]
        return merchant.post(f"/merchant/orders/{sale.order_id}/paid", {"csrf_token": token})

    def one_run(i: int) -> None:
        road = PAY_ROADS[i % 3]
        with app.app_context():
            sale = earning_order(
                at=utcnow() - timedelta(minutes=1),
                items=1 + i % 2,
                leader=i % 4 >= 2,
                provider="manual" if road == "manual" else "sandbox",
            )
            body, signature = signed_notice(sale.order_id)
            db.session.commit()
        armed.answering()
        merchant = sign_in(armed.server, sale.merchant_account) if road == "manual" else None
        before = snapshot(app)

        armed.crash(lambda: pay(armed.server, road, sale, body, signature, merchant))
        with app.app_context():
            order = db.session.get(Order, sale.order_id)
            assert (order.status, order.paid_at) == (OrderStatus.PLACED, None)
            assert count(PaymentEvent, PaymentEvent.order_id == order.id) == 0
            assert count(OrderEvent, OrderEvent.to_status == "paid") == 0
            assert count(LedgerEntry) == 0  # no estimate, no override
            assert all(item.product.sales_count == 0 for item in order.items)
        untouched(app, before)
        done.append((road, sale, body, signature, merchant))

    run_point(point, db_name, one_run, roads=lambda i: PAY_ROADS[i % 3])
    healthy = start_server(workers=1)
    armed.server.stop()
    healthy.wait_ready()
    for road, sale, body, signature, merchant in done:
        if merchant is not None:
            merchant.port = healthy.port
        answers = [pay(healthy, road, sale, body, signature, merchant) for _ in range(2)]
        expected = {"callback": 200, "return": 302, "manual": 303}[road]
        assert [a.status for a in answers] == [expected] * 2, (road, answers[0].text[:300])
        if road == "callback":
            assert [json.loads(a.text)["outcome"] for a in answers] == ["paid", "replay"]
        with app.app_context():
            order = db.session.get(Order, sale.order_id)
            assert order.status == OrderStatus.PAID
            assert count(PaymentEvent, PaymentEvent.order_id == order.id) == 1
            paid = count(
                OrderEvent, OrderEvent.order_id == order.id, OrderEvent.to_status == "paid"
            )
            assert paid == 1
            estimates = entries(EntryKind.ESTIMATED, LedgerEntry.order_id == order.id)
            assert estimates == sale.items * (2 if sale.leader else 1)
            db.session.rollback()
    with app.app_context():
        sound()
    finish(db_name, point, f"the same notices then paid {len(done)} orders once each")


# --- settling --------------------------------------------------------------------------------


def settle_command(env: dict) -> subprocess.CompletedProcess:
    """What cron runs: ``flask settle-rebates``, as a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "settle-rebates"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip


def test_killed_settling_posts_no_settled_rebate(app, database_url, tmp_path, db_name):
    """Each run's order is the only one due: the command ends while settling it. The test then
    settles it in its own process (one posting per item, then none), so the next run's order is
    again the only one due; the last run's order is left for the command without the fault."""
    point = "settle.after_ledger"
    instance = tmp_path / "instance"
    armed_env = server_env(database_url, instance, FAULT=point)
    settled = 0  # entries settled by the test between runs
    sales = []

    def one_run(i: int) -> None:
        nonlocal settled
        with app.app_context():
            sale = settled_sale(at=utcnow(), items=1 + i % 2, leader=i % 4 >= 2, settle=False)
            db.session.commit()
            assert ledger.due_for_settlement(now=utcnow(), return_window=RETURN_WINDOW) == [
                sale.order_id
            ]
            db.session.rollback()
        before = snapshot(app)

        ran = settle_command(armed_env)
        assert ran.returncode == faults.EXIT_CODE, (ran.returncode, ran.stdout, ran.stderr)
        assert "rebate entries settled" not in ran.stdout  # ended before its report
        with app.app_context():
            assert entries(EntryKind.SETTLED, LedgerEntry.order_id == sale.order_id) == 0
            assert entries(EntryKind.SETTLED) == settled
        untouched(app, before)
        sales.append(sale)
        if i < RUNS[point] - 1:
            with app.app_context():
                at = utcnow()
                posted = [
                    ledger.settle_order(sale.order_id, now=at, return_window=RETURN_WINDOW)
                    for _ in range(2)
                ]
                assert posted == [sale.items, 0]
                db.session.commit()
                settled += sale.items * (2 if sale.leader else 1)
                sound()

    run_point(point, db_name, one_run)
    last = sales[-1]
    healthy_env = server_env(database_url, instance)
    first, again = settle_command(healthy_env), settle_command(healthy_env)
    assert first.returncode == again.returncode == 0, (first.stderr, again.stderr)
    assert f"Orders due: 1; rebate entries settled: {last.items}" in first.stdout, first.stdout
    assert "Orders due: 0; rebate entries settled: 0" in again.stdout, again.stdout
    with app.app_context():
        posted = entries(EntryKind.SETTLED, LedgerEntry.order_id == last.order_id)
        assert posted == last.items * (2 if last.leader else 1)
        sound()
    finish(db_name, point, "the command then settled the last order once, and again nothing")


# --- paying out ------------------------------------------------------------------------------


def test_killed_requesting_a_payout_keeps_no_payout_and_the_balance(
    app, start_server, start_armed, db_name
):
    point = "payout_request.after_ledger"
    armed = start_armed(point)
    done = []

    def one_run(i: int) -> None:
        with app.app_context():
            sale = settled_sale(at=utcnow(), leader=i % 2 == 1)  # ¥50 settled
            sharer = db.session.get(Order, sale.order_id).sharer
            payouts.save_account(sharer, "alipay", "小美", "13800000003", "", now=utcnow())
            account = sharer.phone
            db.session.commit()
        armed.answering()
        browser = sign_in(armed.server, account)
        page = browser.get("/me/earnings")
        assert page.status == 200, page.text[:300]
        form = {**hidden_fields(page.text), "amount": "40"}
        before = snapshot(app)

        armed.crash(lambda: browser.post("/me/earnings/payout", form))
        with app.app_context():
            assert count(Payout) == 0
            assert entries(EntryKind.PAYOUT) == 0
            assert ledger.balances(sale.sharer_id).available_cents == 5000
        untouched(app, before)
        done.append((browser.copy(), form, sale.sharer_id))

    run_point(point, db_name, one_run)
    healthy = start_server(workers=1)
    armed.server.stop()
    healthy.wait_ready()
    for browser, form, sharer_id in done:
        browser.port = healthy.port
        twin = browser.copy()  # the same form again (a double tap): the same payout key
        answers = [tab.post("/me/earnings/payout", form) for tab in (browser, twin)]
        assert [a.status for a in answers] == [303, 303], (answers[0].text[:300], healthy.log())
        with app.app_context():
            mine = db.select(Payout).where(Payout.user_id == sharer_id)
            [payout] = db.session.execute(mine).scalars().all()
            assert (payout.idempotency_key, payout.amount_cents) == (form["idempotency_key"], 4000)
            assert entries(EntryKind.PAYOUT, LedgerEntry.sharer_id == sharer_id) == 1
            assert ledger.balances(sharer_id).available_cents == 1000
            db.session.rollback()
    with app.app_context():
        sound()
    finish(db_name, point, f"the same forms then made {len(done)} payouts once each")


def test_killed_deciding_a_payout_keeps_it_requested(app, start_server, start_armed, db_name):
    """Marked paid on even runs, rejected (the amount returned to the balance) on odd ones."""
    point = "payout_decide.after_update"
    armed = start_armed(point)
    with app.app_context():
        admin_account = make_user(is_admin=True).phone
        db.session.commit()
    armed.server.wait_ready()
    admin = sign_in(armed.server, admin_account)
    done = []

    def decide(browser: Browser, payout_id: int, i: int):
        token = hidden_fields(browser.get("/admin/payouts").text)["csrf_token"]
        if i % 2 == 0:
            form = {
                "decision": "pay",
                "reference": f"WX{payout_id:010d}",
                "reason": "",
                "confirmed": "1",
            }
        else:
            form = {"decision": "reject", "reference": "", "reason": "账户名与实名不符"}
        return browser.post(f"/admin/payouts/{payout_id}/decide", {"csrf_token": token, **form})

    def one_run(i: int) -> None:
        with app.app_context():
            at = utcnow()
            sale = settled_sale(at=at, leader=i % 4 >= 2)
            sharer = db.session.get(Order, sale.order_id).sharer
            payouts.save_account(sharer, "alipay", "小美", "13800000003", "", now=at)
            payout = payouts.request_payout(
                sharer, 4000, idempotency_key=secrets.token_urlsafe(18), minimum_cents=1000, now=at
            )
            payout_id = payout.id
            db.session.commit()
        armed.answering()
        before = snapshot(app)

        armed.crash(lambda: decide(admin, payout_id, i))
        with app.app_context():
            payout = db.session.get(Payout, payout_id)
            assert (payout.status, payout.decided_at) == (PayoutStatus.REQUESTED, None)
            assert entries(EntryKind.PAYOUT_RETURNED) == 0
            assert count(AuditEntry, AuditEntry.object_type == "payout") == 0
            assert ledger.balances(sale.sharer_id).available_cents == 1000
        untouched(app, before)
        done.append((i, payout_id, sale.sharer_id))

    roads = lambda i: "reject" if i % 2 else "pay"  # noqa: E731
    run_point(point, db_name, one_run, roads=roads)
    healthy = start_server(workers=1)
    armed.server.stop()
    healthy.wait_ready()
    admin.port = healthy.port
    for i, payout_id, sharer_id in done:
        answers = [decide(admin, payout_id, i) for _ in range(2)]
        # The second decision finds it decided: refused, nothing written.
        assert [a.status for a in answers] == [303, 422], (answers[0].text[:300], healthy.log())
        with app.app_context():
            payout = db.session.get(Payout, payout_id)
            rejected = i % 2 == 1
            assert payout.status == (PayoutStatus.REJECTED if rejected else PayoutStatus.PAID)
            returned = entries(EntryKind.PAYOUT_RETURNED, LedgerEntry.payout_id == payout_id)
            assert returned == int(rejected)
            audited = count(
                AuditEntry, AuditEntry.object_type == "payout", AuditEntry.object_id == payout_id
            )
            assert audited == 1
            assert ledger.balances(sharer_id).available_cents == (5000 if rejected else 1000)
            db.session.rollback()
    with app.app_context():
        sound()
    finish(db_name, point, f"the same decisions then went through once each ({len(done)})")
