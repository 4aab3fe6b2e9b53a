"""Shipping many orders at once from a CSV file (order number, carrier, tracking number), as
merchants export them from their courier's software.

Each line stands alone: it ships its order completely (state, event, notice) or changes
nothing, inside its own savepoint, and gets one result. A header line and blank lines are
skipped. The file may be UTF-8 (with or without a BOM) or GBK, as Excel in China saves it.
"""

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from shop.accounts.models import User
from shop.orders import carriers, states
from shop.orders.models import Order, OrderStatus
from shop.platform.errors import DomainError, ValidationError
from shop.platform.extensions import db

MAX_LINES = 500

#: Results of a line.
SHIPPED = "shipped"
ALREADY_SHIPPED = "already_shipped"
NOT_YOURS = "not_yours"  #: no such order, or another merchant's (never told apart)
BAD_CARRIER = "bad_carrier"
BAD_NUMBER = "bad_number"
NOT_SHIPPABLE = "not_shippable"  #: unpaid, cancelled, refund asked ...
BAD_LINE = "bad_line"


@dataclass(frozen=True)
class LineResult:
    line: int  #: 1-based line in the file
    order_number: str
    result: str
    detail: str = ""


def decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationError(_l("Save the file as CSV (UTF-8 or GBK) and try again."), "file")


def ship_csv(text: str, *, merchant_id: int, actor: User, now: datetime) -> list[LineResult]:
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) > MAX_LINES + 1:
        raise ValidationError(_l("At most %(count)s orders in one file.", count=MAX_LINES), "file")
    results = []
    for index, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if (
            index == 1
            and carriers.find(cells[1] if len(cells) > 1 else "") is None
            and not (cells[0][:1].isdigit())
        ):
            continue  # a header line (订单号,快递公司,运单号)
        results.append(_one(index, cells, merchant_id=merchant_id, actor=actor, now=now))
    return results


def _one(index: int, cells: list[str], *, merchant_id: int, actor: User, now: datetime):
    if len(cells) < 3:
        return LineResult(index, cells[0] if cells else "", BAD_LINE)
    number, carrier_text, tracking = cells[0], cells[1], cells[2]
    order = db.session.execute(select(Order).where(Order.number == number)).scalar_one_or_none()
    if order is None or order.merchant_id != merchant_id:
        # The line number says which; the page never repeats another shop's order number.
        return LineResult(index, "", NOT_YOURS)
    carrier = carriers.find(carrier_text)
    if carrier is None:
        return LineResult(index, number, BAD_CARRIER, carrier_text)
    if order.status != OrderStatus.PAID:
        if order.carrier:
            return LineResult(index, number, ALREADY_SHIPPED, order.tracking_number)
        return LineResult(index, number, NOT_SHIPPABLE, str(order.status))
    if not carriers.number_ok(carrier, carriers.normalize_number(tracking)):
        return LineResult(index, number, BAD_NUMBER, tracking)
    savepoint = db.session.begin_nested()
    try:
        states.ship(order, carrier.code, tracking, actor=actor, now=now)
        savepoint.commit()
    except DomainError as error:
        savepoint.rollback()
        db.session.refresh(order)
        if order.carrier:
            return LineResult(index, number, ALREADY_SHIPPED, order.tracking_number)
        return LineResult(index, number, NOT_SHIPPABLE, str(error.message))
    return LineResult(index, number, SHIPPED, f"{carrier.code} {order.tracking_number}")
