from flask import Blueprint

bp = Blueprint("storefront", __name__)

from shop.web.storefront import cart, checkout, invites, reviews, sharing, views, wechat  # noqa: E402,F401  (routes register on import)
