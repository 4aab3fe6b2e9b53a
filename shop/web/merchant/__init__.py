from flask import Blueprint

bp = Blueprint("merchant", __name__, url_prefix="/merchant")

from shop.web.merchant import (  # noqa: E402,F401  (routes register on import)
    aftersales,
    bulk_ship,
    coupons,
    courier_export,
    materials,
    money,
    orders,
    part_refunds,
    reviews,
    shipping,
    views,
)
