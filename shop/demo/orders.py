"""Demo orders, rebates and payouts for `flask seed-demo`: a few weeks of a shop's life.

Nothing here writes an order, a ledger entry or a payout by hand. Every row comes from the
services a real request would call (clicks, checkout, payment notices, shipping, refunds,
settlement, payouts), each with a ``now`` in the past, so the data obeys every rule the
services enforce and the invariant checker holds. The events of all orders run in time
order, so ids follow time and each payout sees the balance it would have seen then.

Idempotent: an order is looked up by its buyer and fixed checkout key, a payout by its
idempotency key; what exists already is left alone (with its whole story: its clicks and
transitions are not replayed). The story is timed for the default settings: a 15-day
attribution window, a 7-day return window, 30 minutes to pay.
"""

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from shop.accounts.models import User
from shop.catalog.models import Product
from shop.demo import appeals as demo_appeals
from shop.demo.stories import (
    ADDRESSES,
    DEVICES,
    LINKS_SINCE,
    ORDERS,
    PAYOUT_ACCOUNT,
    PAYOUT_ACCOUNT_SAVED,
    PAYOUTS,
    SHARER,
    DemoOrder,
    DemoPayout,
    Step,
    ago,
)
from shop.money import ledger, payouts
from shop.money.models import Payout
from shop.orders import checkout, payments, states
from shop.orders.models import Order
from shop.platform.extensions import db
from shop.sharing import clicks, links
from shop.sharing.models import Shop


def visitor_id(key: str) -> str:
    """A fixed 32-hex-digit visitor id per demo order, like the one in the visitor cookie. Each
    order has its own, so one order's clicks never change another's attribution."""
    return hashlib.md5(f"fenxiang-demo-{key}".encode(), usedforsecurity=False).hexdigest()


