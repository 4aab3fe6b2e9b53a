"""The thin WSGI path for a sharer's poster (shop.web.sharer.posterpath): for a product's and a
shop's poster, each way a language is chosen, over HTTP and HTTPS, its answer is the Flask
path's for the same request (status, headers in order, the file's bytes, the session cookie
and the request-log line; only the times and the cookie's signature differ), without entering
Flask; everything else (someone else's link, a signed-out or ended session, HEAD, conditional
and ranged requests, a download, a poster not drawn, a change since, an error) falls through to
Flask, which answers it as before."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import update
from werkzeug.test import EnvironBuilder, run_wsgi_app

from shop.accounts.models import User, UserSession
from shop.orders import coupons
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing import links
from shop.sharing.models import Channel, ShareLink, Shop
from shop.web.sharer import posterpath
from shop.web.sharer.posterpath import PosterPath
from tests.conftest import build_app, sign_in
from tests.factories import DEFAULT_PASSWORD, make_shop, make_user
from tests.web.test_kept_path import Entered, log_lines  # noqa: F401 (fixture)
from tests.web.test_sharing import make_link

AGENT = "Mozilla/5.0 (iPhone) MicroMessenger/8.0.40"
LANGUAGES = {
    "zh-default": {},
    "en-header": {"Accept-Language": "en-US,en;q=0.9"},
    "en-cookie": {"Cookie": "lang=en", "Accept-Language": "zh-CN"},
}
TIMES = ("Date", "Expires")


@pytest.fixture
def app(database_url, tmp_path):
    application = build_app(
        database_url,
        tmp_path / "instance",
        REQUEST_LOG=True,
        TRUSTED_HOSTS=["localhost", "shop.example.com"],
    )
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def sharer(app):
    """A signed-in sharer with a product link and the shop's own link: (cookie, paths)."""
    with app.app_context():
        link = make_link(title="桂花乌龙", price_cents=5900, stock=5)
        shop_link = links.get_or_create_link(link.shop, None, Channel.WECHAT_GROUP, now=utcnow())
        db.session.commit()
        account = link.sharer.account_label
        paths = {
            "product": f"/me/links/{link.id}/poster.jpg",
            "shop": f"/me/links/{shop_link.id}/poster.jpg",
        }
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = AGENT
    sign_in(client, account, DEFAULT_PASSWORD)
    return client.get_cookie("session").value, paths


def thin_path(app) -> PosterPath:
    wsgi = app.wsgi_app
    while not isinstance(wsgi, PosterPath):
        wsgi = wsgi.inner
    return wsgi


class Answer:
    def __init__(self, wsgi, path, cookie, headers=None, base_url="http://localhost", method="GET"):
        headers = {"X-Request-ID": "req-0123456789", "User-Agent": AGENT, **(headers or {})}
        cookies = [f"session={cookie}"] if cookie else []
        if "Cookie" in headers:
            cookies.append(headers.pop("Cookie"))
        if cookies:
            headers["Cookie"] = "; ".join(cookies)
        environ = EnvironBuilder(
            path=path,
            base_url=base_url,
            headers=headers,
            method=method,
            environ_base={"REMOTE_ADDR": "127.0.0.1"},  # as the test client signed in from
        ).get_environ()
        body, self.status, self.headers = run_wsgi_app(wsgi, environ, buffered=True)
        self.body = b"".join(body)
        if hasattr(body, "close"):
            body.close()

    def comparable(self) -> tuple:
        headers = []
        for name, value in self.headers.to_wsgi_list():
            if name in TIMES:
                value = "<time>"
            elif name == "Set-Cookie":
                value = re.sub(r"^session=[^;]+", "session=<signed>", value)
                value = re.sub(r"Expires=[^;]+", "Expires=<time>", value)
            headers.append((name, value))
        return self.status, headers, self.body


def _both(app, path, cookie, **kwargs) -> tuple[Answer, Answer, int]:
    """(the thin path's answer, Flask's for the same request, requests that entered Flask for
    the thin one), after a first request through Flask (it draws the poster, keeps its key)."""
    thin = thin_path(app)
    Answer(thin.inner, path, cookie, **kwargs)
    entered = Entered(app)
    fast = Answer(app.wsgi_app, path, cookie, **kwargs)
    count = entered.count
    return fast, Answer(thin.inner, path, cookie, **kwargs), count


def _falls_through(app, path, cookie, **kwargs) -> Answer:
    entered = Entered(app)
    answer = Answer(app.wsgi_app, path, cookie, **kwargs)
    assert entered.count == 1, f"expected Flask to answer {path} {kwargs}"
    return answer


