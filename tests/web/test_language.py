from shop.accounts.models import User
from shop.platform.extensions import db
from tests.factories import make_user


def test_chinese_is_the_default(client):
    page = client.get("/").get_data(as_text=True)
    assert "登录" in page and 'lang="zh-CN"' in page


def test_accept_language_english(client):
    page = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.8"}).get_data(as_text=True)
    assert "Sign in" in page and 'lang="en"' in page


def test_accept_language_prefers_the_first_supported(client):
    page = client.get("/", headers={"Accept-Language": "fr, zh-TW;q=0.9, en;q=0.5"}).get_data(
        as_text=True
    )
    assert "登录" in page


def test_switcher_sets_a_cookie_that_beats_accept_language(client):
    response = client.post("/auth/language", data={"language": "en", "next": "/auth/signin"})
    assert response.status_code == 302 and response.headers["Location"] == "/auth/signin"
    cookie = client.get_cookie("lang")
    assert cookie.value == "en" and cookie.http_only
    page = client.get("/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "Sign in" in page


def test_switcher_refuses_unknown_languages_and_offsite_next(client):
    response = client.post(
        "/auth/language", data={"language": "xx", "next": "https://evil.example"}
    )
    assert response.headers["Location"] == "/"
    assert client.get_cookie("lang") is None


def test_signed_in_users_setting_wins_and_follows_them(app, user_client):
    with app.app_context():
        user = make_user()
        db.session.commit()
        user_id = user.id
    client = user_client(user)
    client.post("/auth/language", data={"language": "en", "next": "/"})
    with app.app_context():
        assert db.session.get(User, user_id).locale == "en"
    # A new device, with a Chinese browser and no cookie, still gets English once signed in.
    other = user_client(user)
    page = other.get("/auth/account", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "Change password" in page
