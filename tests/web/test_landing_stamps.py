"""Kept landing pages and review previews across processes (shop.platform.stamps): a change
committed by one app instance (another worker) or one process makes the pages the others keep
miss at once, through stamp files in a folder they share; a change committed while a page is
rendered does too; an unusable folder is logged once and pages are then kept briefly."""

import logging
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from shop import PROJECT_ROOT
from shop.catalog.models import Product
from shop.platform import stamps as stamps_module
from shop.platform.base import utcnow
from shop.platform.extensions import db
from tests.conftest import build_app, sign_in
from tests.factories import DEFAULT_PASSWORD, make_review, make_user
from tests.web.test_landing_cache import Queries
from tests.web.test_sharing import make_link


@pytest.fixture
def workers(make_apps, tmp_path):
    """Two app instances on one database and one stamp folder: two workers of one host."""
    folder = tmp_path / "stamps"
    return [
        make_apps(
            f"instance{n}",
            LANDING_CACHE_SECONDS=300,
            REVIEW_PREVIEW_SECONDS=600,
            LANDING_STAMP_DIR=str(folder),
        )
        for n in (1, 2)
    ]


def _landing(app, **product):
    with app.app_context():
        link = make_link(title="保温杯", **product)
        db.session.commit()
        return link.product_id, f"/s/{link.shop.slug}/p/{link.product_id}?ref={link.code}"


def _kept(app, path) -> str:
    """The page as a visitor gets it, and that it was a kept one (no query)."""
    queries = Queries(app)
    try:
        page = app.test_client().get(path).text
    finally:
        queries.close()
    assert queries.count == 0, "expected a kept page"
    return page


def test_a_change_committed_by_another_worker_shows_at_once(workers):
    first, second = workers
    product_id, path = _landing(first)
    assert "保温杯" in second.test_client().get(path).text
    assert "保温杯" in _kept(second, path)
    with first.app_context():
        db.session.get(Product, product_id).title = "新款保温杯"
        db.session.commit()
    assert "新款保温杯" in second.test_client().get(path).text
    assert "新款保温杯" in _kept(second, path)
    # A change to the sharer (everything) too: "Recommended by" names them.
    with first.app_context():
        from shop.sharing.models import Shop

        db.session.execute(db.select(Shop)).scalar_one().user.display_name = "老王"
        db.session.commit()
    assert "老王" in second.test_client().get(path).text
    assert "老王" in _kept(second, path)
    # What no page shows changes no page: a sharer's language, a buyer signing up.
    with first.app_context():
        db.session.execute(db.select(Shop)).scalar_one().user.locale = "en"
        make_user(display_name="新买家")
        db.session.commit()
    assert "老王" in _kept(second, path)


