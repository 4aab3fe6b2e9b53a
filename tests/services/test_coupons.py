"""Merchant coupons: making them, claiming (counts, limits, bad input), attaching them to a
sharer's item or link, using them at checkout (discount, rebate on the price paid), and what a
cancel or a refund does to them."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from shop.money import ledger
from shop.orders import coupons, states
from shop.orders.models import CouponClaim
from shop.platform.errors import NotFound, ValidationError
from shop.platform.extensions import db
from shop.sharing import links, shops
from shop.sharing.models import Channel
from tests import invariants
from tests.factories import make_merchant, make_product, make_shop, make_user
from tests.services.test_orders import NOW, pay, place, shared_click


@pytest.fixture(autouse=True)
def _check_invariants(ctx):
    yield
    db.session.flush()
    invariants.check(db.session)


def coupon_of(product=None, merchant=None, *, off=1000, threshold=0, count=10, per_buyer=1):
    merchant = merchant or product.merchant
    return coupons.create_coupon(
        merchant,
        product_id=product.id if product else None,
        off_cents=off,
        threshold_cents=threshold,
        total_count=count,
        per_buyer=per_buyer,
        starts_at=NOW - timedelta(days=1),
        ends_at=NOW + timedelta(days=7),
        now=NOW,
    )


def test_spread_is_proportional_whole_fen_and_the_remainder_goes_to_the_largest_line():
    assert coupons.spread(1000, [3000, 7000]) == [300, 700]
    assert coupons.spread(100, [1000, 1000, 1000]) == [34, 33, 33]  # equal: the first
    assert coupons.spread(100, [1000, 2000, 1000]) == [25, 50, 25]
    assert coupons.spread(101, [1000, 2000, 1000]) == [25, 51, 25]
    assert coupons.spread(2, [1, 1, 1]) == [1, 1, 0]  # no share above its line
    assert coupons.spread(0, [500]) == [0]
    for discount, amounts in ((999, [333, 334, 335]), (7, [1, 2, 4]), (40, [17, 29, 3])):
        shares = coupons.spread(discount, amounts)
        assert sum(shares) == discount
        assert all(0 <= s <= a for s, a in zip(shares, amounts, strict=True))


def test_bad_coupons_are_refused_with_their_field(ctx):
    product = make_product(price_cents=5000)
    other = make_product()
    bad = [
        (dict(product_id=other.id), "product_id"),
        (dict(off_cents=0), "off"),
        (dict(threshold_cents=500, off_cents=500), "off"),
        (dict(total_count=0), "total_count"),
        (dict(per_buyer=11), "per_buyer"),
        (dict(ends_at=NOW - timedelta(days=2)), "ends_at"),
        (dict(ends_at=NOW - timedelta(hours=1), starts_at=NOW - timedelta(hours=2)), "ends_at"),
    ]
    for change, field in bad:
        fields = dict(
            product_id=product.id, off_cents=1000, threshold_cents=0, total_count=10,
            per_buyer=1, starts_at=NOW - timedelta(days=1), ends_at=NOW + timedelta(days=1),
        )  # fmt: skip
        fields.update(change)
        with pytest.raises(ValidationError) as caught:
            coupons.create_coupon(product.merchant, now=NOW, **fields)
        assert caught.value.field == field, change


def test_claims_count_down_and_refuse_twice_used_up_and_expired(ctx):
    coupon = coupon_of(make_product(), count=2, per_buyer=1)
    buyer = make_user()
    coupons.claim(coupon, buyer=buyer, now=NOW)
    with pytest.raises(ValidationError, match="已经领过"):
        coupons.claim(coupon, buyer=buyer, now=NOW)
    coupons.claim(coupon, buyer=make_user(), now=NOW)
    with pytest.raises(ValidationError, match="已被领完"):
        coupons.claim(coupon, buyer=make_user(), now=NOW)
    db.session.refresh(coupon)
    assert coupon.remaining == 0
    later = coupon_of(make_product())
    with pytest.raises(ValidationError, match="已过期"):
        coupons.claim(later, buyer=make_user(), now=NOW + timedelta(days=8))


def test_checkout_takes_the_discount_and_the_rebate_is_on_the_price_paid(ctx):
    merchant = make_merchant()
    cheap = make_product(merchant=merchant, price_cents=3000, rebate_bps=1000, stock=10)
    dear = make_product(merchant=merchant, price_cents=7001, rebate_bps=2000, stock=10)
    coupon = coupon_of(merchant=merchant, off=1001, threshold=9000)
    buyer = make_user()
    claim = coupons.claim(coupon, buyer=buyer, now=NOW)
    found, best = coupons.choices(buyer, merchant.id, {cheap.id: 3000, dear.id: 7001}, now=NOW)
    assert best.claim.id == claim.id and best.discount_cents == 1001
    [order] = place(buyer, [(cheap.id, 1), (dear.id, 1)], coupons={merchant.id: claim.id})
    assert (order.goods_cents, order.discount_cents, order.coupon_id) == (10001, 1001, coupon.id)
    assert order.total_cents == 10001 - 1001 + order.shipping_cents
    lines = {item.product_id: item for item in order.items}
    # 1001 x 3000/10001 = 300.27 -> 300; the remainder (701) to the largest line.
    assert (lines[cheap.id].discount_cents, lines[dear.id].discount_cents) == (300, 701)
    assert lines[cheap.id].rebate_cents == (3000 - 300) * 1000 // 10000  # 270, not 300
    assert lines[dear.id].rebate_cents == (7001 - 701) * 2000 // 10000  # 1260, not 1400
    db.session.refresh(claim)
    assert claim.order_id == order.id
    with pytest.raises(ValidationError, match="已经用过"):
        place(buyer, [(cheap.id, 1), (dear.id, 1)], key="k2", coupons={merchant.id: claim.id})


def test_a_checkout_of_three_shops_one_with_a_coupon_writes_each_order_its_own_lines(ctx):
    """Orders, items and events are written one INSERT per table (shop.orders.placing): each
    order gets its own items, event, coupon and totals, in merchant order."""
    a, b, c = make_merchant(), make_merchant(), make_merchant()
    pa = make_product(merchant=a, price_cents=5000, stock=10)
    pb1 = make_product(merchant=b, price_cents=2000, stock=10)
    pb2 = make_product(merchant=b, price_cents=3000, stock=10)
    pc = make_product(merchant=c, price_cents=900, stock=10)
    buyer = make_user()
    claim = coupons.claim(coupon_of(merchant=b, off=500), buyer=buyer, now=NOW)
    lines = [(pc.id, 1), (pb1.id, 2), (pa.id, 3), (pb2.id, 1)]
    orders = place(buyer, lines, coupons={b.id: claim.id})
    db.session.expire_all()  # what was written, not what the session remembers
    assert [o.merchant_id for o in orders] == sorted([a.id, b.id, c.id])
    by = {o.merchant_id: o for o in orders}
    assert [(i.product_id, i.quantity) for i in by[a.id].items] == [(pa.id, 3)]
    assert [(i.product_id, i.quantity) for i in by[b.id].items] == [(pb1.id, 2), (pb2.id, 1)]
    assert [(i.product_id, i.quantity) for i in by[c.id].items] == [(pc.id, 1)]
    assert (by[b.id].coupon_id, by[b.id].discount_cents) == (claim.coupon_id, 500)
    assert sum(i.discount_cents for i in by[b.id].items) == 500
    assert [(o.coupon_id, o.discount_cents) for o in (by[a.id], by[c.id])] == [(None, 0)] * 2
    for order, goods in ((by[a.id], 15000), (by[b.id], 7000), (by[c.id], 900)):
        assert order.goods_cents == goods
        assert order.total_cents == goods - order.discount_cents + order.shipping_cents
        assert [(e.from_status, e.to_status, e.actor_id) for e in order.events] == [
            (None, "placed", buyer.id)
        ]
    assert (pa.stock, pb1.stock, pb2.stock, pc.stock) == (7, 8, 9, 9)


def test_a_product_coupon_is_spread_over_its_product_only_and_the_sharer_earns_on_it(ctx):
    merchant = make_merchant()
    shared = make_product(merchant=merchant, price_cents=10000, rebate_bps=1000, stock=5)
    other = make_product(merchant=merchant, price_cents=5000, rebate_bps=1000, stock=5)
    coupon = coupon_of(shared, off=2000)
    sharer = shared_click(shared)
    buyer = make_user()
    claim = coupons.claim(coupon, buyer=buyer, now=NOW)
    [order] = place(
        buyer, [(shared.id, 1), (other.id, 1)], visitor="v" * 32, coupons={merchant.id: claim.id}
    )
    lines = {item.product_id: item for item in order.items}
    assert (lines[shared.id].discount_cents, lines[other.id].discount_cents) == (2000, 0)
    pay(order)
    assert ledger.balances(sharer.id).estimated_cents == 800 + 500


def test_bad_coupons_at_checkout(ctx):
    merchant = make_merchant()
    product = make_product(merchant=merchant, price_cents=5000, stock=10)
    other = make_product(merchant=merchant, price_cents=5000, stock=10)
    buyer = make_user()
    for_other = coupons.claim(coupon_of(other), buyer=buyer, now=NOW)
    with pytest.raises(ValidationError, match="其他商品"):
        place(buyer, [(product.id, 1)], coupons={merchant.id: for_other.id})
    high = coupons.claim(coupon_of(product, threshold=9900), buyer=buyer, now=NOW)
    with pytest.raises(ValidationError, match="满 ¥99.00 可用"):
        place(buyer, [(product.id, 1)], key="k2", coupons={merchant.id: high.id})
    plain = coupons.claim(coupon_of(product), buyer=buyer, now=NOW)
    with pytest.raises(ValidationError, match="已过期"):
        place(buyer, [(product.id, 1)], key="k3", coupons={merchant.id: plain.id},
              at=NOW + timedelta(days=8))  # fmt: skip
    with pytest.raises(NotFound):  # another buyer's claim
        place(make_user(), [(product.id, 1)], key="k4", coupons={merchant.id: plain.id})
    found, best = coupons.choices(buyer, merchant.id, {product.id: 5000}, now=NOW)
    assert best.claim.id == plain.id
    assert [c.reason is None for c in found] == [True, False, False]


def test_cancel_unpaid_gives_the_coupon_back_a_refund_does_not(ctx):
    product = make_product(price_cents=5000, stock=10)
    buyer = make_user()
    claim = coupons.claim(coupon_of(product, per_buyer=1), buyer=buyer, now=NOW)
    [order] = place(buyer, [(product.id, 1)], coupons={product.merchant_id: claim.id})
    states.cancel_by_buyer(order, actor=buyer, now=NOW + timedelta(minutes=1))
    db.session.refresh(claim)
    assert claim.order_id is None
    [again] = place(buyer, [(product.id, 1)], key="k2", coupons={product.merchant_id: claim.id})
    assert again.discount_cents == 1000
    pay(again)
    states.ship(again, "顺丰速运", "SF1234567890", actor=make_user(), now=NOW + timedelta(days=1))
    states.request_refund(again, "不想要了", actor=buyer, now=NOW + timedelta(days=2))
    states.decide_refund(
        again, True, actor=make_user(), source="merchant", now=NOW + timedelta(days=3)
    )
    db.session.refresh(claim)
    assert claim.order_id == again.id  # still used: a refund keeps the coupon spent
    assert coupons.unused_claims(buyer, product.merchant_id, now=NOW) == []


def test_a_sharer_attaches_a_coupon_of_a_product_in_their_shop(ctx):
    merchant = make_merchant()
    product = make_product(merchant=merchant, price_cents=5000)
    elsewhere = make_product(merchant=merchant)
    shop = make_shop()
    item = shops.add_item(shop, product, now=NOW)
    link = links.get_or_create_link(shop, product, Channel.WECHAT_GROUP, now=NOW)
    coupon = coupon_of(product, off=800)
    whole = coupon_of(merchant=merchant, off=300)
    attached = coupons.attach(coupon, sharer=shop.user, item=item)
    assert attached.product_id == product.id
    coupons.attach(whole, sharer=shop.user, link=link)
    assert coupons.shown_coupon(item_id=item.id, link_id=link.id, now=NOW).id == whole.id
    assert coupons.shown_coupon(item_id=item.id, link_id=None, now=NOW).id == coupon.id
    assert coupons.price_after(coupon, 5000) == 4200
    with pytest.raises(ValidationError, match="不能用于"):
        coupons.attach(coupon_of(elsewhere), sharer=shop.user, item=item)
    with pytest.raises(ValidationError, match="不能用于"):
        coupons.attach(coupon_of(make_product()), sharer=shop.user, item=item)
    with pytest.raises(NotFound):
        coupons.attach(coupon, sharer=make_user(), item=item)
    stranger = make_shop()
    not_in_shop = links.get_or_create_link(stranger, elsewhere, Channel.WECHAT_GROUP, now=NOW)
    with pytest.raises(ValidationError, match="不在你的小店"):
        coupons.attach(coupon_of(elsewhere), sharer=stranger.user, link=not_in_shop)
    assert db.session.execute(select(CouponClaim)).first() is None
