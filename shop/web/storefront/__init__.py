from flask import Blueprint

bp = Blueprint("storefront", __name__)

from shop.web.storefront import addresses, cart, checkout, invites, orders, reviews, sharing, views  # noqa: E402,F401  (routes register on import)
