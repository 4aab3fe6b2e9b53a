from flask import Blueprint

bp = Blueprint("sharer", __name__, url_prefix="/me")

from shop.web.sharer import appeals, earnings, exports, reviews, stats, team, views  # noqa: E402,F401  (routes register on import)
