"""Shipping fees: every template kind, by piece and by weight, regions with other fees and
regions not delivered to; the order's snapshot (goods + shipping = total) and the rebate,
which is worked out on the goods and never on shipping."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from shop.catalog.models import ShippingBasis, ShippingKind, ShippingTemplate
from shop.money import ledger
from shop.money.models import LedgerEntry
from shop.orders import addresses, shipping
from shop.orders.models import Order
from shop.platform.errors import ValidationError
from shop.platform.extensions import db
from tests import invariants
from tests.factories import make_merchant, make_product, make_user
from tests.services.test_orders import NOW, WINDOW, pay, shared_click

ZJ, XJ, XZ, GD = "330000", "650000", "540000", "440000"
WEST_LAKE = addresses.check_address("王小二", "13912345678", ZJ, "330100", "330106", "文三路 90 号")
URUMQI = addresses.check_address("王小二", "13912345678", XJ, "650100", "650102", "友好北路 1 号")


def template(**fields) -> ShippingTemplate:
    values = {
        "name": "模板",
        "kind": ShippingKind.FLAT,
        "basis": ShippingBasis.PIECE,
        "first_fee_cents": 800,
        "extra_fee_cents": 200,
        "free_over_cents": 0,
        "region_fees": {},
        "unreachable": [],
    }
    values.update(fields)
    return ShippingTemplate(**values)


def fee(t, province=ZJ, pieces=1, grams=0, goods=10000):
    return shipping.template_fee(t, province, pieces=pieces, grams=grams, goods_cents=goods)


def test_no_template_and_free_templates_ship_free():
    assert fee(None) == 0
    assert fee(template(kind=ShippingKind.FREE), pieces=5) == 0


def test_flat_fee_by_piece_first_and_each_more():
    t = template()
    assert [fee(t, pieces=n) for n in (1, 2, 5)] == [800, 1000, 1600]


def test_flat_fee_by_weight_counts_started_kilograms():
    t = template(basis=ShippingBasis.WEIGHT, first_fee_cents=1000, extra_fee_cents=500)
    assert fee(t, grams=0) == 1000  # unknown weight: the first kilogram
    assert fee(t, grams=1000) == 1000
    assert fee(t, grams=1001) == 1500
    assert fee(t, grams=3500) == 2500


def test_free_over_an_amount():
    t = template(kind=ShippingKind.FREE_OVER, free_over_cents=9900)
    assert fee(t, goods=9899) == 800
    assert fee(t, goods=9900) == 0


def test_fees_by_province_and_the_base_fee_elsewhere():
    t = template(kind=ShippingKind.REGIONAL, region_fees={XJ: [2000, 1000]})
    assert fee(t, province=XJ, pieces=2) == 3000
    assert fee(t, province=GD, pieces=2) == 1000
    assert fee(t, province="", pieces=1) == 800  # no address yet: the base fee


@pytest.mark.parametrize("kind", list(ShippingKind))
def test_regions_not_delivered_to_whatever_the_kind(kind):
    t = template(kind=kind, free_over_cents=1, unreachable=[XZ])
    assert fee(t, province=XZ) is None
    assert fee(t, province=ZJ) is not None


def test_order_fee_sums_templates_and_refuses_an_unreachable_region(ctx):
    merchant = make_merchant()
    flat = template(merchant_id=merchant.id)
    heavy = template(
        merchant_id=merchant.id,
        basis=ShippingBasis.WEIGHT,
        first_fee_cents=1200,
        extra_fee_cents=600,
        unreachable=[XJ],
    )
    db.session.add_all([flat, heavy])
    db.session.flush()
    tea = make_product(merchant=merchant, shipping_template_id=flat.id)
    rice = make_product(merchant=merchant, shipping_template_id=heavy.id, weight_grams=2500)
    free = make_product(merchant=merchant)
    lines = [(tea, 2), (rice, 1), (free, 3)]
    assert shipping.order_fee(merchant, lines, ZJ) == 1000 + 2400 + 0
    with pytest.raises(shipping.Unreachable) as caught:
        shipping.order_fee(merchant, lines, XJ)
    assert caught.value.field == "address" and "新疆" in str(caught.value.message)


def test_product_hint_for_a_buyer_and_for_anyone(ctx):
    merchant = make_merchant()
    t = template(merchant_id=merchant.id, kind=ShippingKind.REGIONAL, region_fees={XJ: [2000, 0]})
    db.session.add(t)
    db.session.flush()
    product = make_product(merchant=merchant, shipping_template_id=t.id)
    assert shipping.product_hint(product, ZJ) == shipping.FeeHint("fee", 800, "浙江省")
    assert shipping.product_hint(product, "").kind == "from"  # more to some provinces
    t.unreachable = [XZ]
    assert shipping.product_hint(product, XZ).kind == "unreachable"
    assert shipping.product_hint(make_product(merchant=merchant)).kind == "free"


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"kind": ShippingKind.FREE},
        {"basis": ShippingBasis.WEIGHT, "first_fee_cents": 1000, "extra_fee_cents": 500},
        {"kind": ShippingKind.FREE_OVER, "free_over_cents": 25000},
        {"kind": ShippingKind.FREE_OVER, "free_over_cents": 0},
        {"kind": ShippingKind.FREE_OVER, "free_over_cents": 10**9},
        {"kind": ShippingKind.REGIONAL, "region_fees": {XJ: [2000, 700]}},
        {"kind": ShippingKind.REGIONAL, "basis": ShippingBasis.WEIGHT, "region_fees": {ZJ: [1, 2]}},
        {"unreachable": [XZ]},
    ],
)
def test_fee_table_is_template_fee_for_every_quantity(ctx, fields):
    """The buy-now page's fees by quantity are the fees an order of that quantity pays."""
    merchant = make_merchant()
    t = template(merchant_id=merchant.id, **fields)
    db.session.add(t)
    db.session.flush()
    for grams in (0, 350, 1000, 2600):
        product = make_product(
            merchant=merchant, shipping_template_id=t.id, weight_grams=grams, price_cents=9900
        )
        for province in (ZJ, XJ, XZ, GD, ""):
            expected = [
                fee(t, province, pieces=q, grams=grams * q, goods=9900 * q) for q in range(1, 41)
            ]
            assert shipping.fee_table(product, province, 40) == expected
    assert shipping.fee_table(make_product(merchant=merchant), ZJ, 3) == [0, 0, 0]