def test_a_change_committed_by_another_process_shows_at_once(workers, database_url, tmp_path):
    _first, second = workers
    product_id, path = _landing(second)
    assert "保温杯" in second.test_client().get(path).text
    assert "保温杯" in _kept(second, path)
    config = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INSTANCE_PATH": str(tmp_path / "other-process"),
        "LANDING_STAMP_DIR": str(tmp_path / "stamps"),
        "SECRET_KEY": "x",
    }
    code = (
        "from shop import create_app\n"
        "from shop.catalog.models import Product\n"
        "from shop.platform.extensions import db\n"
        f"app = create_app({config!r})\n"
        "with app.app_context():\n"
        f"    db.session.get(Product, {product_id}).title = '另一个进程改的杯'\n"
        "    db.session.commit()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "另一个进程改的杯" in second.test_client().get(path).text


def test_a_change_committed_during_the_render_makes_the_next_visit_miss(workers, monkeypatch):
    """The stamps kept with a page are those read before its render: a change committed
    while it was rendered (by another worker) is not hidden under the new stamp."""
    from shop.web.storefront import buying

    first, second = workers
    product_id, path = _landing(first)
    render = buying.render_product

    def render_while_another_worker_commits(*args, **kwargs):
        page = render(*args, **kwargs)  # the old title, rendered
        with first.app_context():
            db.session.get(Product, product_id).title = "渲染时改的杯"
            db.session.commit()
        return page

    monkeypatch.setattr(buying, "render_product", render_while_another_worker_commits)
    old = second.test_client().get(path).text
    assert "保温杯" in old and "渲染时改的杯" not in old
    monkeypatch.setattr(buying, "render_product", render)
    assert "渲染时改的杯" in second.test_client().get(path).text


def test_stock_taken_by_checkout_and_given_back_by_a_cancel_shows_at_once(workers):
    """Checkout takes stock and a cancel gives it back with guarded Core UPDATEs, which the
    ORM flush never sees: they mark the product themselves."""
    from shop.orders import checkout, states
    from tests.services.test_orders import ADDRESS, WINDOW

    first, second = workers
    product_id, path = _landing(first, stock=10)
    assert "仅剩 10 件" in second.test_client().get(path).text
    assert "仅剩 10 件" in _kept(second, path)
    with first.app_context():
        buyer = make_user()
        [order] = checkout.place_order(
            buyer,
            [(product_id, 3)],
            ADDRESS,
            checkout_key="k-stamps",
            provider="sandbox",
            visitor_id=None,
            now=utcnow(),
            window=WINDOW,
            allow_self_purchase=True,
            pay_within=timedelta(minutes=30),
        )
        db.session.commit()
        order_id, buyer_id = order.id, buyer.id
    assert "仅剩 7 件" in second.test_client().get(path).text
    assert "仅剩 7 件" in _kept(second, path)
    with first.app_context():
        from shop.accounts.models import User
        from shop.orders.models import Order

        order = db.session.get(Order, order_id)
        states.cancel_by_buyer(order, actor=db.session.get(User, buyer_id), now=utcnow())
        db.session.commit()
    assert "仅剩 10 件" in second.test_client().get(path).text


def test_a_review_hidden_by_a_moderator_leaves_every_workers_page_at_once(workers):
    """The review preview (kept REVIEW_PREVIEW_SECONDS per worker) and the landing page (kept
    LANDING_CACHE_SECONDS) follow the same stamp: a decision in one worker, the other's pages
    render afresh at once, preview included."""
    first, second = workers
    with first.app_context():
        review = make_review(body="口感顺滑，包装也好")
        admin = make_user(is_admin=True)
        db.session.commit()
        product = review.product
        review_id, version, admin_account = review.id, review.version, admin.phone
        link = make_link(product=product)
        db.session.commit()
        path = f"/s/{link.shop.slug}/p/{product.id}?ref={link.code}"
    assert "口感顺滑" in second.test_client().get(path).text
    assert "口感顺滑" in second.test_client().get(f"/p/{product.id}").text  # preview kept
    assert "口感顺滑" in _kept(second, path)
    moderator = sign_in(first.test_client(), admin_account, DEFAULT_PASSWORD)
    hidden = moderator.post(
        f"/admin/reviews/{review_id}/decide",
        data={"action": "hide", "version": str(version), "reason": "与商品无关"},
    )
    assert hidden.status_code == 302
    assert "口感顺滑" not in second.test_client().get(path).text
    assert "口感顺滑" not in second.test_client().get(f"/p/{product.id}").text


def test_a_suspended_merchant_s_pages_go_at_once(workers):
    from shop.catalog import merchants

    first, second = workers
    product_id, path = _landing(first)
    assert second.test_client().get(path).status_code == 200
    assert "保温杯" in _kept(second, path)
    with first.app_context():
        product = db.session.get(Product, product_id)
        admin = make_user(is_admin=True)
        merchants.decide(product.merchant, "suspend", actor=admin, reason="违规", now=utcnow())
        db.session.commit()
    assert second.test_client().get(path).status_code != 200


def test_an_unwritable_stamp_folder_is_logged_once_and_pages_are_kept_briefly(
    database_url, tmp_path, caplog
):
    from shop.web.storefront import landing

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    app = build_app(
        database_url,
        tmp_path / "instance",
        LANDING_CACHE_SECONDS=300,
        LANDING_STAMP_DIR=str(blocker / "stamps"),
    )
    try:
        with caplog.at_level(logging.WARNING, logger=stamps_module.__name__):
            product_id, path = _landing(app)
            assert "保温杯" in app.test_client().get(path).text
            assert "保温杯" in _kept(app, path)
            with app.app_context():
                db.session.get(Product, product_id).title = "新款保温杯"
                db.session.commit()  # no error: this process's own changes still show at once
            assert "新款保温杯" in app.test_client().get(path).text
        warnings = [r for r in caplog.records if r.name == stamps_module.__name__]
        assert len(warnings) == 1 and "a-file" in warnings[0].getMessage()
        assert app.extensions["landing_pages"].ttl == landing.UNSTAMPED_SECONDS
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# --- the stamps themselves ------------------------------------------------------------------


def test_a_missing_file_is_stamp_zero_and_a_bump_always_moves_it(tmp_path, monkeypatch):
    one, other = stamps_module.Stamps(str(tmp_path)), stamps_module.Stamps(str(tmp_path))
    assert one.read(7) == ((0, 0), (0, 0)) and not os.listdir(tmp_path)
    before = other.read(7)
    one.bump([7])
    assert other.read(7) != before and other.read(8) == ((0, 0), (0, 0))
    # A product's stamp and its listing stamp (what a shop page shows of it).
    assert sorted(os.listdir(tmp_path)) == ["l7", "p7"]
    # A bump puts a new file in place (only the folder need be writable: a file another user
    # made, say a cron job, is replaced, not changed), and leaves nothing else behind.
    inode = os.stat(tmp_path / "p7").st_ino
    one.bump([7])
    assert os.stat(tmp_path / "p7").st_ino != inode
    assert sorted(os.listdir(tmp_path)) == ["l7", "p7"]
    # A stock move that leaves the product on sale: its own stamp only.
    listing = os.stat(tmp_path / "l7").st_mtime_ns
    one.bump(["p7"])
    assert os.stat(tmp_path / "l7").st_mtime_ns == listing
    # A clock that does not move and a file system that keeps whole seconds: still moved.
    monkeypatch.setattr(stamps_module.time, "time_ns", lambda: 5_000_000_000)
    real_utime = os.utime

    def whole_seconds(path, ns):
        real_utime(path, ns=tuple(n // 1_000_000_000 * 1_000_000_000 for n in ns))

    monkeypatch.setattr(stamps_module.os, "utime", whole_seconds)
    seen = {other.read(7)}
    for _ in range(3):
        one.bump([7])
        seen.add(other.read(7))
    assert len(seen) == 4
    before = other.read(1)
    one.bump(None)  # everything: every product's pair changes
    assert other.read(1)[0] != before[0]


def test_a_folder_that_breaks_later_is_given_up_once(tmp_path, caplog):
    folder = tmp_path / "stamps"
    stamps = stamps_module.Stamps(str(folder))
    stamps.bump([1])
    for name in os.listdir(folder):
        os.remove(folder / name)
    folder.rmdir()
    folder.write_text("now a file")
    with caplog.at_level(logging.WARNING, logger=stamps_module.__name__):
        stamps.bump([1])
        stamps.bump([1])
        own = stamps.read(1)
    assert not stamps.shared and own[1] == (-1, 3)
    assert len([r for r in caplog.records if r.name == stamps_module.__name__]) == 1


def test_a_page_is_kept_no_longer_than_until_a_coupon_starts_or_ends(workers, monkeypatch):
    """Time passing bumps no stamp: a page is kept only until the next start or end of one of
    the merchant's coupons."""
    from shop.orders.models import Coupon
    from tests.web.test_landing_cache import Clock

    first, _second = workers
    product_id, path = _landing(first)
    with first.app_context():
        at = utcnow()
        merchant_id = db.session.get(Product, product_id).merchant_id
        db.session.add(
            Coupon(
                merchant_id=merchant_id, product_id=None, off_cents=500, total_count=10,
                remaining=10, starts_at=at + timedelta(seconds=40),
                ends_at=at + timedelta(days=1),
            )
        )  # fmt: skip
        db.session.commit()
    clock = Clock(monkeypatch)
    assert first.test_client().get(path).status_code == 200
    clock.now += 30
    _kept(first, path)
    clock.now += 15  # the coupon has started: the page is rendered again
    queries = Queries(first)
    try:
        assert first.test_client().get(path).status_code == 200
    finally:
        queries.close()
    assert queries.count > 0
