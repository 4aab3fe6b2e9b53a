"""`/p/<id>` and the shop page `/s/<slug>` kept whole for visitors who are not signed in, as the
landing page is (shop.web.storefront.landing, shop.web.storefront.shoppage): no query on a kept
page, a fresh CSRF token, never kept for a signed-in visitor, apart per host; and every change
that shows on them, committed by another worker, shows at the very next visit (two app
instances sharing one stamp folder, as two workers of a host do)."""

import re
from datetime import timedelta

from shop.catalog.models import Product
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing.models import Shop, ShopItem
from tests.conftest import sign_in
from tests.factories import DEFAULT_PASSWORD, make_product, make_review, make_shirt, make_user
from tests.web.test_landing_cache import (
    TOKEN,
    Queries,
    cached_app,  # noqa: F401  (a fixture)
)
from tests.web.test_landing_stamps import workers  # noqa: F401  (a fixture)
from tests.web.test_sharing import make_link


def _queries(app, path, client=None, **kwargs) -> tuple[str, int, int]:
    """(page, status, queries) of one visit."""
    queries = Queries(app)
    try:
        answer = (client or app.test_client()).get(path, **kwargs)
    finally:
        queries.close()
    return answer.text, answer.status_code, queries.count


def _kept(app, path) -> str:
    page, status, count = _queries(app, path)
    assert status == 200 and count == 0, "expected a kept page"
    return page


def _visit(app, path) -> str:
    """The page at the next visit (a render or a kept page), then kept within two more visits
    (a shop page's first render in a worker learns its products and is not kept)."""
    page, status, _count = _queries(app, path)
    assert status == 200
    for _ in range(2):
        again, _status, count = _queries(app, path)
        assert TOKEN.sub("", again) == TOKEN.sub("", page)
        if count == 0:
            return page
    raise AssertionError("the page was not kept")


def _order(page: str, *titles: str) -> list[str]:
    return sorted((t for t in titles if t in page), key=page.index)


def _place(app, product_id: int, quantity: int, key: str):
    return _place_lines(app, [(product_id, quantity)], key)


def _place_lines(app, lines: list[tuple], key: str):
    """Place one order of ``lines`` ((product id, quantity) or (product id, quantity, SKU
    id)) as a new buyer; (order id, buyer id)."""
    from shop.orders import checkout
    from tests.services.test_orders import ADDRESS, WINDOW

    with app.app_context():
        [order] = checkout.place_order(
            make_user(),
            lines,
            ADDRESS,
            checkout_key=key,
            provider="sandbox",
            visitor_id=None,
            now=utcnow(),
            window=WINDOW,
            allow_self_purchase=True,
            pay_within=timedelta(minutes=30),
        )
        db.session.commit()
        return order.id, order.buyer_id


def _cancel(app, order_id: int, buyer_id: int) -> None:
    from shop.accounts.models import User
    from shop.orders import states
    from shop.orders.models import Order

    with app.app_context():
        order = db.session.get(Order, order_id)
        states.cancel_by_buyer(order, actor=db.session.get(User, buyer_id), now=utcnow())
        db.session.commit()


def _status(app, product_id: int, action: str) -> None:
    from shop.catalog import products

    with app.app_context():
        product = db.session.get(Product, product_id)
        products.change_status(product, action, merchant=product.merchant, now=utcnow())
        db.session.commit()


# --- /p/<id> -------------------------------------------------------------------------------


def test_a_kept_product_page_costs_no_query_and_its_token_works(cached_app):  # noqa: F811
    app = cached_app
    with app.app_context():
        product = make_product(title="保温杯", stock=10)
        db.session.commit()
        product_id = product.id
    path = f"/p/{product_id}"
    assert "保温杯" in app.test_client().get(path).text
    visitor = app.test_client()
    page, status, count = _queries(app, path, visitor)
    assert status == 200 and count == 0 and "保温杯" in page
    token = TOKEN.search(page).group(1)
    assert token != TOKEN.search(app.test_client().get(path).text).group(1)
    added = visitor.post(
        "/cart/add", data={"csrf_token": token, "product_id": product_id, "quantity": "1"}
    )
    assert added.status_code == 303
    # Now with a cart: the badge differs, so another page (rendered, then kept for that count).
    _page, _status, count = _queries(app, path, visitor)
    assert count > 0
    # Another host: its own page (the share card's URLs are absolute).
    other = app.test_client().get(path, base_url="http://shop.example.com").text
    assert 'content="http://shop.example.com/p/' in other
    assert 'content="http://localhost/p/' in _kept(app, path)


