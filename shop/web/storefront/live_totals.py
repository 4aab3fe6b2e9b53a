"""What the buy-now checkout page needs to update its totals as the quantity changes
(static/js/checkout-qty.js): the SKU's price and the shipping fee for every quantity it can be
bought in, worked out here by the same rules the order is placed with. The page is only kept
honest in between: placing the order works every amount out again."""

from flask import current_app, request

from shop.orders import checkout as order_checkout
from shop.orders import shipping
from shop.platform.errors import DomainError
from shop.web.common import show_domain_error


def recalculating() -> bool:
    """The no-script "Recalculate" button was pressed: show the new amounts, place nothing."""
    return request.method == "POST" and request.form.get("recalc") == "1"


def check_quantity(form) -> None:
    """The quantity typed, with the message at its field when it cannot be bought."""
    try:
        order_checkout.parse_quantity(
            request.form.get("quantity"), maximum=current_app.config["MAX_ORDER_QUANTITY"]
        )
    except DomainError as error:
        show_domain_error(form, error)


def buy_now(form, saved, product, sku) -> dict:
    """{"price", "max", "fees"}: ``fees`` lists the fee of 1 .. max pieces ("x" where the
    address is not delivered to), comma separated for a data-* attribute."""
    chosen = {str(a.id): a for a in saved}.get(form.saved_address.data or "")
    code = chosen.province_code if chosen is not None else (form.province.data or "")
    upto = max(1, min(current_app.config["MAX_ORDER_QUANTITY"], sku.stock))
    fees = shipping.fee_table(product, shipping.province_of(code), upto)
    return {
        "price": sku.price_cents,
        "max": upto,
        "fees": ",".join("x" if fee is None else str(fee) for fee in fees),
    }
