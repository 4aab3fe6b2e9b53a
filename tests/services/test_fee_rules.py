"""The fee/override rule (shop.money.fee_rules): the platform pays a team override out of its
fee, so a fee that would not cover the override on some product is refused when it is set,
and so is a rebate rate above what the fee allows. (Messages read in Chinese, the default.)"""

import pytest
from sqlalchemy import select

from shop.catalog.models import Sku
from shop.money import fee_rules
from shop.money import merchant_payouts as mp
from shop.platform.errors import ValidationError
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from tests.factories import make_category, make_merchant, make_product, make_user
from tests.services.test_orders import NOW

OVERRIDE = 2000  # 20% of the rebate


def admin():
    return make_user(is_admin=True)


def test_the_lowest_fee_covers_the_override_rounded_up():
    assert fee_rules.min_fee_bps(1000, 2000) == 200  # 10% rebate, 20% of it: 2%
    assert fee_rules.min_fee_bps(1001, 2000) == 201  # 2.002% -> 2.01%
    assert fee_rules.min_fee_bps(1000, 0) == 0


def test_a_category_fee_below_the_override_is_refused_with_the_product_and_the_lowest_fee(ctx):
    category = make_category()
    make_product(category=category, rebate_bps=500, title="小罐茶")
    make_product(category=category, rebate_bps=1500, title="红茶礼盒")
    with pytest.raises(ValidationError) as refused:
        mp.set_fee(category, 299, actor=admin(), reason="类目费率", now=NOW, override_bps=OVERRIDE)
    message = str(refused.value.message)
    assert refused.value.field == "fee"
    assert "红茶礼盒" in message and "至少 3%" in message and "2.99%" in message
    assert category.fee_bps is None
    assert db.session.execute(select(AuditEntry)).first() is None
    mp.set_fee(category, 300, actor=admin(), reason="类目费率", now=NOW, override_bps=OVERRIDE)
    assert category.fee_bps == 300
    # With overrides off (the default) any fee goes.
    mp.set_fee(category, 0, actor=admin(), reason="免费期", now=NOW, override_bps=0)
    assert category.fee_bps == 0


def test_a_sku_rate_counts_and_merchants_with_their_own_rate_are_not_the_categorys(ctx):
    category = make_category()
    own_rate = make_merchant(fee_bps=1000)
    make_product(category=category, rebate_bps=4000, merchant=own_rate)  # not this fee's
    product = make_product(category=category, rebate_bps=500)
    db.session.add(Sku(product_id=product.id, value1="大", value2="", price_cents=100,
                       stock=1, rebate_bps=2500, position=0))  # fmt: skip
    db.session.flush()
    highest = fee_rules.highest_rebate(category=category)
    assert (highest.product_id, highest.rebate_bps) == (product.id, 2500)
    with pytest.raises(ValidationError, match="至少 5%"):
        fee_rules.check_fee(category, 499, override_bps=OVERRIDE)
    fee_rules.check_fee(category, 500, override_bps=OVERRIDE)


def test_a_merchant_rate_and_its_fallback_to_the_categories(ctx):
    cheap, dear = make_category(fee_bps=100), make_category(fee_bps=1000)
    merchant = make_merchant()
    make_product(category=cheap, rebate_bps=500, merchant=merchant)  # needs 1%
    make_product(category=dear, rebate_bps=3000, merchant=merchant, title="人参")  # needs 6%
    with pytest.raises(ValidationError, match="人参"):
        mp.set_fee(merchant, 500, actor=admin(), reason="签约", now=NOW, override_bps=OVERRIDE)
    mp.set_fee(merchant, 600, actor=admin(), reason="签约", now=NOW, override_bps=OVERRIDE)
    # Back to the categories' rates: each product is checked against its own category's.
    mp.set_fee(merchant, None, actor=admin(), reason="按类目", now=NOW, override_bps=OVERRIDE)
    cheap.fee_bps = 50
    with pytest.raises(ValidationError, match="至少 1%"):
        fee_rules.check_fee(merchant, None, override_bps=OVERRIDE)


def test_a_rebate_rate_above_what_the_fee_allows_is_refused(ctx):
    category = make_category(fee_bps=300)
    merchant = make_merchant()
    fee_rules.check_rebate(merchant, category.id, 1500, override_bps=OVERRIDE)
    with pytest.raises(ValidationError) as refused:
        fee_rules.check_rebate(merchant, category.id, 1501, override_bps=OVERRIDE)
    assert refused.value.field == "rebate_percent" and "最多 15%" in str(refused.value.message)
    fee_rules.check_rebate(merchant, category.id, 9000, override_bps=0)
    merchant.fee_bps = 0
    with pytest.raises(ValidationError, match="最多 0%"):
        fee_rules.check_rebate(merchant, category.id, 1, override_bps=OVERRIDE)