def _same_log_lines(thin_line: str, flask_line: str) -> None:
    pattern = r'"(time|duration_ms)": [^,]+'
    assert re.sub(pattern, "", thin_line) == re.sub(pattern, "", flask_line)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", ["product", "shop"])
def test_the_thin_answer_is_flask_s(app, sharer, kind, language, log_lines):  # noqa: F811
    cookie, paths = sharer
    fast, flask, entered = _both(app, paths[kind], cookie, headers=LANGUAGES[language])
    assert entered == 0, "the thin path did not answer"
    assert fast.comparable() == flask.comparable()
    assert fast.status == "200 OK" and fast.body[:2] == b"\xff\xd8"
    # Signed a moment ago: not signed again before SESSION_REFRESH_MINUTES (as Flask).
    assert fast.headers["ETag"] and "Set-Cookie" not in fast.headers
    *_first, thin_line, flask_line = log_lines
    _same_log_lines(thin_line, flask_line)
    assert '"status": 200' in thin_line and '"user_id": null' not in thin_line


def test_each_language_has_its_own_poster(app, sharer):
    cookie, paths = sharer
    tags = {}
    for language, headers in LANGUAGES.items():
        fast, flask, entered = _both(app, paths["product"], cookie, headers=headers)
        assert entered == 0 and fast.comparable() == flask.comparable()
        tags[language] = fast.headers["ETag"]
    assert tags["en-header"] == tags["en-cookie"] != tags["zh-default"]
    # The user's own language comes first (as shop.platform.i18n chooses it).
    with app.app_context():
        db.session.execute(update(User).values(locale="en"))
        db.session.commit()
    fast, flask, entered = _both(app, paths["product"], cookie, headers={"Accept-Language": "zh"})
    assert entered == 0 and fast.comparable() == flask.comparable()
    assert fast.headers["ETag"] == tags["en-header"]


def test_a_secure_answer_is_flask_s(app, sharer):
    cookie, paths = sharer
    fast, flask, entered = _both(app, paths["product"], cookie, base_url="https://shop.example.com")
    assert entered == 0 and fast.comparable() == flask.comparable()
    assert "Strict-Transport-Security" in fast.headers


@pytest.mark.parametrize("base_url", ["http://localhost", "https://shop.example.com"])
def test_the_session_signing_is_flask_s(app, sharer, monkeypatch, base_url):
    """Once the session is due to be signed again (SESSION_REFRESH_MINUTES after it was), the
    refreshed cookie, at the same second, is byte for byte the one Flask sets, and good."""
    import time

    cookie, paths = sharer
    frozen = time.time() + app.config["SESSION_REFRESH_MINUTES"] * 60 + 1
    monkeypatch.setattr(time, "time", lambda: frozen)
    fast, flask, entered = _both(app, paths["product"], cookie, base_url=base_url)
    assert entered == 0 and fast.comparable() == flask.comparable()
    signed = [a.headers["Set-Cookie"].split(";")[0] for a in (fast, flask)]
    assert signed[0] == signed[1] and signed[0].startswith("session=")
    assert ("Secure" in fast.headers["Set-Cookie"]) == base_url.startswith("https")
    again = signed[0].removeprefix("session=")
    assert Answer(app.wsgi_app, paths["product"], again, base_url=base_url).status == "200 OK"


def test_others_links_and_ended_sessions_fall_through_to_flask(app, sharer, user_client):
    cookie, paths = sharer
    path = paths["product"]
    _both(app, path, cookie)  # kept
    with app.app_context():
        other = make_link(title="别人的茶")
        db.session.commit()
        others = f"/me/links/{other.id}/poster.jpg"
        shopless = make_user()
        db.session.commit()
    # Someone else's link: Flask's 404; a missing one too.
    assert _falls_through(app, others, cookie).status.startswith("404")
    assert _falls_through(app, "/me/links/999999/poster.jpg", cookie).status.startswith("404")
    # No session, one that does not verify, one of a client it was not made for (session
    # protection), a remember-me cookie: Flask's.
    assert _falls_through(app, path, None).status.startswith("302")
    _falls_through(app, path, cookie[:-2] + "xx")
    _falls_through(app, path, cookie, headers={"User-Agent": "another browser"})
    _falls_through(app, path, cookie, headers={"X-Forwarded-For": "203.0.113.9"})
    _falls_through(app, path, cookie, headers={"Cookie": "remember_token=1|abc"})
    # A user without a shop: Flask sends them to open one.
    client = user_client(shopless)
    no_shop = client.get_cookie("session").value
    assert _falls_through(app, path, no_shop).status.startswith("302")
    # A session ended (signed out, a password change, from the account page): Flask's
    # redirect to sign in, never the poster.
    with app.app_context():
        db.session.execute(update(UserSession).values(revoked_at=utcnow()))
        db.session.commit()
    answer = _falls_through(app, path, cookie)
    assert answer.status.startswith("302") and "/auth/signin" in answer.headers["Location"]


