from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/auth")

# Routes register on import: the password and sign-up views, the SMS code views, the account page.
from shop.web.auth import account, code_views, views  # noqa: E402,F401
