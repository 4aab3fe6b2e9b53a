"""The rate limits of signing in and up, and the words that say how long to wait.

Sign-in counts failures only, three ways: per address (one address trying many accounts,
LOGIN_LIMIT_PER_IP), per account and address together (LOGIN_LIMIT_PER_ACCOUNT_AND_IP: a
stranger elsewhere typing wrong passwords does not lock the owner out) and per account from
everywhere (LOGIN_LIMIT_PER_ACCOUNT, a much higher ceiling against guessing spread over many
addresses). Sign-up counts the accounts it creates (SIGNUP_LIMIT_PER_IP), not the attempts."""

from flask import current_app, g, request
from flask_limiter.util import get_remote_address

from shop.accounts import accounts
from shop.platform.errors import ValidationError


def _account_value() -> str:
    """The account named in the form, normalized (so "138 0013 8000" and "+8613800138000"
    share one budget)."""
    raw = request.form.get("account", "")
    try:
        _kind, value = accounts.normalize_account(raw)
    except ValidationError:
        value = raw.strip().lower()[:254]
    return value


def account_key() -> str:
    return "signin-account:" + _account_value()


def account_and_address_key() -> str:
    return f"signin-account-ip:{_account_value()}|{get_remote_address()}"


def signin_failed(_response) -> bool:
    return bool(g.get("signin_failed"))


def signed_up(_response) -> bool:
    return bool(g.get("signed_up"))


def login_limit_ip() -> str:
    return current_app.config["LOGIN_LIMIT_PER_IP"]


def login_limit_account_and_ip() -> str:
    return current_app.config["LOGIN_LIMIT_PER_ACCOUNT_AND_IP"]


def login_limit_account() -> str:
    return current_app.config["LOGIN_LIMIT_PER_ACCOUNT"]


def signup_limit() -> str:
    return current_app.config["SIGNUP_LIMIT_PER_IP"]
