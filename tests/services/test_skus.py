"""Specs and SKUs: stock per SKU never oversold, restocked per SKU, order items snapshot the
SKU, its spec text, price and rebate; the product's sums follow; the data migration both ways."""

from datetime import timedelta

import pytest
from sqlalchemy import inspect, select, text

from shop.catalog import products, skus, stockmoves
from shop.catalog.models import Product, Sku
from shop.orders import checkout, states
from shop.orders.models import OrderItem
from shop.platform.errors import ValidationError
from shop.platform.extensions import db
from tests.factories import make_product, make_shirt, make_user, sku_of
from tests.services.test_orders import NOW, place


def test_a_plain_product_is_sold_through_its_one_sku(ctx):
    product = make_product(price_cents=4200, stock=3, rebate_bps=1000)
    [sku] = product.skus
    assert (sku.value1, sku.value2, sku.price_cents, sku.stock) == ("", "", 4200, 3)
    [order] = place(make_user(), [(product.id, 2)])
    [item] = order.items
    assert item.sku_id == sku.id and item.spec_text == ""
    db.session.refresh(sku)
    assert sku.stock == 1 and product.stock == 1


def test_a_shirt_order_snapshots_the_sku_its_spec_price_and_rebate(ctx):
    shirt = make_shirt(rebate_bps=1000)
    assert shirt.price_cents == 5900 and shirt.has_price_range and shirt.stock == 15
    red_l = sku_of(shirt, "红", "L")
    red_l.rebate_bps = 2000  # this SKU's own rate
    db.session.flush()
    [order] = place(make_user(), [(shirt.id, 2, red_l.id)])
    [item] = order.items
    assert item.sku_id == red_l.id
    assert item.spec_text == "颜色：红；尺码：L"
    assert item.unit_price_cents == 6900 and order.total_cents == 13800
    assert item.rebate_bps == 2000 and item.rebate_cents == 2760
    db.session.refresh(red_l)
    assert red_l.stock == 3 and shirt.stock == 13
    # Changing the SKU later changes nothing on the order.
    red_l.price_cents = 9900
    db.session.flush()
    db.session.refresh(item)
    assert item.unit_price_cents == 6900


def test_a_sku_is_never_oversold_and_others_are_untouched(ctx):
    shirt = make_shirt()
    blue_m, blue_l = sku_of(shirt, "蓝", "M"), sku_of(shirt, "蓝", "L")
    with pytest.raises(ValidationError) as error:
        place(make_user(), [(shirt.id, 1, blue_m.id)], key="a")
    assert error.value.field == "quantity" and "蓝" in str(error.value.message)
    with pytest.raises(ValidationError):
        place(make_user(), [(shirt.id, 6, blue_l.id)], key="b")
    assert stockmoves.take_stock(blue_l.id, shirt.id, 5) is True
    assert stockmoves.take_stock(blue_l.id, shirt.id, 1) is False
    db.session.refresh(blue_l)
    db.session.refresh(shirt)
    assert blue_l.stock == 0 and shirt.stock == 10


def test_a_line_without_a_sku_of_a_product_with_specs_asks_for_one(ctx):
    shirt = make_shirt()
    with pytest.raises(ValidationError) as error:
        place(make_user(), [(shirt.id, 1)])
    assert error.value.field == "sku"


def test_cancel_and_refund_give_the_stock_back_to_the_sku(ctx):
    shirt = make_shirt()
    red_m = sku_of(shirt, "红", "M")
    buyer = make_user()
    [order] = place(buyer, [(shirt.id, 2, red_m.id)], key="c1")
    states.cancel_by_buyer(order, actor=buyer, now=NOW)
    db.session.refresh(red_m)
    db.session.refresh(shirt)
    assert red_m.stock == 5 and shirt.stock == 15


def test_a_changed_price_is_refused_with_the_new_one(ctx):
    shirt = make_shirt()
    red_m = sku_of(shirt, "红", "M")
    shown = {red_m.id: 5900}
    red_m.price_cents = 6500
    db.session.flush()
    with pytest.raises(checkout.PriceChanged) as error:
        checkout.place_order(
            make_user(),
            [(shirt.id, 1, red_m.id)],
            checkout.ShippingAddress("王小二", "13912345678", "浙江省", "文三路 90 号"),
            checkout_key="p1",
            shown_prices=shown,
            provider="sandbox",
            visitor_id=None,
            now=NOW,
            window=timedelta(days=15),
            allow_self_purchase=True,
            pay_within=timedelta(minutes=30),
        )
    assert error.value.prices[red_m.id] == 6500
    assert "65.00" in str(error.value.message) and "59.00" in str(error.value.message)


