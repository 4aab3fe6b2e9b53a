"""The thin WSGI path for kept pages (shop.web.storefront.keptpath): for each kind of kept page
(product, landing, shop) and each way a language is chosen, its answer is the Flask path's for
the same request (status, headers in order, body, the session cookie and the request-log line;
only the CSRF token, which is new each time, and a compressed body's bytes differ), without
entering Flask; the token works; everything else falls through to Flask."""

import gzip
import logging
import re

import brotli
import pytest
from flask import request_started
from werkzeug.test import EnvironBuilder, run_wsgi_app

from shop.catalog.models import Product
from shop.platform import ops
from shop.platform.extensions import db
from shop.web.storefront.keptpath import KeptPagePath
from tests.factories import make_product, make_user
from tests.web.test_landing_cache import TOKEN
from tests.web.test_sharing import make_link

WECHAT_UA = "Mozilla/5.0 (iPhone) AppleWebKit MicroMessenger/8.0.40"
LANGUAGES = {
    "zh-default": {},
    "en-header": {"Accept-Language": "en-US,en;q=0.9"},
    "zh-header": {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"},
    "en-cookie": {"Cookie": "lang=en", "Accept-Language": "zh-CN"},
}


@pytest.fixture
def apps(make_apps):
    def make(**settings):
        return make_apps(
            LANDING_CACHE_SECONDS=60, WTF_CSRF_ENABLED=True, REQUEST_LOG=True, **settings
        )

    return make


@pytest.fixture
def app(apps):
    return apps(TRUSTED_HOSTS=["localhost", "shop.example.com"])


@pytest.fixture
def pages(app) -> dict[str, str]:
    with app.app_context():
        link = make_link(title="保温杯", stock=8)
        db.session.commit()
        slug, product_id, code = link.shop.slug, link.product_id, link.code
    return {
        "product": f"/p/{product_id}",
        "landing": f"/s/{slug}/p/{product_id}?ref={code}",
        "wechat-landing": f"/s/{slug}/p/{product_id}?ref={code}&from=groupmessage&isappinstalled=0",
        "shop": f"/s/{slug}",
    }


def thin_path(app) -> KeptPagePath:
    wsgi = app.wsgi_app
    while not isinstance(wsgi, KeptPagePath):
        wsgi = wsgi.inner
    return wsgi


class Answer:
    def __init__(self, wsgi, path, headers=None, base_url="http://localhost", method="GET"):
        headers = {"X-Request-ID": "req-0123456789", **(headers or {})}
        environ = EnvironBuilder(
            path=path, base_url=base_url, headers=headers, method=method
        ).get_environ()
        body, self.status, self.headers = run_wsgi_app(wsgi, environ, buffered=True)
        self.raw = b"".join(body)
        encoding = self.headers.get("Content-Encoding")
        data = self.raw
        if encoding == "gzip":
            data = gzip.decompress(data)
        elif encoding == "br":
            data = brotli.decompress(data)
        self.text = data.decode()

    def comparable(self) -> tuple:
        headers = []
        for name, value in self.headers.to_wsgi_list():
            if name == "Set-Cookie":
                value = re.sub(r"^session=[^;]+", "session=<signed>", value)
            elif name == "Date" or (
                name == "Content-Length" and "Content-Encoding" in self.headers
            ):
                value = "<varies>"
            headers.append((name, value))
        return self.status, headers, TOKEN.sub("", self.text)


class Entered:
    """How many requests entered Flask."""

    def __init__(self, app):
        self.count = 0
        request_started.connect(self._started, app)

    def _started(self, _sender, **_extra):
        self.count += 1


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def log_lines():
    handler = Lines()
    ops.request_log.addHandler(handler)
    yield handler.lines
    ops.request_log.removeHandler(handler)


def _both(app, path, **kwargs) -> tuple[Answer, Answer, int]:
    """(the thin path's answer, Flask's for the same request, requests that entered Flask for
    the thin one), after two visits through Flask (a shop page is kept at its second)."""
    thin = thin_path(app)
    for _ in range(2):
        Answer(thin.inner, path, **kwargs)
    entered = Entered(app)
    fast = Answer(app.wsgi_app, path, **kwargs)
    count = entered.count
    return fast, Answer(thin.inner, path, **kwargs), count


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", ["product", "landing", "wechat-landing", "shop"])
def test_the_thin_answer_is_flask_s(app, pages, kind, language, log_lines):
    headers = {"X-Request-ID": "req-0123456789", "User-Agent": WECHAT_UA, **LANGUAGES[language]}
    if kind != "wechat-landing":
        headers["User-Agent"] = "Mozilla/5.0 (iPhone)"
    fast, flask, entered = _both(app, pages[kind], headers=headers)
    assert entered == 0, "the thin path did not answer"
    assert fast.comparable() == flask.comparable()
    lang = 'lang="zh-CN"' if language.startswith("zh") else 'lang="en"'
    assert fast.status == "200 OK" and lang in fast.text
    if kind != "shop":  # a page with a form: a new session with the token's secret
        assert TOKEN.search(fast.text)[1] != TOKEN.search(flask.text)[1]
        assert fast.headers["Set-Cookie"].startswith("session=")
    # The request-log lines: the same but for the time and the duration.
    *_renders, thin_line, flask_line = log_lines
    assert re.sub(r'"(time|duration_ms)": [^,]+', "", thin_line) == re.sub(
        r'"(time|duration_ms)": [^,]+', "", flask_line
    )
    assert '"status": 200' in thin_line and '"request_id": "req-0123456789"' in thin_line


@pytest.mark.parametrize("encoding", ["gzip", "br", "gzip, deflate, br", "identity"])
def test_compressed_and_secure_answers_are_flask_s(app, pages, encoding):
    for path in (pages["landing"], pages["shop"]):
        for base_url in ("http://localhost", "https://shop.example.com"):
            kwargs = {"headers": {"Accept-Encoding": encoding}, "base_url": base_url}
            fast, flask, entered = _both(app, path, **kwargs)
            assert entered == 0
            assert fast.comparable() == flask.comparable()
            assert ("Content-Encoding" in fast.headers) == (encoding != "identity")
            if base_url.startswith("https") and "Set-Cookie" in fast.headers:
                assert "Secure" in fast.headers["Set-Cookie"]
                assert "Strict-Transport-Security" in fast.headers


def test_the_thin_token_works_and_a_token_session_is_kept(app, pages):
    client = app.test_client()
    thin = thin_path(app)
    Answer(thin.inner, pages["landing"])  # rendered and kept by Flask
    entered = Entered(app)
    page = client.get(pages["landing"])
    assert entered.count == 0 and page.status_code == 200
    token = TOKEN.search(page.text)[1]
    # The visitor comes back with the session cookie (the token's secret only): served by
    # the thin path, no new cookie, a token for the same secret (Flask's answer alike).
    again = client.get(pages["product"])  # not kept yet: Flask renders it
    again = client.get(pages["product"])
    assert entered.count == 1 and "Set-Cookie" not in again.headers
    assert again.headers["Vary"] == "Accept-Encoding, Cookie"
    cookie = client.get_cookie("session").value
    fast, flask, entered_now = _both(app, pages["product"], headers={"Cookie": f"session={cookie}"})
    assert entered_now == 0 and fast.comparable() == flask.comparable()
    with app.app_context():
        product_id = db.session.execute(db.select(Product.id)).scalar_one()
    added = client.post(
        "/cart/add", data={"csrf_token": token, "product_id": product_id, "quantity": "1"}
    )
    assert added.status_code == 303
    # Now with a cart in the session: Flask's (its badge).
    before = entered.count
    with_cart = client.get(pages["product"])
    assert entered.count == before + 1 and 'class="badge badge-count">1<' in with_cart.text


def _falls_through(app, path, **kwargs) -> Answer:
    thin = thin_path(app)
    Answer(thin.inner, path)
    Answer(thin.inner, path)
    entered = Entered(app)
    answer = Answer(app.wsgi_app, path, **kwargs)
    assert entered.count == 1, f"expected Flask to answer {path} {kwargs}"
    return answer


def test_everything_else_falls_through_to_flask(app, pages):
    product, landing = pages["product"], pages["landing"]
    bare = landing.split("?")[0]
    code = landing.split("ref=")[1]
    for path in (
        f"{product}?x=1",
        f"{bare}?ref=bad",
        f"{bare}?ref={code}&ref={code}",
        f"{bare}?ref={code}&from=elsewhere",
        f"{bare}?ref=%{ord(code[0]):02X}{code[1:]}",
        f"{bare}?ref={code}&",
        product + "/",
        product.replace("/p/", "/p/0"),
        "/p/2147483648",
        pages["shop"].upper(),
        "/p/" + "١٢",
    ):
        _falls_through(app, path)
    # Not GET; a range or a conditional request; an untrusted host; a script root.
    _falls_through(app, product, method="HEAD")
    _falls_through(app, product, headers={"Range": "bytes=0-10"})
    _falls_through(app, product, headers={"If-None-Match": '"x"'})
    assert _falls_through(app, product, base_url="http://evil.example.com").status.startswith("400")
    _falls_through(app, product, base_url="http://localhost/shop")
    # A remember-me cookie, a session that does not verify, one with more than a token.
    _falls_through(app, product, headers={"Cookie": "remember_token=1|abc"})
    _falls_through(app, product, headers={"Cookie": "session=eyJ4IjoxfQ.bad.sig"})
    with app.app_context():
        user_id = make_user().id
        db.session.commit()
    serializer = app.session_interface.get_signing_serializer(app)
    for session in (
        {"_user_id": str(user_id), "_fresh": True, "csrf_token": "a" * 40},
        {"csrf_token": "a" * 40, "_flashes": [("info", "你好")]},
        {"csrf_token": 7},
    ):
        cookie = serializer.dumps(session)
        _falls_through(app, product, headers={"Cookie": f"session={cookie}"})


def test_pages_not_kept_as_they_are_fall_through(app, pages, monkeypatch):
    from shop.web.storefront import landing as landing_module

    product = pages["product"]
    thin = thin_path(app)
    entered = Entered(app)
    Answer(app.wsgi_app, product)  # not kept yet: Flask renders it
    assert entered.count == 1
    Answer(app.wsgi_app, product)
    assert entered.count == 1  # kept: the thin path
    # A change (its stamp moved): Flask renders it again.
    with app.app_context():
        db.session.execute(db.select(Product)).scalar_one().title = "新款保温杯"
        db.session.commit()
    assert "新款保温杯" in Answer(app.wsgi_app, product).text and entered.count == 2
    assert "新款保温杯" in Answer(app.wsgi_app, product).text and entered.count == 2
    # In the last tenth of its time: Flask, which renders it again after its answer.
    real = landing_module.time.monotonic
    monkeypatch.setattr(landing_module.time, "monotonic", lambda: real() + 57)
    Answer(app.wsgi_app, product)
    assert entered.count == 3
    monkeypatch.setattr(landing_module.time, "monotonic", real)
    # Sold out since it was kept (the numbers give another state): Flask.
    Answer(thin.inner, product)
    with app.app_context():
        db.session.execute(db.update(Product).values(stock=0))
        db.session.commit()  # a Core UPDATE that marks nothing: only the numbers tell
        app.extensions.pop("kept_stock_numbers", None)  # (which this worker reads again)
    before = entered.count
    assert "已售罄" in Answer(app.wsgi_app, product).text
    assert entered.count == before + 1


def test_wechat_pages_with_the_share_script_fall_through(apps):
    app = apps(
        WECHAT_APP_ID="wx0123456789abcdef",
        WECHAT_APP_SECRET="secret",
        WECHAT_API_BASE="http://127.0.0.1:9",  # never called: a page render signs nothing
    )
    with app.app_context():
        product_id = make_product(title="保温杯", stock=10).id
        db.session.commit()
    path = f"/p/{product_id}"
    page = _falls_through(app, path, headers={"User-Agent": WECHAT_UA})
    assert "https://res.wx.qq.com" in page.headers["Content-Security-Policy"]
    # Outside WeChat the same page has no script: the thin path answers it.
    fast, flask, entered = _both(app, path)
    assert entered == 0 and fast.comparable() == flask.comparable()


def test_the_signing_is_itsdangerous_s(app, monkeypatch):
    """The token and the session cookie, signed with the signer made once, are byte for byte
    what itsdangerous (Flask's session interface, Flask-WTF) gives at the same second."""
    import itsdangerous.timed

    thin = thin_path(app)
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: 1_765_000_000.5)
    raw = "0123456789abcdef0123456789abcdef01234567"
    assert thin.token_signing.dumps(raw) == thin.token_serializer.dumps(raw)
    session = {"csrf_token": raw}
    flask_s = app.session_interface.get_signing_serializer(app).dumps(session)
    assert thin.session_signing.dumps(session) == flask_s


