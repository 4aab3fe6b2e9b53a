"""Personal shops and their curation."""

import re
import secrets
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from shop.accounts import accounts
from shop.accounts.models import User
from shop.catalog import images
from shop.catalog.models import Merchant, MerchantStatus, Product, ProductImage, ProductStatus
from shop.platform.errors import ValidationError
from shop.platform.extensions import db
from shop.reviews.models import Review, ReviewKind, ReviewStatus
from shop.sharing.models import Shop, ShopItem

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,30})[a-z0-9]$")
#: Slugs that would read as the platform speaking.
RESERVED_SLUGS = frozenset(
    {
        "admin",
        "me",
        "shop",
        "shops",
        "fenxiang",
        "official",
        "help",
        "support",
        "merchant",
        "api",
        "static",
        "media",
        "kefu",
    }
)
MAX_RECOMMENDATION = 300


def shop_of(user: User) -> Shop | None:
    return db.session.execute(select(Shop).where(Shop.user_id == user.id)).scalar_one_or_none()


def find_by_slug(slug: str) -> Shop | None:
    return db.session.execute(
        select(Shop).options(joinedload(Shop.user)).where(Shop.slug == slug.lower())
    ).scalar_one_or_none()


def find_with_item(slug: str, product_id: int) -> tuple[Shop, ShopItem | None] | None:
    """The shop at ``slug`` (with its owner) and its item for the product, in one query; None
    when no shop has that address."""
    row = db.session.execute(
        select(Shop, ShopItem)
        .outerjoin(ShopItem, (ShopItem.shop_id == Shop.id) & (ShopItem.product_id == product_id))
        .options(joinedload(Shop.user))
        .where(Shop.slug == slug.lower())
    ).first()
    return None if row is None else (row[0], row[1])


def random_slug() -> str:
    return "u" + "".join(secrets.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(7))


def check_slug(raw: str) -> str:
    slug = (raw or "").strip().lower()
    if not SLUG_RE.match(slug):
        raise ValidationError(
            _l("Use 3 to 32 letters, digits or hyphens; start and end with a letter or digit."),
            "slug",
        )
    if slug in RESERVED_SLUGS:
        raise ValidationError(_l("This address is reserved. Choose another."), "slug")
    return slug


def _check_text(name: str, intro: str) -> tuple[str, str]:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError(_l("Name your shop."), "name")
    if len(name) > 30:
        raise ValidationError(_l("Use at most %(n)d characters.", n=30), "name")
    intro = (intro or "").strip()
    if len(intro) > 200:
        raise ValidationError(_l("Use at most %(n)d characters.", n=200), "intro")
    return name, intro


def save_shop(
    user: User, *, name: str, slug: str, intro: str, avatar: bytes | None, now: datetime
) -> Shop:
    """Open the user's shop, or update it. The slug must be free (case-insensitively)."""
    name, intro = _check_text(name, intro)
    accounts.check_public_name(name, field="name", by_admin=user.is_admin)
    slug = check_slug(slug)
    shop = shop_of(user)
    taken = db.session.execute(
        select(Shop.id).where(Shop.slug == slug, Shop.user_id != user.id)
    ).first()
    if taken:
        raise ValidationError(_l("This address is taken. Choose another."), "slug")
    avatar_image = (
        images.store_image(avatar, field="avatar", uploaded_by_id=user.id) if avatar else None
    )
    if shop is None:
        shop = Shop(user_id=user.id, created_at=now)
        db.session.add(shop)
    shop.name, shop.slug, shop.intro = name, slug, intro
    if avatar_image is not None:
        shop.avatar_image_id = avatar_image.id
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise ValidationError(_l("This address is taken. Choose another."), "slug") from None
    return shop


# --- availability --------------------------------------------------------------------------

UNAVAILABLE_LABELS = {
    "delisted": _l("Delisted by the merchant"),
    "sold_out": _l("Sold out"),
    "merchant": _l("Merchant suspended"),
}


def unavailable_reason(product: Product) -> str | None:
    """Why a product cannot be shown or bought now, or None when it can."""
    return unavailable_because(product.merchant.status, product.status, product.stock)


def unavailable_because(
    merchant_status: MerchantStatus, status: ProductStatus, stock: int
) -> str | None:
    """:func:`unavailable_reason` from the three columns it reads (for callers that fetched
    them in one query instead of loading the objects)."""
    if merchant_status != MerchantStatus.APPROVED:
        return "merchant"
    if status != ProductStatus.LISTED:
        return "delisted"
    if stock <= 0:
        return "sold_out"
    return None


#: Reasons that make pages naming the product answer 410. Sold out is not gone: it may come
#: back, and the page says so.
GONE_REASONS = frozenset({"delisted", "merchant"})


def is_gone(product: Product) -> bool:
    """Delisted, or its merchant is not approved."""
    return unavailable_reason(product) in GONE_REASONS


# --- curation ------------------------------------------------------------------------------


def _items_query(shop: Shop):
    return (
        select(ShopItem)
        .where(ShopItem.shop_id == shop.id)
        .options(
            joinedload(ShopItem.product).joinedload(Product.merchant),
            joinedload(ShopItem.product)
            .selectinload(Product.images)
            .joinedload(ProductImage.image),
        )
        .order_by(ShopItem.is_pinned.desc(), ShopItem.position, ShopItem.id)
    )