def test_saving_specs_keeps_orders_removed_rows_inactive_and_sums_right(ctx):
    shirt = make_shirt()
    red_m, blue_l = sku_of(shirt, "红", "M"), sku_of(shirt, "蓝", "L")
    place(make_user(), [(shirt.id, 2, red_m.id)], key="s1")  # 红/M: 5 -> 3
    # The form was opened before that order, showing 5; the merchant types 8 (+3) and drops 蓝.
    rows = [
        skus.CleanRow(("红", "M"), 5900, 8, 5, None, None),
        skus.CleanRow(("红", "L"), 7900, 5, 5, 1500, None),
    ]
    skus.save(shirt, [("颜色", ["红"]), ("尺码", ["M", "L"])], rows)
    db.session.refresh(shirt)
    assert sku_of(shirt, "红", "M").stock == 6  # 3 + 3, the sold two stay sold
    assert sku_of(shirt, "蓝", "L") is None
    db.session.refresh(blue_l)
    assert blue_l.is_active is False and blue_l.stock == 5
    assert shirt.stock == 11 and shirt.price_cents == 5900 and shirt.has_price_range
    # A cut below what is left is refused, naming the row's stock field.
    with pytest.raises(ValidationError) as error:
        skus.save(
            shirt,
            [("颜色", ["红"]), ("尺码", ["M"])],
            [skus.CleanRow(("红", "M"), 5900, 0, 10, None, None)],
        )
    assert error.value.field == "sku[红|M].stock"


def test_the_product_form_without_specs_still_edits_its_one_sku(ctx):
    product = make_product(price_cents=1000, original_price_cents=None, stock=4)
    fields = products.ProductFields(product.title, "", product.category_id, 1200, None, 6, 900)
    products.update_product(product, fields, stock_shown=4, merchant=product.merchant, now=NOW)
    [sku] = product.active_skus
    assert (sku.price_cents, sku.stock, product.price_cents, product.stock) == (1200, 6, 1200, 6)


def test_spec_values_are_split_and_checked():
    assert skus.split_values("红, 蓝，白、红\n黑") == ["红", "蓝", "白", "黑"]
    dims, errors = skus.clean_dimensions([("颜色", "红，蓝"), ("", "")])
    assert dims == [("颜色", ["红", "蓝"])] and errors == []
    _dims, errors = skus.clean_dimensions([("", "红"), ("颜色", "")])
    assert {e.field for e in errors} == {"spec0_name", "spec1_values"}
    assert skus.combinations([("a", ["1", "2"]), ("b", ["x"])]) == [("1", "x"), ("2", "x")]


# --- the data migration, both ways -----------------------------------------------------------

BEFORE = "689f6ecba346"


def test_the_migration_makes_one_sku_per_product_and_folds_them_back(app):
    from flask_migrate import downgrade, upgrade

    with app.app_context():
        plain = make_product(price_cents=3000, original_price_cents=None, stock=7)
        shirt = make_shirt()
        buyer = make_user()
        place(buyer, [(plain.id, 2)], key="m1")
        place(buyer, [(shirt.id, 1, sku_of(shirt, "红", "L").id)], key="m2")
        db.session.commit()
        plain_id, shirt_id = plain.id, shirt.id
        db.session.remove()

        downgrade(revision=BEFORE)
        conn = db.session.connection()
        names = inspect(conn).get_table_names()
        assert "skus" not in names and "product_specs" not in names
        assert "sku_id" not in {c["name"] for c in inspect(conn).get_columns("order_items")}
        rows = dict(
            conn.execute(
                text("SELECT id, stock FROM products WHERE id IN (:a, :b)"),
                {"a": plain_id, "b": shirt_id},
            ).all()
        )
        assert rows == {plain_id: 5, shirt_id: 14}  # the shirt's active SKUs added up
        price = conn.execute(
            text("SELECT price_cents FROM products WHERE id = :id"), {"id": shirt_id}
        ).scalar_one()
        assert price == 5900  # the lowest
        db.session.commit()
        db.session.remove()

        upgrade()
        for product_id, stock, price in ((plain_id, 5, 3000), (shirt_id, 14, 5900)):
            [sku] = (
                db.session.execute(select(Sku).where(Sku.product_id == product_id)).scalars().all()
            )
            assert (sku.value1, sku.value2, sku.stock, sku.price_cents) == ("", "", stock, price)
            assert sku.is_active and sku.rebate_bps is None
            item_skus = (
                db.session.execute(
                    select(OrderItem.sku_id).where(OrderItem.product_id == product_id)
                )
                .scalars()
                .all()
            )
            assert item_skus == [sku.id]
            assert db.session.get(Product, product_id).has_price_range is False
        # The migrated products sell through their SKU at once.
        [order] = place(make_user(), [(plain_id, 1)], key="m3")
        assert order.items[0].sku_id is not None
        db.session.commit()
        db.session.remove()

        downgrade(revision=BEFORE)
        stock = (
            db.session.connection()
            .execute(text("SELECT stock FROM products WHERE id = :id"), {"id": plain_id})
            .scalar_one()
        )
        assert stock == 4
        db.session.commit()
        db.session.remove()
        upgrade()
