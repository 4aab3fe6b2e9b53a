from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from shop.web.admin import appeals, exports, fraud, money, overview, reviews, teams, views  # noqa: E402,F401  (routes register on import)