def test_signing_out_ends_the_thin_answer(app, sharer):
    cookie, paths = sharer
    _both(app, paths["product"], cookie)
    assert Answer(app.wsgi_app, paths["product"], cookie).status == "200 OK"
    client = app.test_client()
    client.set_cookie("session", cookie)
    client.environ_base["HTTP_USER_AGENT"] = AGENT
    assert client.post("/auth/signout").status_code == 302
    answer = _falls_through(app, paths["product"], cookie)
    assert answer.status.startswith("302") and "/auth/signin" in answer.headers["Location"]


def test_other_requests_fall_through_to_flask(app, sharer, log_lines):  # noqa: F811
    cookie, paths = sharer
    path = paths["product"]
    fast, _flask, entered = _both(app, path, cookie)
    assert entered == 0
    etag = fast.headers["ETag"]
    # A browser revalidating (the answer is private, no-cache): the thin path's 304 is Flask's.
    for matching in (etag, f'"other", {etag}', "*"):
        revalidated, flask, entered = _both(app, path, cookie, headers={"If-None-Match": matching})
        assert entered == 0 and revalidated.status.startswith("304") and not revalidated.body
        assert revalidated.comparable() == flask.comparable()
        *_first, thin_line, flask_line = log_lines
        _same_log_lines(thin_line, flask_line)
        assert '"status": 304' in thin_line
    # A tag that does not match, a weak one, another condition: Flask's answer.
    assert _falls_through(app, path, cookie, headers={"If-None-Match": '"x"'}).body == fast.body
    _falls_through(app, path, cookie, headers={"If-None-Match": f"W/{etag}"})
    last = fast.headers["Last-Modified"]
    _falls_through(app, path, cookie, headers={"If-Modified-Since": last})
    assert _falls_through(app, path, cookie, method="HEAD").status == "200 OK"
    assert _falls_through(app, path, cookie, headers={"Range": "bytes=0-10"}).body
    download = _falls_through(app, path + "?download=1", cookie)
    assert "attachment" in download.headers["Content-Disposition"]
    _falls_through(app, path, cookie, base_url="http://localhost/app")
    assert _falls_through(app, path, cookie, base_url="http://evil.example.com").status.startswith(
        "400"
    )
    # Still kept: the plain request is the thin path's again.
    assert Answer(app.wsgi_app, path, cookie).headers["ETag"] == etag


def test_an_admin_and_a_session_due_to_be_seen_fall_through(app, sharer):
    cookie, paths = sharer
    path = paths["product"]
    _both(app, path, cookie)
    with app.app_context():
        db.session.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    _falls_through(app, path, cookie)  # Flask moves the last-seen time...
    with app.app_context():
        seen = db.session.execute(db.select(UserSession.last_seen_at)).scalar_one()
        assert seen > utcnow() - timedelta(minutes=1)
    entered = Entered(app)
    assert Answer(app.wsgi_app, path, cookie).status == "200 OK" and entered.count == 0  # ...then
    with app.app_context():
        db.session.execute(update(User).values(is_admin=True))
        db.session.commit()
    _falls_through(app, path, cookie)


