"""The keys of posters already drawn, kept by each worker for the thin path
(shop.web.sharer.posterpath): the Flask path (shop.web.sharer.sheet) keeps the key it worked
out under the inputs it drew from, with the change stamps (shop.platform.stamps) of the product,
the shop's items and everything read before it read the rest; the thin path uses a key only for
equal inputs while those stamps are unchanged."""

import threading
import time
from datetime import datetime

from flask import Flask
from sqlalchemy import bindparam, inspect

from shop.orders.models import Coupon, CouponAttachment
from shop.platform import stamps

#: Where kept keys live in ``app.extensions``; at most KEPT_MAX of them per worker.
CACHE = "poster_keys"
KEPT_MAX = 4096
#: How long a key is kept when the stamps are this process's own (as landing pages are).
SHORT_SECONDS = 10.0
#: Conditions only Flask answers (If-None-Match alone the thin path answers too: its 304).
_CONDITIONAL = (
    "HTTP_RANGE",
    "HTTP_IF_RANGE",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_MATCH",
    "HTTP_IF_UNMODIFIED_SINCE",
)
#: What the poster shows of the link and the shop (the rest is under the stamps).
LINK_FIELDS = ("id", "code", "product_id", "poster_template")
SHOP_FIELDS = ("id", "name", "intro", "avatar_image_id")
COUPON_FIELDS = tuple(attribute.key for attribute in inspect(Coupon).column_attrs)


# --- the kept keys (filled by the Flask path, shop.web.sharer.sheet) --------------------------


class KeptKeys:
    """Poster keys by their inputs, each with the stamps read before it was worked out."""

    def __init__(self):
        self._kept: dict[tuple, tuple[tuple, str]] = {}
        self._lock = threading.Lock()

    def put(self, inputs: tuple, read: tuple, key: str, seconds: float) -> None:
        with self._lock:
            if len(self._kept) >= KEPT_MAX:
                self._kept.clear()  # a worker keeps its sharers' posters, not every poster
            self._kept[inputs] = (read, key, time.monotonic() + seconds)

    def get(self, inputs: tuple, read: tuple) -> str | None:
        found = self._kept.get(inputs)
        if found is None or found[0] != read or time.monotonic() >= found[2]:
            return None
        return found[1]


def keep_seconds(app: Flask, found: stamps.Stamps) -> float:
    """How long a key is kept: POSTER_KEY_SECONDS, at most SHORT_SECONDS while the stamps are
    this process's own (their folder could not be used: other workers' changes go unseen)."""
    seconds = float(app.config["POSTER_KEY_SECONDS"])
    return seconds if found.shared else min(seconds, SHORT_SECONDS)


def kept_keys(app: Flask) -> KeptKeys:
    found = app.extensions.get(CACHE)
    if found is None:
        found = app.extensions.setdefault(CACHE, KeptKeys())
    return found


def poster_inputs(
    link, shop, display_name: str, item_id, coupon, locale: str, scheme: str, host: str
) -> tuple:
    """Everything a link's poster is drawn from that its stamps do not cover: the same tuple
    from the Flask path's objects and from this path's row (``link``, ``shop``: either;
    ``coupon``: a Coupon or its COUPON_FIELDS' values)."""
    return (
        tuple(getattr(link, name) for name in LINK_FIELDS),
        tuple(getattr(shop, name) for name in SHOP_FIELDS),
        display_name,
        item_id,
        coupon if coupon is None or isinstance(coupon, tuple) else _coupon_values(coupon),
        locale,
        scheme,
        host,
    )


def _coupon_values(coupon: Coupon) -> tuple:
    return tuple(getattr(coupon, name) for name in COUPON_FIELDS)


def read_stamps(found: stamps.Stamps, product_id: int | None, shop_id: int) -> tuple:
    """The stamps a link's poster is kept under: its product's, its shop's items' and the one
    for everything."""
    keys: list = [stamps.shop_stamp(shop_id)]
    if product_id is not None:
        keys.insert(0, product_id)
    return found.read_many(keys)


def with_shown_coupons(statement, link, item):
    """``statement`` (a select that joins the share link ``link`` and its shop item ``item``,
    outer) with the coupons shop.orders.coupons.shown_coupon weighs for them outer-joined, so
    one round trip asks for both: COUPON_FIELDS' columns (labelled ``coupon_<field>``) and the
    attachment's link id added at its end, NULL when none is open. A row per coupon (at most
    two: a link's and an item's), the rest of each row the same."""
    attached = (CouponAttachment.link_id == link.id) | (CouponAttachment.shop_item_id == item.id)
    is_open = (
        (Coupon.id == CouponAttachment.coupon_id)
        & Coupon.is_active.is_(True)
        & (Coupon.ends_at > bindparam("now"))
    )
    return (
        statement.add_columns(
            *(getattr(Coupon, name).label(f"coupon_{name}") for name in COUPON_FIELDS),
            CouponAttachment.link_id.label("coupon_link_id"),
        )
        .outerjoin(CouponAttachment, attached)
        .outerjoin(Coupon, is_open)
    )


_STARTS_AT = COUPON_FIELDS.index("starts_at")


def chosen_coupon(found, link_id: int, now: datetime) -> tuple | None:
    """shown_coupon's choice among ``found`` ((COUPON_FIELDS' values, the attachment's link
    id) of each open coupon), as COUPON_FIELDS' values: the link's first (its attachment row
    names the link), then the item's; only one that has started."""
    for values, on_link in sorted(found, key=lambda pair: pair[1] is None):
        if (on_link is None or on_link == link_id) and values[_STARTS_AT] <= now:
            return values
    return None


def eligible(environ) -> bool:
    """Whether this path could answer a request like this one (so the Flask path keeps its
    key for the next): a plain GET of the poster, or one that asks whether it changed
    (``If-None-Match``, as a browser revalidates a ``no-cache`` answer)."""
    return (
        environ.get("REQUEST_METHOD") == "GET"
        and not environ.get("QUERY_STRING")
        and not environ.get("SCRIPT_NAME")
        and not any(environ.get(name) for name in _CONDITIONAL)
    )
