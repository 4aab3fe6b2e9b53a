"""Share links: short random codes, one link per shop target and channel."""

import secrets
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shop.errors import ValidationError
from shop.extensions import db
from shop.models import Channel, Product, ShareLink, Shop

#: No 0/O, 1/l/I: a code read aloud or typed from a poster is unambiguous.
CODE_ALPHABET = "23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 8
CHANNEL_LABELS = {
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


def find_by_code(code: str) -> ShareLink | None:
    if not is_well_formed(code):
        return None
    return db.session.execute(select(ShareLink).where(ShareLink.code == code)).scalar_one_or_none()


def links_of_shop(shop: Shop) -> list[ShareLink]:
    return list(
        db.session.execute(
            select(ShareLink).where(ShareLink.shop_id == shop.id).order_by(ShareLink.id)
        ).scalars()
    )
