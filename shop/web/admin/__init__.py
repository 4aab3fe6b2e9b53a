from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from shop.web.admin import exports, fraud, gateway_refunds, money, overview, reviews, teams, views  # noqa: E402,F401  (routes register on import)
