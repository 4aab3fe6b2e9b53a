"""Share links: short random codes, one link per shop target and channel."""

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shop.catalog.models import Merchant, Product
from shop.platform.errors import ValidationError
from shop.platform.extensions import db
from shop.sharing import shops
from shop.sharing.models import Channel, ShareLink, Shop

#: No 0/O, 1/l/I: a code read aloud or typed from a poster is unambiguous.
CODE_ALPHABET = "23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 8
CHANNEL_LABELS = {
    Channel.WECHAT_FRIEND: _l("WeChat friend"),
    Channel.WECHAT_GROUP: _l("WeChat group"),
    Channel.MOMENTS: _l("Moments"),
    Channel.POSTER: _l("Poster"),
    Channel.CUSTOM: _l("Custom"),
}


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def is_well_formed(code: str) -> bool:
    return len(code) == CODE_LENGTH and all(c in CODE_ALPHABET for c in code)


def channel_name(link: ShareLink) -> str:
    return link.label if link.channel == Channel.CUSTOM else str(CHANNEL_LABELS[link.channel])


def target_key(product: Product | None) -> str:
    return f"p{product.id}" if product is not None else "shop"


def clean_label(channel: Channel, label: str | None) -> str:
    if channel != Channel.CUSTOM:
        return ""
    label = " ".join((label or "").split())
    if not label:
        raise ValidationError(_l("Name the channel, e.g. 同事群."), "label")
    if len(label) > 20:
        raise ValidationError(_l("Use at most %(n)d characters.", n=20), "label")
    return label


def get_or_create_link(
    shop: Shop, product: Product | None, channel: Channel, *, label: str = "", now: datetime
) -> ShareLink:
    """The shop's link for this target and channel, made on first use.

    Races and code collisions are settled by the unique constraints: a concurrent creator's
    row is returned, a colliding code is drawn again.
    """
    label = clean_label(channel, label)
    key = target_key(product)
    query = select(ShareLink).where(
        ShareLink.shop_id == shop.id,
        ShareLink.target_key == key,
        ShareLink.channel == channel,
        ShareLink.label == label,
    )
    existing = db.session.execute(query).scalar_one_or_none()
    if existing is not None:
        return existing
    for _attempt in range(5):
        link = ShareLink(
            code=new_code(),
            sharer_id=shop.user_id,
            shop_id=shop.id,
            product_id=product.id if product is not None else None,
            target_key=key,
            channel=channel,
            label=label,
            created_at=now,
        )
        try:
            with db.session.begin_nested():
                db.session.add(link)
        except IntegrityError:
            existing = db.session.execute(query).scalar_one_or_none()
            if existing is not None:
                return existing
            continue  # the code collided with another link's: draw again
        return link
    raise RuntimeError("could not draw a free share code")


@dataclass(frozen=True)
class LinkTarget:
    """What following a link needs, read in one query: the link and where it leads."""

    id: int
    code: str
    channel: Channel
    sharer_id: int
    shop_slug: str
    product_id: int | None  #: None for the shop's own link
    gone: bool  #: the product is delisted or its merchant not approved (answer 410)


def resolve(code: str) -> LinkTarget | None:
    """The target of ``code`` in one indexed query, or None for a malformed or unknown code.
    Nothing is cached: a delisting or a new shop address counts from the next click."""
    if not is_well_formed(code):
        return None
    row = db.session.execute(
        select(
            ShareLink.id,
            ShareLink.channel,
            ShareLink.sharer_id,
            ShareLink.product_id,
            Shop.slug,
            Product.status,
            Product.stock,
            Merchant.status,
        )
        .join(Shop, Shop.id == ShareLink.shop_id)
        .outerjoin(Product, Product.id == ShareLink.product_id)
        .outerjoin(Merchant, Merchant.id == Product.merchant_id)
        .where(ShareLink.code == code)
    ).first()
    if row is None:
        return None
    link_id, channel, sharer_id, product_id, slug, status, stock, merchant_status = row
    gone = product_id is not None and (
        shops.unavailable_because(merchant_status, status, stock) in shops.GONE_REASONS
    )
    return LinkTarget(link_id, code, channel, sharer_id, slug, product_id, gone)


class TargetCache:
    """Recently resolved links of this process, each kept ``ttl`` seconds (LINK_CACHE_SECONDS),
    at most ``size`` of them, least recently used dropped first. Following a link is the
    hottest path of the shop; a product's delisting or a shop's new address reaches ``/r/``
    within ``ttl`` seconds, while the landing pages check both on every request."""

    def __init__(self, ttl: float, size: int = 20_000) -> None:
        self.ttl, self.size = ttl, size
        self._entries: OrderedDict[str, tuple[float, LinkTarget]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, code: str) -> LinkTarget | None:
        """The target of a well-formed, known ``code``; None otherwise (unknown codes are not
        remembered, so a link made a moment ago works at once)."""
        clock = time.monotonic()
        with self._lock:
            entry = self._entries.get(code)
            if entry is not None and entry[0] > clock:
                self._entries.move_to_end(code)
                return entry[1]
        target = resolve(code)
        if target is not None and self.ttl > 0:
            with self._lock:
                self._entries[code] = (clock + self.ttl, target)
                self._entries.move_to_end(code)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return target

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def resolve_cached(code: str) -> LinkTarget | None:
    """:func:`resolve` through this app's :class:`TargetCache`."""
    cache = current_app.extensions.get("link_targets")
    if cache is None:
        cache = TargetCache(float(current_app.config["LINK_CACHE_SECONDS"]))
        cache = current_app.extensions.setdefault("link_targets", cache)
    return cache.get(code)


def links_of_shop(shop: Shop) -> list[ShareLink]:
    return list(
        db.session.execute(
            select(ShareLink).where(ShareLink.shop_id == shop.id).order_by(ShareLink.id)
        ).scalars()
    )
