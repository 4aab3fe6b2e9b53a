"""/admin/fees and /admin/categories/<id>/fee: admins set a category's platform fee as a
percentage (parsed as text, never a float), audited with a reason; a fee that would not cover
the team override in force is refused with the product and the lowest fee, keeping what was
typed; a merchant's rebate rate above what the fee allows is refused on the product form."""

import io

from sqlalchemy import select

from shop.catalog.models import Category, Product
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from tests.factories import make_category, make_merchant, make_product, make_user, png_bytes
from tests.web.test_merchant_console import product_form


def text_of(response) -> str:
    return response.get_data(as_text=True)


def setup(app):
    with app.app_context():
        category = make_category(name_en="Tea")
        make_product(category=category, rebate_bps=1500, title="红茶礼盒")
        admin, outsider = make_user(is_admin=True), make_user()
        db.session.commit()
        return category.id, admin, outsider


def test_admin_sets_a_category_fee_audited_and_only_admins_may(app, english_client):
    category_id, admin, outsider = setup(app)
    assert english_client(outsider).get("/admin/fees").status_code == 403
    posted = english_client(outsider).post(f"/admin/categories/{category_id}/fee",
                                           data={"fee": "1", "reason": "x"})  # fmt: skip
    assert posted.status_code == 403
    client = english_client(admin)
    page = text_of(client.get("/admin/fees"))
    assert "Tea" in page and "Team overrides are off" in page
    for typed in ("1e309", "2.555", "101", "-1", "٢", "2,5"):
        bad = client.post(f"/admin/categories/{category_id}/fee",
                          data={"fee": typed, "reason": "类目费率"})  # fmt: skip
        assert bad.status_code == 422, typed
        assert "from 0 to 100" in text_of(bad) and f'value="{typed}"' in text_of(bad)
    no_reason = client.post(f"/admin/categories/{category_id}/fee", data={"fee": "2.5"})
    assert no_reason.status_code == 422 and "Give a reason" in text_of(no_reason)
    ok = client.post(f"/admin/categories/{category_id}/fee",
                     data={"fee": "２.５％", "reason": "类目费率"})  # fmt: skip
    assert ok.status_code == 303 and ok.headers["Location"].endswith("/admin/fees")
    assert "2.5%" in text_of(client.get("/admin/fees"))
    assert 'value="2.5"' in text_of(client.get(f"/admin/categories/{category_id}/fee"))
    assert client.get("/admin/categories/999999/fee").status_code == 404
    with app.app_context():
        assert db.session.get(Category, category_id).fee_bps == 250
        audit = db.session.execute(select(AuditEntry)).scalar_one()
        assert (audit.action, audit.before, audit.after, audit.reason) == (
            "category.fee", {"fee_bps": None}, {"fee_bps": 250}, "类目费率",
        )  # fmt: skip


def test_a_fee_that_would_not_cover_the_override_is_refused_with_a_clear_message(
    app, english_client
):
    app.config["TEAM_OVERRIDE_BPS"] = 2000  # 20% of the rebate
    category_id, admin, _outsider = setup(app)
    client = english_client(admin)
    listing = text_of(client.get("/admin/fees"))
    assert "Team overrides are on at 20%" in listing and "红茶礼盒" in listing
    refused = client.post(f"/admin/categories/{category_id}/fee",
                          data={"fee": "2.99", "reason": "类目费率"})  # fmt: skip
    page = text_of(refused)
    assert refused.status_code == 422
    assert "would not cover the team override" in page and "at least 3%" in page
    assert "红茶礼盒" in page and 'value="2.99"' in page and 'value="类目费率"' in page
    ok = client.post(f"/admin/categories/{category_id}/fee", data={"fee": "3", "reason": "r"})
    assert ok.status_code == 303
    with app.app_context():
        assert db.session.get(Category, category_id).fee_bps == 300
        assert [a.action for a in db.session.execute(select(AuditEntry)).scalars()] == [
            "category.fee"
        ]


def test_a_merchant_rebate_above_what_the_fee_allows_is_refused_on_the_product_form(
    app, user_client
):
    app.config["TEAM_OVERRIDE_BPS"] = 2000
    with app.app_context():
        merchant = make_merchant()
        category_id = make_category(fee_bps=200).id  # allows rebates up to 10%
        db.session.commit()
        user = merchant.user
    client = user_client(user)
    refused = client.post("/merchant/products/new", data=product_form(category_id))  # 15%
    page = text_of(refused)
    assert refused.status_code == 200 and "10%" in page and 'value="正山小种"' in page
    form = product_form(category_id, rebate_percent="10",
                        images=[(io.BytesIO(png_bytes()), "a.png")])  # fmt: skip
    made = client.post("/merchant/products/new", data=form, content_type="multipart/form-data")
    assert made.status_code == 302
    with app.app_context():
        assert db.session.execute(select(Product.rebate_bps)).scalar_one() == 1000


def test_products_whose_fee_does_not_cover_the_override_are_listed_at_the_top(
    app, english_client, user_client
):
    """The override setting raised at a deploy (or a product moved to a cheaper category):
    nothing refused it when it was set, so /admin/fees says so first, per product, with the
    rebate rate, the fee in force, the lowest fee that would do and where to change it."""
    with app.app_context():
        category = make_category(name_en="Tea", fee_bps=100)
        own = make_merchant(fee_bps=150)
        low = make_product(category=category, rebate_bps=1000, title="红茶礼盒")
        mine = make_product(category=category, rebate_bps=1000, merchant=own, title="自定费率")
        make_product(category=category, rebate_bps=400, title="绿茶")  # 0.8% needed: covered
        admin = make_user(is_admin=True)
        db.session.commit()
        ids = (category.id, own.id, low.id, mine.id)
    client = english_client(admin)
    assert 'id="uncovered"' not in text_of(client.get("/admin/fees"))  # overrides off
    app.config["TEAM_OVERRIDE_BPS"] = 2000
    page = text_of(client.get("/admin/fees"))
    assert "The team override is more than the platform fee on 2 product(s)" in page
    block = page[page.index('id="uncovered"') : page.index('id="category-fees"')]
    assert "红茶礼盒" in block and "自定费率" in block and "绿茶" not in block
    assert "Rebate 10%; fee in force 1%; lowest fee that would do 2%." in block
    assert "fee in force 1.5%" in block
    assert (
        f'/admin/categories/{ids[0]}/fee"' in block and f'/admin/merchants/{ids[1]}/fee"' in block
    )
    chinese = text_of(user_client(admin).get("/admin/fees"))
    assert "有 2 个商品的团队奖励高于平台服务费" in chinese
