from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from shop.web.admin import (  # noqa: E402,F401  (routes register on import)
    appeals,
    exports,
    fees,
    fraud,
    gateway_refunds,
    money,
    outbox_rows,
    overview,
    part_refunds,
    profit_sharing,
    reviews,
    second_factors,
    teams,
    views,
    withdrawals,
)