def test_template_input_is_checked():
    good = shipping.TemplateInput("江浙沪包邮", "free_over", "piece", 800, 0, 9900, {}, [XZ])
    assert shipping.check_template(good).name == "江浙沪包邮"
    for field, change in (
        ("name", {"name": " "}),
        ("kind", {"kind": "cheap"}),
        ("free_over", {"free_over_cents": 0}),
        ("region_fees", {"kind": "regional", "region_fees": {"999999": (1, 1)}}),
        ("unreachable", {"unreachable": ["330100"]}),
    ):
        values = {**good.__dict__, **change}
        with pytest.raises(ValidationError) as caught:
            shipping.check_template(shipping.TemplateInput(**values))
        assert caught.value.field == field
    assert shipping.parse_fee("１２.５", "f") == 1250 and shipping.parse_fee("", "f") == 0
    with pytest.raises(ValidationError):
        shipping.parse_fee("-1", "f")


def place(buyer, lines, address, *, key, note=""):
    from shop.orders import checkout

    return checkout.place_order(
        buyer,
        lines,
        address,
        checkout_key=key,
        provider="sandbox",
        visitor_id="v" * 32,
        now=NOW,
        window=WINDOW,
        allow_self_purchase=True,
        pay_within=timedelta(minutes=30),
        note=note,
    )


def test_order_snapshots_shipping_and_the_rebate_is_on_goods_only(ctx):
    merchant = make_merchant()
    t = template(merchant_id=merchant.id, first_fee_cents=1500, extra_fee_cents=500)
    db.session.add(t)
    db.session.flush()
    product = make_product(
        merchant=merchant, price_cents=10000, rebate_bps=1000, shipping_template_id=t.id
    )
    sharer = shared_click(product, at=NOW - timedelta(hours=1))
    [order] = place(make_user(), [(product.id, 2)], WEST_LAKE, key="ship-1", note=" 请 周末送 ")
    assert (order.goods_cents, order.shipping_cents, order.total_cents) == (20000, 2000, 22000)
    assert order.buyer_note == "请 周末送" and order.ship_region_code == "330106"
    # The template changes later: the order keeps what it was placed with.
    t.first_fee_cents = 9900
    db.session.flush()
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.shipping_cents == 2000
    assert pay(order).outcome == "paid"
    # 10% of the goods (¥200.00), not of the ¥220.00 paid with shipping.
    assert ledger.balances(sharer.id).estimated_cents == 2000
    assert sum(i.rebate_cents for i in order.items) == 2000
    amounts = db.session.execute(select(LedgerEntry.amount_cents)).scalars().all()
    assert sum(amounts) == 2000
    invariants.check(db.session)


def test_an_unreachable_region_places_nothing(ctx):
    merchant = make_merchant()
    t = template(merchant_id=merchant.id, unreachable=[XJ])
    db.session.add(t)
    db.session.flush()
    product = make_product(merchant=merchant, stock=5, shipping_template_id=t.id)
    with pytest.raises(shipping.Unreachable):
        place(make_user(), [(product.id, 1)], URUMQI, key="ship-2")
    db.session.refresh(product)
    assert product.stock == 5 and not db.session.execute(select(Order)).all()


def test_templates_are_saved_deleted_and_assigned_within_the_merchant(ctx):
    merchant, other = make_merchant(), make_merchant()
    data = shipping.TemplateInput("偏远不发", "flat", "weight", 1000, 500, 0, {}, [XZ, XJ])
    saved = shipping.save_template(merchant, data)
    assert saved.unreachable == [XZ, XJ] or saved.unreachable == sorted([XZ, XJ])
    product = make_product(merchant=merchant)
    shipping.set_product_shipping(product, saved, 1500)
    assert product.shipping_template_id == saved.id and product.weight_grams == 1500
    with pytest.raises(shipping.NotFound):
        shipping.own_template(other, saved.id)
    with pytest.raises(shipping.NotFound):
        shipping.set_product_shipping(make_product(merchant=other), saved, 0)
    shipping.delete_template(saved)
    db.session.expire_all()
    assert db.session.get(type(product), product.id).shipping_template_id is None
