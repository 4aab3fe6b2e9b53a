"""Plain functions that make rows with sensible defaults; pass ``**overrides`` to change any."""

import io
import itertools

from PIL import Image as PILImage

from shop.accounts.models import User
from shop.catalog import images
from shop.catalog.models import (
    Category,
    Merchant,
    MerchantStatus,
    Product,
    ProductImage,
    ProductStatus,
)
from shop.platform.base import utcnow
from shop.platform.extensions import db, passwords
from shop.sharing.models import Shop

DEFAULT_PASSWORD = "correct-horse-42"
_seq = itertools.count(1)


def png_bytes(size=(64, 48), color=(200, 30, 40), fmt="PNG", **save) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", size, color).save(out, fmt, **save)
    return out.getvalue()


def make_user(**overrides) -> User:
    n = next(_seq)
    password = overrides.pop("password", DEFAULT_PASSWORD)
    fields = {
        "phone": f"139{n:08d}",
        "display_name": f"用户{n}",
        "password_hash": passwords.hash(password),
        "created_at": utcnow(),
    }
    fields.update(overrides)
    user = User(**fields)
    db.session.add(user)
    db.session.flush()
    return user


def make_category(**overrides) -> Category:
    n = next(_seq)
    fields = {"slug": f"cat-{n}", "name_zh": f"分类{n}", "name_en": f"Category {n}"}
    fields.update(overrides)
    category = Category(**fields)
    db.session.add(category)
    db.session.flush()
    return category


def make_merchant(**overrides) -> Merchant:
    from shop.demo.seed import demo_licence_no

    n = next(_seq)
    if "user_id" not in overrides and "user" not in overrides:
        overrides["user"] = make_user()
    fields = {
        "name": f"商家{n}",
        "licence_no": demo_licence_no(str(n)),
        "contact_name": "联系人",
        "contact_phone": "13812345678",
        "status": MerchantStatus.APPROVED,
        "submitted_at": utcnow(),
    }
    fields.update(overrides)
    merchant = Merchant(**fields)
    db.session.add(merchant)
    db.session.flush()
    return merchant


def make_product(**overrides) -> Product:
    n = next(_seq)
    with_image = overrides.pop("with_image", True)
    if "merchant" not in overrides and "merchant_id" not in overrides:
        overrides["merchant"] = make_merchant()
    if "category" not in overrides and "category_id" not in overrides:
        overrides["category"] = make_category()
    fields = {
        "title": f"商品{n}",
        "description": "好用",
        "price_cents": 9900,
        "original_price_cents": 12900,
        "stock": 10,
        "rebate_bps": 1000,
        "status": ProductStatus.LISTED,
        "created_at": utcnow(),
    }
    fields.update(overrides)
    product = Product(**fields)
    db.session.add(product)
    db.session.flush()
    if with_image:
        image = images.store_image(png_bytes(color=(n % 255, 80, 120)))
        product.images.append(ProductImage(image_id=image.id, position=0))
        db.session.flush()
    return product


def make_shop(**overrides) -> Shop:
    n = next(_seq)
    if "user" not in overrides and "user_id" not in overrides:
        overrides["user"] = make_user()
    fields = {"slug": f"shop-{n}", "name": f"小店{n}", "intro": ""}
    fields.update(overrides)
    shop = Shop(**fields)
    db.session.add(shop)
    db.session.flush()
    return shop


def make_completed_order(buyer=None, product=None, *, quantity=1, at=None, key=None):
    """An order of ``product`` by ``buyer`` taken through the real services: placed, paid in
    the sandbox, shipped and received at ``at`` (completed_at == at)."""
    from datetime import timedelta

    from shop.orders import checkout, states
    from tests.services.test_orders import ADDRESS, WINDOW, pay

    buyer = buyer or make_user()
    product = product or make_product(status=ProductStatus.LISTED)
    at = at or utcnow()
    placed_at = at - timedelta(days=3)
    [order] = checkout.place_order(
        buyer,
        [(product.id, quantity)],
        ADDRESS,
        checkout_key=key or f"k{next(_seq)}",
        provider="sandbox",
        visitor_id=None,
        now=placed_at,
        window=WINDOW,
        allow_self_purchase=True,
        pay_within=timedelta(minutes=30),
    )
    pay(order, at=placed_at + timedelta(minutes=1))
    states.ship(
        order, "顺丰速运", "SF100200300", actor=product.merchant.user, now=at - timedelta(days=1)
    )
    states.confirm_receipt(order, actor=buyer, now=at)
    return order


def make_review(product=None, *, buyer=None, rating=5, body="很好用", at=None, **overrides):
    """A published review by the buyer of a completed order of ``product``."""
    from shop.reviews import writing
    from shop.reviews.rules import Rules

    order = make_completed_order(buyer, product, at=at)
    return writing.write_review(
        order.items[0],
        actor=order.buyer,
        rating=rating,
        body=body,
        now=order.completed_at,
        rules=Rules(),
        **overrides,
    )


def make_shirt(**overrides) -> Product:
    """A product sold in colours and sizes: 红/蓝 x M/L; 红/L costs ¥69, the rest ¥59; stock
    5 each except 蓝/M, sold out. ``overrides`` go to make_product."""
    from shop.catalog import skus

    product = make_product(**{"title": "T 恤", "original_price_cents": None, **overrides})
    rows = [
        skus.CleanRow(
            (colour, size),
            6900 if (colour, size) == ("红", "L") else 5900,
            0 if (colour, size) == ("蓝", "M") else 5,
            None,
            None,
            None,
        )
        for colour in ("红", "蓝")
        for size in ("M", "L")
    ]
    skus.save(product, [("颜色", ["红", "蓝"]), ("尺码", ["M", "L"])], rows)
    return product


def sku_of(product: Product, *values: str):
    from shop.catalog import skus

    return skus.sku_for_values(product, list(values))
