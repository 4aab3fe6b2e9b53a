from flask import Blueprint

bp = Blueprint("sharer", __name__, url_prefix="/me")

from shop.web.sharer import (  # noqa: E402,F401  (routes register on import)
    appeals,
    coupons,
    earnings,
    exports,
    materials,
    reviews,
    sheet,
    stats,
    team,
    views,
)
