"""A reserved word in a display name or shop name is a clear field message on the form, with
everything typed kept; administrators may use them."""

from sqlalchemy import func, select

from shop.accounts.models import User
from shop.platform.extensions import db
from shop.sharing.models import Shop
from tests.factories import make_user


def test_sign_up_with_a_staff_name_is_a_field_error_that_keeps_the_form(app, client):
    form = {
        "account": "13800138000",
        "display_name": "官方 客服",
        "password": "tea-and-cake-7",
        "confirm": "tea-and-cake-7",
    }
    response = client.post("/auth/signup", data=form)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "含有“官方客服”字样的名字仅供平台工作人员使用" in page
    assert 'value="13800138000"' in page and 'value="官方 客服"' in page
    with app.app_context():
        assert db.session.execute(select(func.count(User.id))).scalar_one() == 0
    english = client.post(
        "/auth/signup",
        data={**form, "display_name": "Fenxiang Official"},
        headers={"Accept-Language": "en"},
    ).get_data(as_text=True)
    assert "Names containing “Fenxiang official” are kept for the platform" in english


def test_a_shop_named_as_the_platform_is_refused_to_a_sharer_not_to_an_admin(app, user_client):
    with app.app_context():
        sharer, admin = make_user(), make_user(is_admin=True)
        db.session.commit()
    form = {"name": "分享小店官方旗舰店", "slug": "guanfang", "intro": "正品"}
    page = user_client(sharer).post("/me/shop/settings", data=form).get_data(as_text=True)
    assert "仅供平台工作人员使用" in page and 'value="分享小店官方旗舰店"' in page
    with app.app_context():
        assert db.session.execute(select(func.count(Shop.id))).scalar_one() == 0
    response = user_client(admin).post("/me/shop/settings", data=form)
    assert response.status_code == 302
    with app.app_context():
        assert db.session.execute(select(Shop.name)).scalar_one() == "分享小店官方旗舰店"