def test_signed_in_visitors_never_get_a_kept_product_page(workers):  # noqa: F811
    app = workers[0]
    with app.app_context():
        product = make_product(title="保温杯")
        user = make_user(display_name="买家甲")
        db.session.commit()
        product_id, account = product.id, user.phone
    path = f"/p/{product_id}"
    _visit(app, path)
    client = sign_in(app.test_client(), account, DEFAULT_PASSWORD)
    _page, status, count = _queries(app, path, client)
    assert status == 200 and count > 0


def test_product_page_changes_from_another_worker_show_at_once(workers):  # noqa: F811
    first, second = workers
    with first.app_context():
        shirt = make_shirt(title="纯棉T恤")
        cup = make_product(title="保温杯", stock=10)
        db.session.commit()
        shirt_id, cup_id = shirt.id, cup.id
    shirt_path, cup_path = f"/p/{shirt_id}", f"/p/{cup_id}"
    assert "纯棉T恤" in _visit(second, shirt_path)
    assert "保温杯" in _visit(second, cup_path)
    # The price and the text (ORM).
    with first.app_context():
        product = db.session.get(Product, cup_id)
        product.price_cents, product.description = 8800, "新的介绍"
        db.session.commit()
    page = _visit(second, cup_path)
    assert "88" in page and "新的介绍" in page
    # A spec's price (a SKU row).
    from tests.factories import sku_of

    with first.app_context():
        sku_of(db.session.get(Product, shirt_id), "红", "L").price_cents = 7700
        db.session.commit()
    assert "77" in _visit(second, shirt_path)
    # Stock taken by a checkout and given back by a cancel (Core UPDATEs).
    assert "仅剩 10 件" in _visit(second, cup_path)
    order_id, buyer_id = _place(first, cup_id, 3, "k-kept-1")
    assert "仅剩 7 件" in _visit(second, cup_path)
    _cancel(first, order_id, buyer_id)
    assert "仅剩 10 件" in _visit(second, cup_path)
    # A review published.
    with first.app_context():
        make_review(product=db.session.get(Product, cup_id), body="保温效果一流")
        db.session.commit()
    assert "保温效果一流" in _visit(second, cup_path)
    # Delisted: gone (410) at once; listed again: back.
    _status(first, cup_id, "delist")
    assert second.test_client().get(cup_path).status_code == 410
    _status(first, cup_id, "list")
    assert "保温杯" in _visit(second, cup_path)
    # The merchant suspended.
    from shop.catalog import merchants

    with first.app_context():
        product = db.session.get(Product, cup_id)
        admin = make_user(is_admin=True)
        merchants.decide(product.merchant, "suspend", actor=admin, reason="违规", now=utcnow())
        db.session.commit()
    assert second.test_client().get(cup_path).status_code == 410


# --- /s/<slug> -----------------------------------------------------------------------------


def _shop(app) -> tuple[str, int, int]:
    """A shop with 保温杯 (recommended) then 茶叶; (its path, the cup's id, the tea's id)."""
    from shop.sharing import shops

    with app.app_context():
        link = make_link(title="保温杯", stock=10)
        tea = make_product(title="龙井茶叶")
        shops.add_item(link.shop, tea, recommendation="明前的好茶", now=utcnow())
        db.session.commit()
        return f"/s/{link.shop.slug}", link.product_id, tea.id


def _item(product_id: int) -> ShopItem:
    return db.session.execute(
        db.select(ShopItem).where(ShopItem.product_id == product_id)
    ).scalar_one()


def test_a_kept_shop_page_costs_no_query_and_signed_in_visitors_never_get_one(workers):  # noqa: F811
    _first, second = workers
    path, _cup, _tea = _shop(second)
    _page, _status, first_count = _queries(second, path)
    assert first_count > 0  # learns the shop's products: not kept yet
    _page, _status, count = _queries(second, path)
    assert count > 0  # rendered for the stamps of exactly those: kept
    assert "保温杯" in _kept(second, path) and "明前的好茶" in _kept(second, path)
    with second.app_context():
        user = make_user()
        db.session.commit()
        account = user.phone
    client = sign_in(second.test_client(), account, DEFAULT_PASSWORD)
    _page, status, count = _queries(second, path, client)
    assert status == 200 and count > 0
    assert second.test_client().get("/s/no-such-shop").status_code == 404


