"""Reconciliation: each gateway's daily trade bill against the payments and refunds we recorded.

For China day D, with the bills of D and of the day before (a payment made just before
midnight whose callback came after it is in the earlier bill):
- a payment or refund in bill D that we have no record of is ``missing_ours``;
- one we recorded on day D that neither bill has is ``missing_theirs``;
- one both have with different amounts is ``amount_mismatch``.
Differences are rows unique per (provider, day, subject, reference, kind): running it again
adds nothing, and a resolution an admin wrote stays.

WeChat Pay partner mode (服务商, ``adapter.partner``): the bill is the partner's, of all its
sub-merchants (one download: the per-sub-merchant bill leaves out 小微 merchants), each line
naming its sub-merchant (特约商户号). A line of a sub-merchant that is none of our merchants'
for an order number that is not ours is the partner's other business and is left out
(``Report.others``); a line for one of our orders that went through another sub-merchant than
the order's merchant's is ``wrong_account`` (the money sits in someone else's account, and
profit sharing and refunds name the order's merchant's), with the number the bill says.
The order's number is the one its payment was created under (recorded then), so an admin
changing a merchant's number later does not make its earlier payments differences; orders
opened before numbers were recorded fall back to the merchant's number now.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from shop.accounts.models import User
from shop.catalog.models import Merchant
from shop.orders.gateways.base import BillLine
from shop.orders.gateways.providers import recorded_sub_mchid
from shop.orders.models import (
    GatewayPayment,
    GatewayRefund,
    Order,
    PaymentEvent,
    ReconciliationItem,
)
from shop.platform import audit
from shop.platform import db as dbsetup
from shop.platform.errors import ValidationError
from shop.platform.extensions import db
from shop.sharing.rollup import day_start

#: Payment events that mean money reached the gateway for the order (wrong_account: into
#: another sub-merchant's account, partner mode).
RECEIVED = ("paid", "already_paid", "not_payable", "amount_mismatch", "wrong_account")


@dataclass
class Report:
    provider: str
    day: date
    bill_lines: int = 0
    found: list = field(default_factory=list)  #: (kind, subject, reference)
    new: int = 0
    others: int = 0  #: partner mode: lines of the partner's other sub-merchants, left out


def _ours(provider: str, day: date):
    start, end = day_start(day), day_start(day + timedelta(days=1))
    payments = db.session.execute(
        select(PaymentEvent.event_id, PaymentEvent.amount_cents, Order.number)
        .join(Order, Order.id == PaymentEvent.order_id)
        .where(
            PaymentEvent.provider == provider,
            PaymentEvent.outcome.in_(RECEIVED),
            PaymentEvent.received_at >= start,
            PaymentEvent.received_at < end,
        )
    ).all()
    refunds = db.session.execute(
        select(GatewayRefund.refund_number, GatewayRefund.amount_cents, Order.number)
        .join(Order, Order.id == GatewayRefund.order_id)
        .where(
            GatewayRefund.provider == provider,
            GatewayRefund.state == "done",
            GatewayRefund.done_at >= start,
            GatewayRefund.done_at < end,
        )
    ).all()
    return payments, refunds


def _known_payment(provider: str, trade_id: str):
    return db.session.execute(
        select(PaymentEvent.amount_cents).where(
            PaymentEvent.provider == provider, PaymentEvent.event_id == trade_id[:64]
        )
    ).first()


def _known_refund(number: str):
    return db.session.execute(
        select(GatewayRefund.amount_cents, GatewayRefund.state).where(
            GatewayRefund.refund_number == number
        )
    ).first()


def ours_only(bill: list[BillLine], earlier: list[BillLine]) -> tuple[list, list, int]:
    """A partner's bills less the lines of its other business: neither of one of our
    merchants' sub-merchant numbers nor for one of our orders. Returns (bill, earlier, how
    many lines of ``bill`` were left out)."""
    accounts = set(
        db.session.execute(
            select(Merchant.wechatpay_sub_mchid).where(Merchant.wechatpay_sub_mchid != "")
        ).scalars()
    ) | set(  # numbers merchants had when their orders were paid
        db.session.execute(
            select(GatewayPayment.sub_mchid).where(GatewayPayment.sub_mchid != "").distinct()
        ).scalars()
    )
    numbers = sorted({line.order_number for line in bill + earlier})
    known = set()
    for start in range(0, len(numbers), 500):
        chunk = numbers[start : start + 500]
        known.update(
            db.session.execute(select(Order.number).where(Order.number.in_(chunk))).scalars()
        )

    def kept(lines):
        return [x for x in lines if x.order_number in known or x.account in accounts]

    mine = kept(bill)
    return mine, kept(earlier), len(bill) - len(mine)


def wrong_accounts(provider: str, bill: list[BillLine]) -> list:
    """Partner mode: the lines of our orders whose money went through another sub-merchant
    than the one the order's payment was made under, as differences with the number the bill
    says."""
    numbers = sorted({line.order_number for line in bill if line.account})
    expected = {}
    for start in range(0, len(numbers), 500):
        expected.update(
            db.session.execute(
                select(Order.number, recorded_sub_mchid())
                .join(Merchant, Merchant.id == Order.merchant_id)
                .outerjoin(GatewayPayment, GatewayPayment.order_id == Order.id)
                .where(Order.number.in_(numbers[start : start + 500]))
            ).all()
        )
    found = []
    for line in bill:
        if line.order_number not in expected or line.account == (expected[line.order_number] or ""):
            continue
        if line.kind == "payment":
            reference, known = line.trade_id, _known_payment(provider, line.trade_id)
        else:
            reference, known = line.refund_number, _known_refund(line.refund_number)
        found.append(
            ("wrong_account", line.kind, reference, line.order_number,
             known.amount_cents if known else None, line.amount_cents, line.account)
        )  # fmt: skip
    return found


def compare(provider: str, day: date, bill: list[BillLine], earlier: list[BillLine]) -> list:
    """The differences as (kind, subject, reference, order number, ours, theirs[, account])."""
    found = []
    for line in bill:
        if line.kind == "payment":
            known = _known_payment(provider, line.trade_id)
            if known is None:
                found.append(
                    ("missing_ours", "payment", line.trade_id, line.order_number, None,
                     line.amount_cents)
                )  # fmt: skip
            elif known.amount_cents != line.amount_cents:
                found.append(
                    ("amount_mismatch", "payment", line.trade_id, line.order_number,
                     known.amount_cents, line.amount_cents)
                )  # fmt: skip
        else:
            known = _known_refund(line.refund_number)
            if known is None or known.state != "done":
                ours = known.amount_cents if known else None
                found.append(
                    ("missing_ours", "refund", line.refund_number, line.order_number, ours,
                     line.amount_cents)
                )  # fmt: skip
            elif known.amount_cents != line.amount_cents:
                found.append(
                    ("amount_mismatch", "refund", line.refund_number, line.order_number,
                     known.amount_cents, line.amount_cents)
                )  # fmt: skip
    theirs_payments = {b.trade_id for b in bill + earlier if b.kind == "payment"}
    theirs_refunds = {b.refund_number for b in bill + earlier if b.kind == "refund"}
    payments, refunds = _ours(provider, day)
    for trade_id, amount, number in payments:
        if trade_id not in theirs_payments:
            found.append(("missing_theirs", "payment", trade_id, number, amount, None))
    for refund_number, amount, number in refunds:
        if refund_number not in theirs_refunds:
            found.append(("missing_theirs", "refund", refund_number, number, amount, None))
    return found


def reconcile(adapters: dict, day: date, *, now: datetime) -> list[Report]:
    """Download each configured gateway's bills and store the differences (commits)."""
    reports = []
    for provider, adapter in adapters.items():
        bill = adapter.bill(day)  # a GatewayError stops here: nothing half-stored
        earlier = adapter.bill(day - timedelta(days=1))
        report = Report(provider, day, bill_lines=len(bill))
        differences = []
        if getattr(adapter, "partner", False):
            bill, earlier, report.others = ours_only(bill, earlier)
            differences += wrong_accounts(provider, bill)
        differences += compare(provider, day, bill, earlier)
        db.session.rollback()
        with dbsetup.writing():
            db.session.rollback()
            for kind, subject, reference, number, ours, theirs, *account in differences:
                inserted = db.session.execute(
                    dbsetup.insert_for(db.session, ReconciliationItem)
                    .values(
                        provider=provider,
                        day=day,
                        kind=kind,
                        subject=subject,
                        reference=reference[:64],
                        order_number=number[:24],
                        ours_cents=ours,
                        theirs_cents=theirs,
                        account=(account or [""])[0][:32],
                        found_at=now,
                        resolution="",
                    )
                    .on_conflict_do_nothing()
                    .returning(ReconciliationItem.id)
                ).first()
                report.new += inserted is not None
                report.found.append((kind, subject, reference))
            db.session.commit()
        reports.append(report)
    return reports


def resolve(item: ReconciliationItem, note: str, *, actor: User, now: datetime) -> None:
    """An admin says how a difference was resolved (audited). The caller commits."""
    note = " ".join((note or "").split())
    if not note or len(note) > 200:
        raise ValidationError(_l("Say how it was resolved, in at most 200 characters."), "note")
    if item.resolved_at is not None:
        raise ValidationError(_l("This difference is already resolved."), "note")
    item.resolved_at, item.resolved_by_id, item.resolution = now, actor.id, note
    audit.record(
        actor=actor,
        action="reconciliation.resolve",
        object_type="reconciliation_item",
        object_id=item.id,
        before={"kind": item.kind, "reference": item.reference},
        after={"resolved": True},
        reason=note,
        now=now,
    )