def test_a_change_since_makes_flask_draw_it_again(app, sharer):
    """A change of what the poster shows (the product, the sharer's name, the shop, the
    template, a coupon): Flask draws the new poster and keeps its key; the thin path serves
    the new one after that, never the old."""
    cookie, paths = sharer
    path = paths["product"]
    seen = {_both(app, path, cookie)[0].headers["ETag"]}
    with app.app_context():
        link = db.session.get(ShareLink, int(path.split("/")[3]))
        coupon = coupons.create_coupon(
            link.product.merchant, product_id=link.product_id, off_cents=1000,
            threshold_cents=0, total_count=5, per_buyer=1,
            starts_at=utcnow() - timedelta(hours=1), ends_at=utcnow() + timedelta(days=3),
            now=utcnow(),
        )  # fmt: skip
        coupon_id = coupon.id
        db.session.commit()

    def product(row):
        row.title = f"{row.title}新款"

    def name(_row):
        db.session.execute(update(User).values(display_name=User.display_name + "王"))

    def shop(_row):
        db.session.execute(update(Shop).values(name="老王的店"))

    def template(row):
        row.poster_template = "price"

    def coupon_on(row):
        coupons.attach(db.session.get(coupons.Coupon, coupon_id), sharer=row.sharer, link=row)

    def coupon_cheaper(_row):
        db.session.execute(
            update(coupons.Coupon).where(coupons.Coupon.id == coupon_id).values(off_cents=1500)
        )

    changes = (
        (product, "product"),
        (name, "product"),
        (name, "shop"),
        (shop, "shop"),
        (template, "product"),
        (coupon_on, "product"),
        (coupon_cheaper, "product"),
    )
    seen.add(_both(app, paths["shop"], cookie)[0].headers["ETag"])
    for change, kind in changes:
        with app.app_context():
            row = db.session.get(ShareLink, int(path.split("/")[3]))
            change(row.product if change is product else row)
            db.session.commit()
        answer = _falls_through(app, paths[kind], cookie)
        assert answer.headers["ETag"] not in seen, change.__name__
        seen.add(answer.headers["ETag"])
        fast, flask, entered = _both(app, paths[kind], cookie)
        assert entered == 0 and fast.comparable() == flask.comparable()
        assert fast.headers["ETag"] == answer.headers["ETag"]


def test_a_poster_not_on_disk_is_drawn_by_flask(app, sharer):
    cookie, paths = sharer
    fast, _flask, entered = _both(app, paths["product"], cookie)
    assert entered == 0
    key = fast.headers["ETag"].strip('"')
    drawn = app.instance_path + f"/posters/{key[:2]}/{key}.jpg"
    import os

    os.remove(drawn)
    answer = _falls_through(app, paths["product"], cookie)
    assert answer.status == "200 OK" and answer.body == fast.body and os.path.exists(drawn)


def test_an_error_in_the_thin_path_leaves_the_request_to_flask(app, sharer, monkeypatch, caplog):
    cookie, paths = sharer
    _both(app, paths["product"], cookie)

    def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(posterpath, "read_stamps", broken)
    answer = _falls_through(app, paths["product"], cookie)
    assert answer.status == "200 OK" and answer.body[:2] == b"\xff\xd8"
    assert "poster thin path failed" in caplog.text


def test_a_worker_that_kept_no_key_sends_the_request_to_flask(app, sharer):
    """The kept keys come from the Flask path only: a worker that never served a poster
    (a new one, or one whose keys were dropped) sends the request to Flask."""
    cookie, paths = sharer
    _both(app, paths["product"], cookie)
    app.extensions.pop(posterpath.CACHE)
    _falls_through(app, paths["product"], cookie)
    entered = Entered(app)
    Answer(app.wsgi_app, paths["product"], cookie)
    assert entered.count == 0


def test_another_sharer_with_the_same_inputs_is_never_served_a_kept_key(app, sharer):
    """A second sharer asking for the first sharer's link id: the query joins the link to the
    asking user's own shop, so nothing is found and Flask answers 404."""
    cookie, paths = sharer
    _both(app, paths["product"], cookie)
    with app.app_context():
        user = make_user(display_name="小王")
        make_shop(user=user, slug=f"t{user.id}")
        db.session.commit()
        account = user.account_label
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = AGENT
    sign_in(client, account, DEFAULT_PASSWORD)
    other = client.get_cookie("session").value
    assert _falls_through(app, paths["product"], other).status.startswith("404")


def test_a_key_is_kept_no_longer_than_its_time(app, sharer, monkeypatch):
    """Another host's changes move no stamp here: POSTER_KEY_SECONDS bounds how long a key
    is used (at most 10 s when the stamps are this process's own)."""
    from shop.web.sharer import posterkeys

    cookie, paths = sharer
    assert _both(app, paths["product"], cookie)[2] == 0
    real = posterkeys.time.monotonic
    monkeypatch.setattr(posterkeys.time, "monotonic", lambda: real() + 301)
    _falls_through(app, paths["product"], cookie)
    assert _both(app, paths["product"], cookie)[2] == 0  # kept again from then
    app.extensions["change_stamps"].folder = None  # (as when the folder was given up)
    _falls_through(app, paths["product"], cookie)  # the stamps read now differ: Flask
    monkeypatch.setattr(posterkeys.time, "monotonic", lambda: real() + 301 + 11)
    _falls_through(app, paths["product"], cookie)