def console_items(shop: Shop) -> list[tuple[ShopItem, str | None]]:
    """Every item, pinned first, with the reason it is hidden from the public (or None)."""
    items = db.session.execute(_items_query(shop)).unique().scalars()
    return [(item, unavailable_reason(item.product)) for item in items]


def public_items(shop: Shop) -> list[ShopItem]:
    """What visitors see: available products only, pinned first."""
    query = (
        _items_query(shop)
        .join(Product, Product.id == ShopItem.product_id)
        .join(Merchant, Merchant.id == Product.merchant_id)
        .where(
            Product.status == ProductStatus.LISTED,
            Product.stock > 0,
            Merchant.status == MerchantStatus.APPROVED,
        )
        .options(selectinload(ShopItem.quote_review).selectinload(Review.author))
    )
    return list(db.session.execute(query).unique().scalars())


def item_product_ids(shop_id: int) -> tuple[int, ...]:
    """The products of every item of the shop, listed or not, in id order."""
    return tuple(
        db.session.execute(
            select(ShopItem.product_id)
            .where(ShopItem.shop_id == shop_id)
            .order_by(ShopItem.product_id)
        ).scalars()
    )


def find_item(shop: Shop, product_id: int) -> ShopItem | None:
    return db.session.execute(
        select(ShopItem).where(ShopItem.shop_id == shop.id, ShopItem.product_id == product_id)
    ).scalar_one_or_none()


def _check_recommendation(text: str | None) -> str:
    text = (text or "").strip()
    if len(text) > MAX_RECOMMENDATION:
        raise ValidationError(
            _l("Use at most %(n)d characters.", n=MAX_RECOMMENDATION), "recommendation"
        )
    return text


def add_item(shop: Shop, product: Product, *, recommendation: str = "", now: datetime) -> ShopItem:
    """Put a product in the shop (at the end). Only products buyers can buy now."""
    if unavailable_reason(product) is not None:
        raise ValidationError(_l("This product is not available, so it cannot be added."))
    if find_item(shop, product.id) is not None:
        raise ValidationError(_l("This product is already in your shop."))
    last = db.session.execute(
        select(func.max(ShopItem.position)).where(ShopItem.shop_id == shop.id)
    ).scalar()
    item = ShopItem(
        shop_id=shop.id,
        product_id=product.id,
        recommendation=_check_recommendation(recommendation),
        position=(last if last is not None else -1) + 1,
        created_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(item)
    except IntegrityError:
        raise ValidationError(_l("This product is already in your shop.")) from None
    return item


def edit_recommendation(item: ShopItem, text: str) -> None:
    item.recommendation = _check_recommendation(text)


def set_pinned(item: ShopItem, pinned: bool) -> None:
    item.is_pinned = pinned


def move_item(item: ShopItem, direction: int) -> None:
    """Swap the item with its neighbour (-1 up, +1 down) within its group (pinned or not)."""
    siblings = [
        i
        for i in db.session.execute(
            select(ShopItem)
            .where(ShopItem.shop_id == item.shop_id, ShopItem.is_pinned == item.is_pinned)
            .order_by(ShopItem.position, ShopItem.id)
        ).scalars()
    ]
    index = siblings.index(item)
    other = index + (1 if direction > 0 else -1)
    if not 0 <= other < len(siblings):
        return
    siblings[index], siblings[other] = siblings[other], siblings[index]
    for position, sibling in enumerate(siblings):
        sibling.position = position


def reorder_items(shop: Shop, item_ids: list[int]) -> None:
    """Put the shop's items in the order of ``item_ids``, which must name each of them once
    (ValidationError otherwise: another shop's id, a repeat, or a list made before an item
    was added or removed). Pinned items stay above the others whatever the order."""
    items = {
        i.id: i
        for i in db.session.execute(select(ShopItem).where(ShopItem.shop_id == shop.id)).scalars()
    }
    if sorted(item_ids) != sorted(items):
        raise ValidationError(_l("Your shop changed meanwhile; the order was not saved."))
    for position, item_id in enumerate(item_ids):
        items[item_id].position = position


def remove_item(item: ShopItem) -> None:
    db.session.delete(item)


def set_review_display(item: ShopItem, *, show_rating: bool, quote: Review | None) -> None:
    """Whether ``item`` shows its product's rating, and which review it quotes (None: none).

    Raises ValidationError when ``quote`` is not a published review, with words, of the
    item's product. A quote that is hidden later simply stops showing
    (shop.reviews.reading.shown_quote).
    """
    if quote is not None and (
        quote.product_id != item.product_id
        or quote.kind != ReviewKind.INITIAL
        or quote.status != ReviewStatus.PUBLISHED
        or not quote.body
    ):
        raise ValidationError(_l("Choose a published review of this product."), "quote")
    item.show_rating = bool(show_rating)
    item.quote_review_id = quote.id if quote else None
    db.session.flush()


def is_sharer(user: User | None) -> bool:
    """Whether ``user`` is a sharer: a signed-in user who has a shop. None (or an anonymous
    user) is not."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    query = select(Shop.id).where(Shop.user_id == user.id).limit(1)
    return db.session.execute(query).first() is not None
