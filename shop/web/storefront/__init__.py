from flask import Blueprint

bp = Blueprint("storefront", __name__)

from shop.web.storefront import buying, cart, checkout, invites, reviews, sharing, views  # noqa: E402,F401  (routes register on import)
