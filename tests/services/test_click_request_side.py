"""What the share-link path keeps to make a click cheap gives what it gave before: the hashed
address (kept per address and secret) and the visitor cookie's MAC (its key's blocks hashed
once per app) are the plain HMACs."""

import base64
import hashlib
import hmac

from shop.sharing.clicks import hash_ip
from shop.web.storefront import sharing


def _plain_ip_hash(ip: str, secret: str) -> str:
    return hmac.new(secret.encode(), ip.encode(), hashlib.sha256).hexdigest()[:32]


def test_the_kept_address_hash_is_the_plain_hmac_under_each_secret():
    for secret in ("one secret", "another secret"):
        for ip in ("203.0.113.9", "2001:db8::1", ""):
            assert hash_ip(ip, secret) == _plain_ip_hash(ip, secret)
            assert hash_ip(ip, secret) == _plain_ip_hash(ip, secret)  # kept
    assert hash_ip("203.0.113.9", "one secret") != hash_ip("203.0.113.9", "another secret")


def test_the_visitor_cookie_mac_is_the_plain_hmac_of_the_derived_key(app):
    secret = app.config["SECRET_KEY"].encode()
    derived = hmac.new(secret, b"fenxiang visitor id", hashlib.sha256).digest()
    with app.app_context():
        for visitor in ("0" * 32, "0123456789abcdef" * 2):
            digest = hmac.new(derived, visitor.encode(), hashlib.sha256).digest()
            mac = base64.urlsafe_b64encode(digest[:18]).decode()
            assert sharing.visitor_cookie_value(visitor) == f"{visitor}.{mac}"
            assert sharing.visitor_id_from(f"{visitor}.{mac}") == visitor
