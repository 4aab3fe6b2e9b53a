"""The kinds of notice, who gets each, and their text.

The domains emit these kinds to the outbox (``shop.orders.notices``, ``shop.money.notices``,
``shop.reviews.notices``) with the data the text needs and nothing more: a buyer's notices
never carry a rebate, and a sharer's never carry who the buyer is (no name, phone or address).
"""

from dataclasses import dataclass

from flask_babel import gettext
from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Kind:
    name: str
    audience: str  #: "sharer", "merchant" or "buyer"
    label: object  #: lazy text for the preferences page


SHARER, MERCHANT, BUYER = "sharer", "merchant", "buyer"

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("order_attributed", SHARER, _l("A new order through my link")),
        Kind("rebate_settled", SHARER, _l("A rebate settled")),
        Kind("rebate_voided", SHARER, _l("A rebate voided or taken back")),
        Kind("payout_decided", SHARER, _l("A payout paid or rejected")),
        Kind("order_paid", MERCHANT, _l("A new paid order")),
        Kind("refund_requested", MERCHANT, _l("A refund request")),
        Kind("review_posted", MERCHANT, _l("A new review")),
        Kind("order_shipped", BUYER, _l("My order shipped")),
        Kind("refund_decided", BUYER, _l("The decision on my refund")),
    )
}
#: Sent by the "send a test" button only; not a preference.
TEST = "test"
AUDIENCE_LABELS = {
    SHARER: _l("As a sharer"),
    MERCHANT: _l("As a merchant"),
    BUYER: _l("As a buyer"),
}


def yuan(cents) -> str:
    cents = int(cents or 0)
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def text(kind: str, data: dict) -> str:
    """The notice in the current locale (call within a request, or under force_locale)."""
    d = data or {}
    order = d.get("order_no", "")
    if kind == "order_attributed":
        return gettext(
            "New order %(order)s through your link: %(product)s. Estimated rebate ¥%(amount)s.",
            order=order,
            product=d.get("product", ""),
            amount=yuan(d.get("amount_cents")),
        )
    if kind == "rebate_settled":
        return gettext(
            "Your rebate of ¥%(amount)s for order %(order)s has settled and can be withdrawn.",
            amount=yuan(d.get("amount_cents")),
            order=order,
        )
    if kind == "rebate_voided":
        if d.get("clawback"):
            return gettext(
                "Your settled rebate of ¥%(amount)s for order %(order)s was taken back: "
                "the order was refunded after the rebate settled.",
                amount=yuan(d.get("amount_cents")),
                order=order,
            )
        return gettext(
            "Your estimated rebate of ¥%(amount)s for order %(order)s was voided: "
            "the order was refunded before the rebate settled.",
            amount=yuan(d.get("amount_cents")),
            order=order,
        )
    if kind == "payout_decided":
        if d.get("paid"):
            return gettext(
                "Your payout of ¥%(amount)s has been paid (transfer reference %(reference)s).",
                amount=yuan(d.get("amount_cents")),
                reference=d.get("reference", ""),
            )
        return gettext(
            "Your payout of ¥%(amount)s was rejected: %(reason)s. "
            "The amount is back in your balance.",
            amount=yuan(d.get("amount_cents")),
            reason=d.get("reason", ""),
        )
    if kind == "order_paid":
        return gettext(
            "New paid order %(order)s: %(product)s, ¥%(total)s. Please ship it.",
            order=order,
            product=d.get("product", ""),
            total=yuan(d.get("total_cents")),
        )
    if kind == "refund_requested":
        return gettext(
            "Refund requested for order %(order)s (¥%(total)s): %(reason)s",
            order=order,
            total=yuan(d.get("total_cents")),
            reason=d.get("reason", ""),
        )
    if kind == "review_posted":
        return gettext(
            "New %(rating)s-star review of %(product)s.",
            rating=d.get("rating", ""),
            product=d.get("product", ""),
        )
    if kind == "order_shipped":
        return gettext(
            "Your order %(order)s has shipped: %(carrier)s %(tracking)s.",
            order=order,
            carrier=d.get("carrier", ""),
            tracking=d.get("tracking", ""),
        )
    if kind == "refund_decided":
        if d.get("approved"):
            return gettext(
                "Your refund for order %(order)s was approved: ¥%(total)s will be returned.",
                order=order,
                total=yuan(d.get("total_cents")),
            )
        return gettext(
            "Your refund for order %(order)s was not approved. The order goes on.",
            order=order,
        )
    if kind == TEST:
        return gettext("This is a test notice from Fenxiang. Your settings work.")
    return gettext("A notice from Fenxiang.")