def test_with_no_time_to_keep_every_poster_goes_through_flask(database_url, tmp_path):
    app = build_app(database_url, tmp_path / "off", POSTER_KEY_SECONDS=0)
    try:
        with app.app_context():
            link = make_link(title="桂花乌龙")
            db.session.commit()
            account, path = link.sharer.account_label, f"/me/links/{link.id}/poster.jpg"
        client = app.test_client()
        client.environ_base["HTTP_USER_AGENT"] = AGENT
        sign_in(client, account, DEFAULT_PASSWORD)
        cookie = client.get_cookie("session").value
        for _ in range(3):
            assert _falls_through(app, path, cookie).status == "200 OK"
        assert posterpath.CACHE not in app.extensions
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_password_change_elsewhere_ends_the_thin_answer(app, sharer):
    """The sharer changes the password on another device: this device's session is ended
    there, and its poster request is Flask's redirect to sign in."""
    cookie, paths = sharer
    assert _both(app, paths["product"], cookie)[2] == 0
    with app.app_context():
        account = db.session.execute(db.select(User)).scalars().first().account_label
    laptop = sign_in(app.test_client(), account, DEFAULT_PASSWORD)
    changed = laptop.post(
        "/auth/password",
        data={
            "current_password": DEFAULT_PASSWORD,
            "new_password": "brand-new-pass-9",
            "confirm": "brand-new-pass-9",
        },
    )
    assert changed.status_code == 302
    answer = _falls_through(app, paths["product"], cookie)
    assert answer.status.startswith("302") and "/auth/signin" in answer.headers["Location"]
    kept = laptop.get(paths["product"])  # the device that changed it keeps its session
    kept.get_data()
    kept.close()
    assert kept.status_code == 200


def test_a_kept_session_decode_ends_with_the_cookie_s_age(app, sharer, monkeypatch):
    """The thin path keeps a session cookie it decoded (the value is signed: it always decodes
    the same), but never past the cookie's max age: then Flask answers, as itsdangerous would
    refuse the cookie; and a kept decode still checks the client it was issued to."""
    cookie, paths = sharer
    thin = thin_path(app)
    assert _both(app, paths["product"], cookie)[2] == 0
    assert cookie in thin.decoded
    _falls_through(app, paths["product"], cookie, headers={"User-Agent": "Other/1.0"})
    real = posterpath.time.time
    monkeypatch.setattr(posterpath.time, "time", lambda: real() + thin.session_max_age + 2)
    _falls_through(app, paths["product"], cookie)


def test_the_coupon_shown_is_flask_s_the_link_s_before_the_item_s(app, sharer):
    """The thin path asks for the coupons with the rest, in one query: the link's open coupon
    before the shop item's, the item's when the link's is closed, as shown_coupon chooses."""
    from shop.sharing.models import ShopItem

    cookie, paths = sharer
    path = paths["product"]
    with app.app_context():
        link = db.session.get(ShareLink, int(path.split("/")[3]))
        item = db.session.execute(
            db.select(ShopItem).filter_by(shop_id=link.shop_id, product_id=link.product_id)
        ).scalar_one()
        made = [
            coupons.create_coupon(
                link.product.merchant,
                product_id=link.product_id,
                off_cents=off,
                threshold_cents=0,
                total_count=5,
                per_buyer=1,
                starts_at=utcnow() - timedelta(hours=1),
                ends_at=utcnow() + timedelta(days=3),
                now=utcnow(),
            )  # fmt: skip
            for off in (800, 1000)
        ]
        coupons.attach(made[0], sharer=link.sharer, item=item)
        db.session.commit()
        on_link = made[1].id
    fast, flask, entered = _both(app, path, cookie)
    assert entered == 0 and fast.comparable() == flask.comparable()
    item_tag = fast.headers["ETag"]
    with app.app_context():
        link = db.session.get(ShareLink, int(path.split("/")[3]))
        coupons.attach(db.session.get(coupons.Coupon, on_link), sharer=link.sharer, link=link)
        db.session.commit()
    fast, flask, entered = _both(app, path, cookie)
    assert entered == 0 and fast.comparable() == flask.comparable()
    assert fast.headers["ETag"] != item_tag
    with app.app_context():
        db.session.execute(
            update(coupons.Coupon).where(coupons.Coupon.id == on_link).values(is_active=False)
        )
        db.session.commit()
    fast, flask, entered = _both(app, path, cookie)
    assert entered == 0 and fast.comparable() == flask.comparable()
    assert fast.headers["ETag"] == item_tag