class _Story:
    """Runs the events of the missing demo orders and payouts in time order."""

    def __init__(
        self,
        *,
        users: dict[str, User],
        products: dict[tuple[str, int], Product],
        shops: dict[str, Shop],
        now: datetime,
    ):
        config = current_app.config
        self.users, self.products, self.shops, self.now = users, products, shops, now
        self.window = timedelta(days=config["ATTRIBUTION_WINDOW_DAYS"])
        self.return_window = timedelta(days=config["RETURN_WINDOW_DAYS"])
        self.pay_within = timedelta(minutes=config["PAYMENT_TIMEOUT_MINUTES"])
        self.allow_self_purchase = config["ALLOW_SELF_PURCHASE"]
        self.secret = config["SECRET_KEY"]
        self.sandbox = payments.providers(self.secret, ["sandbox"])["sandbox"]
        self.placed: dict[str, Order] = {}
        self.visitors: set[str] = set()
        self.events: list[tuple[datetime, int, Callable, tuple]] = []

    def add(self, at: datetime, action: Callable, *args) -> None:
        self.events.append((at, len(self.events), action, args))

    def run(self) -> None:
        for at, _seq, action, args in sorted(self.events, key=lambda e: e[:2]):
            action(at, *args)

    # --- orders ---------------------------------------------------------------------------

    def plan_order(self, spec: DemoOrder) -> None:
        placed_at = self.now - spec.placed
        product = self.products[spec.product]
        for visit in spec.visits:
            target = self.products[visit.product] if visit.product else product
            link = links.get_or_create_link(
                self.shops[visit.shop], target, visit.channel, now=self.now - LINKS_SINCE
            )
            self.add(placed_at - visit.before, self.follow, spec, link)
        self.add(placed_at, self.place, spec, product)
        for step in spec.steps:
            at = placed_at + (self.pay_within + ago(minutes=1) if step.action == "timeout"
                              else step.after)  # fmt: skip
            self.add(at, self.step, spec, step)

    def follow(self, at: datetime, spec: DemoOrder, link) -> None:
        user_agent, ip = DEVICES[spec.buyer]
        visitor = visitor_id(spec.key)
        clicks.record_click(
            link,
            clicks.RequestFacts("GET", user_agent, ip, referrer="", purpose=""),
            visitor_id=visitor,
            ip_secret=self.secret,
            flooded=False,
            now=at,
            # A visitor id is minted at its first click: no duplicate to look for.
            new_visitor=visitor not in self.visitors,
        )
        self.visitors.add(visitor)

    def place(self, at: datetime, spec: DemoOrder, product: Product) -> None:
        buyer = self.users[spec.buyer]
        address = checkout.check_address(*ADDRESSES[spec.buyer])
        [order] = checkout.place_order(
            buyer,
            [(product.id, spec.quantity)],
            address,
            checkout_key=spec.key,
            provider=spec.provider,
            visitor_id=visitor_id(spec.key) if spec.visits else None,
            now=at,
            window=self.window,
            allow_self_purchase=self.allow_self_purchase,
            pay_within=self.pay_within,
        )
        checkout.save_address(buyer, address, now=at)
        self.placed[spec.key] = order

    def step(self, at: datetime, spec: DemoOrder, step: Step) -> None:
        order = self.placed[spec.key]
        buyer = self.users[spec.buyer]
        merchant = order.merchant.user
        match step.action:
            case "pay" if order.payment_provider == "manual":
                payments.confirm_manual(order, actor=merchant, now=at)
            case "pay":
                body = self.sandbox.notice_body(order)
                notice = self.sandbox.parse(body, self.sandbox.sign(body))
                if not payments.apply_notice("sandbox", notice, now=at).applied:
                    raise RuntimeError(f"demo order {spec.key} was not paid")
            case "ship":
                states.ship(order, step.text, step.detail, actor=merchant, now=at)
            case "confirm":
                states.confirm_receipt(order, actor=buyer, now=at)
            case "cancel":
                states.cancel_by_buyer(order, actor=buyer, now=at)
            case "timeout":
                # The sweep as cron runs it. At this moment the other demo orders are paid or
                # closed, so among them only this one is due (other unpaid orders past their
                # deadline, in a database that has some, are cancelled too, as cron would).
                states.cancel_unpaid(now=at)
                db.session.refresh(order)
                if order.status != states.S.CANCELLED:
                    raise RuntimeError(f"demo order {spec.key} was not cancelled")
            case "refund":
                states.request_refund(order, step.text, actor=buyer, now=at)
            case "approve" | "reject":
                states.decide_refund(
                    order, step.action == "approve", actor=merchant, source="merchant",
                    now=at, note=step.text,
                )  # fmt: skip
            case "settle":
                # Posts nothing when the order does not earn (e.g. self-purchases forbidden).
                ledger.settle_order(order.id, now=at, return_window=self.return_window)
            case _:
                raise ValueError(f"unknown demo step {step.action!r}")

    # --- payouts --------------------------------------------------------------------------

    def plan_payout(self, spec: DemoPayout) -> None:
        self.add(self.now - spec.requested, self.request_payout, spec)
        self.add(self.now - spec.decided, self.decide_payout, spec)

    def save_account(self, at: datetime) -> None:
        sharer = self.users[SHARER]
        if payouts.account_of(sharer) is None:
            method, name, number = PAYOUT_ACCOUNT
            payouts.save_account(sharer, method, name, number, "", now=at)

    def request_payout(self, at: datetime, spec: DemoPayout) -> None:
        payouts.request_payout(
            self.users[SHARER],
            spec.amount_cents,
            idempotency_key=spec.key,
            minimum_cents=current_app.config["PAYOUT_MIN_CENTS"],
            now=at,
        )

    def decide_payout(self, at: datetime, spec: DemoPayout) -> None:
        payout = find_payout(self.users[SHARER], spec.key)
        admin = next(user for user in self.users.values() if user.is_admin)
        payouts.decide(
            payout,
            spec.paid,
            actor=admin,
            reference=spec.text if spec.paid else "",
            reason="" if spec.paid else spec.text,
            now=at,
        )


def find_payout(user: User, key: str) -> Payout | None:
    return db.session.execute(
        select(Payout).where(Payout.user_id == user.id, Payout.idempotency_key == key)
    ).scalar_one_or_none()


def seed_orders(
    *,
    users: dict[str, User],
    products: dict[tuple[str, int], Product],
    shops: dict[str, Shop],
    now: datetime,
) -> dict[str, int]:
    """Create the demo orders and payouts that are missing; returns how many of each."""
    story = _Story(users=users, products=products, shops=shops, now=now)
    created = {"orders": 0, "payouts": 0}
    for spec in ORDERS:
        if not checkout.existing_checkout(users[spec.buyer], spec.key):
            story.plan_order(spec)
            created["orders"] += 1
    created["appeals"] = demo_appeals.plan(story, users, now)
    missing = [p for p in PAYOUTS if find_payout(users[SHARER], p.key) is None]
    if missing:
        story.add(now - PAYOUT_ACCOUNT_SAVED, story.save_account)
        for spec in missing:
            story.plan_payout(spec)
            created["payouts"] += 1
    story.run()
    # Merchant shares of orders that earn no rebate have no "settle" step of their own: settle
    # what is due now, as the nightly `flask settle-rebates` would have (rebates are all
    # settled by their steps already).
    for order_id in ledger.due_for_settlement(now=now, return_window=story.return_window):
        ledger.settle_order(order_id, now=now, return_window=story.return_window)
    db.session.flush()
    return created