def test_the_shop_s_own_edits_show_at_once(workers):  # noqa: F811
    from shop.sharing import shops

    first, second = workers
    path, cup_id, tea_id = _shop(first)
    page = _visit(second, path)
    assert _order(page, "保温杯", "龙井茶叶") == ["保温杯", "龙井茶叶"]
    # The recommendation.
    with first.app_context():
        shops.edit_recommendation(_item(tea_id), "今年新茶")
        db.session.commit()
    assert "今年新茶" in _visit(second, path)
    # The order, and a pin.
    with first.app_context():
        shops.move_item(_item(tea_id), -1)
        db.session.commit()
    assert _order(_visit(second, path), "保温杯", "龙井茶叶") == ["龙井茶叶", "保温杯"]
    with first.app_context():
        shops.set_pinned(_item(cup_id), True)
        db.session.commit()
    assert _order(_visit(second, path), "保温杯", "龙井茶叶") == ["保温杯", "龙井茶叶"]
    # The shop's name, intro and avatar; the sharer's name.
    from tests.factories import png_bytes

    with first.app_context():
        shop = db.session.execute(db.select(Shop)).scalar_one()
        shops.save_shop(
            shop.user,
            name="老王的好物",
            slug=shop.slug,
            intro="只卖自己用过的",
            avatar=png_bytes(color=(10, 200, 30)),
            now=utcnow(),
        )
        db.session.commit()
    page = _visit(second, path)
    assert "老王的好物" in page and "只卖自己用过的" in page and 'class="avatar"' in page
    # A product removed from the shop, then another added.
    with first.app_context():
        shops.remove_item(_item(tea_id))
        db.session.commit()
    assert "龙井茶叶" not in _visit(second, path)
    with first.app_context():
        honey = make_product(title="槐花蜂蜜")
        shop = db.session.execute(db.select(Shop)).scalar_one()
        shops.add_item(shop, honey, recommendation="", now=utcnow())
        db.session.commit()
    assert "槐花蜂蜜" in _visit(second, path)


def test_product_changes_on_a_shop_page_show_at_once(workers):  # noqa: F811
    first, second = workers
    path, cup_id, tea_id = _shop(first)
    assert "保温杯" in _visit(second, path)
    # A price.
    with first.app_context():
        db.session.get(Product, tea_id).price_cents = 4321
        db.session.commit()
    assert "43.21" in _visit(second, path)
    # A checkout that leaves the cup on sale changes its own page (the stock shown) but not
    # the shop page, which shows only whether it is sold out: still kept.
    _visit(second, f"/p/{cup_id}")
    _place(first, cup_id, 3, "k-kept-2")
    assert "保温杯" in _kept(second, path)
    assert "仅剩 7 件" in _visit(second, f"/p/{cup_id}")
    # Sold out by checkouts (off the page), back by a cancel: a product the page did not show
    # is still watched.
    order_id, buyer_id = _place(first, cup_id, 7, "k-kept-3")
    assert "保温杯" not in _visit(second, path)
    _cancel(first, order_id, buyer_id)
    assert "保温杯" in _visit(second, path)
    # Delisted, listed again.
    _status(first, tea_id, "delist")
    assert "龙井茶叶" not in _visit(second, path)
    _status(first, tea_id, "list")
    assert "龙井茶叶" in _visit(second, path)
    # A rating shown and a review quoted; the quote hidden by a moderator.
    from shop.sharing import shops

    with first.app_context():
        review = make_review(product=db.session.get(Product, cup_id), body="一整天都是热的")
        shops.set_review_display(_item(cup_id), show_rating=True, quote=review)
        admin = make_user(is_admin=True)
        db.session.commit()
        review_id, version, admin_account = review.id, review.version, admin.phone
    page = _visit(second, path)
    assert "一整天都是热的" in page and "★" in page
    moderator = sign_in(first.test_client(), admin_account, DEFAULT_PASSWORD)
    hidden = moderator.post(
        f"/admin/reviews/{review_id}/decide",
        data={"action": "hide", "version": str(version), "reason": "与商品无关"},
    )
    assert hidden.status_code == 302
    assert "一整天都是热的" not in _visit(second, path)
    # The merchant suspended: its products leave the page.
    from shop.catalog import merchants

    with first.app_context():
        product = db.session.get(Product, cup_id)
        admin = make_user(is_admin=True)
        merchants.decide(product.merchant, "suspend", actor=admin, reason="违规", now=utcnow())
        db.session.commit()
    page = _visit(second, path)
    assert "保温杯" not in page and "龙井茶叶" in page
    assert re.search(r"<h1>[^<]+</h1>", page)
