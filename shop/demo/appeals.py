"""The demo's appeals, played through the real services inside the order story's timeline
(``shop.demo.orders``), so their ledger entry falls in time order with the rest: 小美 asks
about an order whose only click of hers was outside the window and an admin upholds it
with an adjustment; 王老师 asks about the order 小美's later click won and waits."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from shop.accounts.models import User
from shop.demo.stories import AUNTIE, SHARER, TEACHER, ZHAO, ago
from shop.money import appeals
from shop.money.models import Appeal
from shop.orders import checkout
from shop.platform.extensions import db


@dataclass(frozen=True)
class DemoAppeal:
    sharer: str  #: account
    order_key: str  #: the demo order's checkout key
    buyer: str  #: that order's buyer (to find it)
    asked: timedelta  #: before the seed's ``now``
    note: str
    decided: timedelta | None = None  #: None: still with the admins
    reason: str = ""


APPEALS = (
    DemoAppeal(
        SHARER,
        "demo-order-15",
        ZHAO,
        ago(days=12),
        "买家说是在我朋友圈里看到才买的，只是隔了几天才下单，麻烦核实一下。",
        decided=ago(days=11),
        reason="点击记录显示买家确实来自你的链接，超出窗口不多，本次按订单返利补发。",
    ),  # fmt: skip
    DemoAppeal(
        TEACHER,
        "demo-order-04",
        AUNTIE,
        ago(days=2),
        "周阿姨是在我的群里先看到这款的，后来才点了别人的链接。",
    ),  # fmt: skip
)


def plan(story, users: dict[str, User], now: datetime) -> int:
    """Add the missing demo appeals to ``story``'s events; returns how many."""
    added = 0
    for spec in APPEALS:
        sharer = users[spec.sharer]
        if db.session.execute(select(Appeal.id).where(Appeal.sharer_id == sharer.id)).first():
            continue
        asked: dict[str, int] = {}  # the appeal's id, once asked
        story.add(now - spec.asked, _ask, story, users, spec, asked)
        if spec.decided is not None:
            story.add(now - spec.decided, _decide, users, spec, asked)
        added += 1
    return added


def _order_number(story, users, spec: DemoAppeal) -> str:
    order = story.placed.get(spec.order_key)
    if order is None:
        [order] = checkout.existing_checkout(users[spec.buyer], spec.order_key)
    return order.number


def _ask(at: datetime, story, users, spec: DemoAppeal, asked: dict[str, int]) -> None:
    config = current_app.config
    sharer = users[spec.sharer]
    appeal = appeals.ask(
        sharer,
        number=_order_number(story, users, spec),
        limits=appeals.Limits(config["APPEAL_LIMIT_PER_HOUR"], config["APPEAL_LIMIT_PER_DAY"]),
        window=timedelta(days=config["ATTRIBUTION_WINDOW_DAYS"]),
        now=at,
    )
    appeals.submit(appeal, spec.note, actor=sharer, now=at + timedelta(minutes=3))
    asked["id"] = appeal.id


def _decide(at: datetime, users, spec: DemoAppeal, asked: dict[str, int]) -> None:
    appeal = db.session.get(Appeal, asked["id"])
    admin = next(user for user in users.values() if user.is_admin)
    appeals.decide(
        appeal,
        True,
        actor=admin,
        reason=spec.reason,
        amount_cents=appeals.suggested_cents(appeal),
        now=at,
    )
