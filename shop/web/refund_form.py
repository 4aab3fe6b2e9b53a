"""The 部分退款 form, as the buyer's page (/orders/<id>/refund-part) and the admin's
(/admin/orders/<id>/refund-part) both use it: items and how many of each, the amount (less
than the full one if agreed), the shipping, the refund type and the reason. Reading what was
sent, sending it (:func:`submit`), and what the page shows; the service is
shop.money.refunds, the template macro templates/_macros/refund_part.html."""

import re

from flask_babel import lazy_gettext as _l

from shop.money import refund_math, refund_views, refunds
from shop.orders import states
from shop.platform.errors import DomainError, ValidationError
from shop.platform.extensions import db

_AMOUNT = re.compile(r"^(\d{1,7})(?:\.(\d{1,2}))?$")


def parse_amount(raw: str) -> int | None:
    """ "19.9" -> 1990 fen, exactly (no floats); "" -> None (the full amount)."""
    text = (raw or "").strip().replace(",", "").lstrip("¥￥").strip()
    if not text:
        return None
    match = _AMOUNT.match(text)
    if not match:
        raise ValidationError(_l("Enter the amount in yuan, e.g. 19.90."), "amount")
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def picks(form) -> dict[int, int]:
    """{order item id: units} from ``qty-<item id>`` fields (a chosen box without a number
    means one unit); anything that is not a whole number is refused, never guessed."""
    found = {}
    for name, value in form.items():
        if not name.startswith("qty-"):
            continue
        try:
            item_id, units = int(name[4:]), int(value or "0")
        except ValueError:
            raise ValidationError(_l("Choose how many of each item."), "items") from None
        if units < 0:
            raise ValidationError(_l("Choose how many of each item."), "items")
        found[item_id] = units
    return found


def unit_values(line) -> list[int]:
    """What 0, 1, 2... of the units left are worth (for the amount shown as boxes change)."""
    cap_q = line.item.quantity
    before = cap_q - line.left_quantity
    values = [
        refund_math.units_value(line.paid_cents, cap_q, before, n)
        for n in range(line.left_quantity + 1)
    ]
    if values:
        values[-1] = line.left_cents  # the last units take what is left
    return [min(v, line.left_cents) for v in values]


def sent(form) -> dict:
    """What the form sent, kept to show it again with a message."""
    values = {name: value for name, value in form.items() if name.startswith("qty-")}
    values.update(
        key=form.get("key", ""),
        reason=form.get("reason", ""),
        kind=form.get("kind", ""),
        amount=form.get("amount", ""),
        shipping=form.get("shipping", ""),
    )
    return values


def page_values(order) -> dict:
    """What the form shows of ``order``: the lines with units left, what each number of
    them is worth, and the shipping left to refund."""
    lines = [line for line in refund_views.lines(order) if line.left_quantity > 0]
    caps = refund_views.caps(order)
    ship = caps.get(refunds.SHIPPING)
    shipping_left = (
        ship.cap_cents - ship.done_cents - ship.held_cents if ship else order.shipping_cents
    )
    return {
        "lines": lines,
        "unit_values": {line.item.id: unit_values(line) for line in lines},
        "shipping_left": shipping_left,
    }


def submit(order, form, *, actor, now, **options):
    """Request the refund the form asks for (``options``: more of ``refunds.request``'s, e.g.
    ``source="admin"``) and commit it. Returns (refund, values, key, error): on a DomainError
    nothing is kept (rolled back, ``order`` refreshed), ``refund`` is None and ``values`` and
    ``key`` are what was sent, to show the page again with everything typed."""
    values = sent(form)
    key = values["key"][:40]
    try:
        refund = refunds.request(
            order,
            picks(form),
            reason=values["reason"],
            kind=values["kind"] or states.REFUND_ONLY,
            key=key,
            actor=actor,
            now=now,
            amount_cents=parse_amount(values["amount"]),
            with_shipping=True if values["shipping"] else None,
            **options,
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        db.session.refresh(order)
        return None, values, key, error
    return refund, values, key, None