def test_a_shop_in_one_language_serves_a_visitor_who_asks_for_another(apps):
    """LANGUAGES without English: a visitor whose browser asks for English gets from the thin
    path what Flask gives (no error, no fall-through to Flask)."""
    app = apps(LANGUAGES={"zh_Hans_CN": "中文"}, TRUSTED_HOSTS=["localhost"])
    with app.app_context():
        product_id = make_product(title="保温杯", stock=8).id
        db.session.commit()
    fast, flask, entered = _both(app, f"/p/{product_id}", headers=LANGUAGES["en-header"])
    assert entered == 0
    assert fast.comparable() == flask.comparable()


def test_a_description_naming_the_sdk_does_not_open_the_csp(app):
    """A product whose text names WeChat's SDK URL: escaped, it is no script tag, and the
    page's CSP stays the site's (only a page that loads the SDK allows its host)."""
    from shop.web.storefront import wechat

    with app.app_context():
        product = make_product(title="保温杯", stock=8)
        product.description = f'<script src="{wechat.SDK_URL}"></script> {wechat.SDK_URL}'
        db.session.commit()
        product_id = product.id
    fast, flask, entered = _both(app, f"/p/{product_id}")
    assert wechat.SDK_URL in fast.text and wechat.SDK_TAG not in fast.text
    assert entered == 0 and fast.comparable() == flask.comparable()
    assert "res.wx.qq.com" not in fast.headers["Content-Security-Policy"]
