"""Demo shipping: two merchants' templates (given to their products after the demo orders,
which were placed before fees existed) and a second address for the demo buyer."""

from datetime import datetime

from sqlalchemy import select

from shop.accounts.models import User
from shop.catalog.models import Merchant, Product, ShippingTemplate
from shop.orders import addresses, shipping
from shop.platform.extensions import db

REMOTE = ["650000", "540000", "630000"]  #: 新疆, 西藏, 青海
ABROAD = ["710000", "810000", "820000"]  #: 台湾, 香港, 澳门 (not delivered by these shops)
#: merchant name: (template, weight of each product in grams)
TEMPLATES = {
    "山野茶舍": (
        shipping.TemplateInput(
            "偏远地区加收", "regional", "piece", 600, 200, 0,
            {code: (2000, 1000) for code in REMOTE}, ABROAD,
        ),
        350,
    ),
    "清禾美妆": (
        shipping.TemplateInput("满99包邮", "free_over", "piece", 800, 0, 9900, {}, ABROAD),
        200,
    ),
}  # fmt: skip
#: The demo buyer's second address (the first comes with the demo orders).
BUYER_HOME = (
    "李同学",
    "13800000004",
    "330000",
    "330200",
    "330203",
    "海曙区中山西路 200 号 5 幢 301",
)


def seed_shipping(*, merchants: dict[str, Merchant], buyer: User, now: datetime) -> dict:
    made = 0
    for name, (data, grams) in TEMPLATES.items():
        merchant = merchants.get(name)
        if merchant is None:
            continue
        template = db.session.execute(
            select(ShippingTemplate).where(
                ShippingTemplate.merchant_id == merchant.id, ShippingTemplate.name == data.name
            )
        ).scalar_one_or_none()
        if template is not None:
            continue
        template = shipping.save_template(merchant, data)
        made += 1
        for product in db.session.execute(
            select(Product).where(Product.merchant_id == merchant.id)
        ).scalars():
            shipping.set_product_shipping(product, template, grams)
    addresses.save_address(buyer, addresses.check_address(*BUYER_HOME), now=now)
    return {"shipping_templates": made}
