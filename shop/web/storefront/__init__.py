from flask import Blueprint

bp = Blueprint("storefront", __name__)

from shop.web.storefront import (  # noqa: E402,F401  (routes register on import)
    cart,
    checkout,
    gateways,
    invites,
    reviews,
    sharing,
    views,
    wechat,
)
