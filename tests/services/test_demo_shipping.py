"""`flask seed-demo`'s shipping: two merchants' templates on their products, the demo buyer's
two addresses, and demo orders placed before fees existed keep shipping 0."""

from sqlalchemy import select

from shop.accounts.models import User
from shop.catalog.models import Merchant, Product, ShippingTemplate
from shop.orders import addresses, shipping
from shop.orders.models import Order
from shop.platform.base import utcnow
from shop.platform.extensions import db
from tests.services.test_demo_orders import seed


def test_demo_merchants_charge_shipping_and_the_buyer_has_two_addresses(ctx):
    created = seed(utcnow())
    assert created["shipping_templates"] == 2
    tea = db.session.execute(select(Merchant).where(Merchant.name == "山野茶舍")).scalar_one()
    [template] = shipping.templates_of(tea)
    products = db.session.execute(select(Product).where(Product.merchant_id == tea.id)).scalars()
    assert all(p.shipping_template_id == template.id for p in products)
    buyer = db.session.execute(select(User).where(User.phone == "13800000004")).scalar_one()
    book = addresses.addresses_of(buyer)
    assert len(book) == 2 and book[0].is_default and all(a.district_code for a in book)
    assert {o.shipping_cents for o in db.session.execute(select(Order)).scalars()} == {0}
    assert seed(utcnow())["shipping_templates"] == 0  # seeding again adds nothing
    assert len(db.session.execute(select(ShippingTemplate)).all()) == 2
