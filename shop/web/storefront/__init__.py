from flask import Blueprint

bp = Blueprint("storefront", __name__)

from shop.web.storefront import (  # noqa: E402,F401  (routes register on import)
    addresses,
    buying,
    cart,
    checkout,
    coupons,
    gateways,
    invites,
    orders,
    part_refunds,
    reviews,
    sharing,
    shoppage,
    views,
    wechat,
)
