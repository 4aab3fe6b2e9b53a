from flask import Blueprint

bp = Blueprint("inbox", __name__, url_prefix="/inbox")

from shop.web.inbox import settings, views  # noqa: E402,F401  (routes register on import)
