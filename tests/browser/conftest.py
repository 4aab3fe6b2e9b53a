"""Chromium (Debian's /usr/bin/chromium, driven by Playwright) on a phone viewport, against the
app served from a thread. With SHOP_REQUIRE_BROWSER=1 a missing browser fails the run."""

import os
import re
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from shop import PROJECT_ROOT
from shop.platform.extensions import db
from tests.conftest import build_app

CHROMIUM = os.environ.get("SHOP_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("SHOP_REQUIRE_BROWSER") == "1"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x18003237) "
    "NetType/WIFI Language/zh_CN"
)


def _unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"browser tests are required (SHOP_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(f"browser tests skipped: {reason} (set SHOP_REQUIRE_BROWSER=1 to require them)")


@pytest.fixture(scope="session")
def playwright_browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield playwright, browser
        browser.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _buffered(app):
    """``app`` with every response body read (and its file closed) before it is sent.

    Werkzeug's development server skips closing a response whose client went away (a page
    left before its images loaded): its clean-up after a dropped connection fails first, and
    the open media file then surfaces as a ResourceWarning in whichever test runs next."""

    def buffered(environ, start_response):
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()

    return buffered


class LiveServer:
    def __init__(self, app):
        self.app = app
        self._server = make_server("127.0.0.1", 0, _buffered(app), threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self):
        self._server.shutdown()
        self._thread.join(5)


@contextmanager
def serving(sqlite_template: Path, tmp_path: Path, **settings):
    """The app on a file SQLite database, with CSRF on (and ``settings``), served on a free
    loopback port for the block."""
    path = tmp_path / "live.sqlite3"
    shutil.copyfile(sqlite_template, path)
    app = build_app(f"sqlite:///{path}", tmp_path / "instance", WTF_CSRF_ENABLED=True, **settings)
    server = LiveServer(app)
    try:
        yield server
    finally:
        server.stop()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def live_server(sqlite_template, tmp_path):
    """The app on a file SQLite database, with CSRF on, served on a free loopback port."""
    with serving(sqlite_template, tmp_path) as server:
        yield server


#: The phone viewport's width: no page may be wider (sideways scrolling).
PHONE_WIDTH = 390


def snap(page, name: str, *, folder: str, locator=None) -> None:
    """A screenshot into test-artifacts/<folder>/ for a person to look at (of ``locator`` if
    given, else the full page), and a check that nothing is wider than the phone."""
    shots = ARTIFACTS / folder
    shots.mkdir(parents=True, exist_ok=True)
    if locator is not None:
        locator.screenshot(path=str(shots / f"{name}.png"))
    else:
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH, name


# --- accessibility: axe-core on every page the browser tests visit ------------------------

#: What fails a test: axe's serious and critical findings (colour contrast, names, focus ...).
AXE_FAILING_IMPACTS = ("serious", "critical")
#: Page kinds (path with numbers as N) already checked in a language, for the whole session:
#: each kind is checked once per language, as whoever first visits it.
_AXE_CHECKED: set[tuple[str, str]] = set()
LANGUAGE_COOKIES = {"zh": "zh_Hans_CN", "en": "en"}


def page_kind(url: str) -> str:
    path = urlsplit(url).path
    return re.sub(r"/[^/]*\d[^/]*(?=/|$)", "/N", path)


def axe_findings(page) -> list[str]:
    """axe-core (shipped in the axe-playwright-python wheel, no CDN) on ``page`` as it is:
    one line per serious or critical violation."""
    from axe_playwright_python.sync_playwright import Axe

    found = []
    for violation in Axe().run(page).response["violations"]:
        if violation["impact"] in AXE_FAILING_IMPACTS:
            targets = [" ".join(node["target"]) for node in violation["nodes"][:3]]
            found.append(
                f"{violation['id']} ({violation['impact']}, {len(violation['nodes'])} elements, "
                f"e.g. {targets}): {violation['help']}"
            )
    return found


def sweep_accessibility(context, urls: list[str]) -> list[str]:
    """Each page kind in ``urls`` not checked yet this session, opened again in ``context``
    (same account, same cookies) in Chinese and in English, through axe-core."""
    problems = []
    for url in urls:
        kind = page_kind(url)
        checked = all((kind, lang) in _AXE_CHECKED for lang in LANGUAGE_COOKIES)
        if checked or not url.startswith("http") or re.search(r"\.\w+$", kind):
            continue  # done already, or not a page (an image, a poster, a CSV file)
        page = context.new_page()
        try:
            for lang, cookie in LANGUAGE_COOKIES.items():
                if (kind, lang) in _AXE_CHECKED:
                    continue
                _AXE_CHECKED.add((kind, lang))
                context.add_cookies([{"name": "lang", "value": cookie, "url": url}])
                page.goto(url)
                problems += [f"{url} [{lang}] {line}" for line in axe_findings(page)]
        finally:
            page.close()
    return problems


@pytest.fixture
def new_phone(playwright_browser, request):
    """A factory of phone browser pages (each in its own context: its own cookies). After a
    passing test, every page kind its pages loaded goes through axe-core in both languages
    (``sweep_accessibility``), and a serious or critical finding fails the test."""
    playwright, browser = playwright_browser
    contexts = []
    visited: dict[object, list[str]] = {}

    def make(locale: str = "zh-CN", user_agent: str | None = None):
        device = dict(playwright.devices["iPhone 13"])
        device.pop("default_browser_type", None)
        device["viewport"] = {"width": 390, "height": 844}
        if user_agent:
            device["user_agent"] = user_agent
        context = browser.new_context(**device, locale=locale)
        context.set_default_timeout(10_000)
        contexts.append(context)
        urls = visited.setdefault(context, [])
        page = context.new_page()
        page.on("load", lambda: urls.append(page.url))
        return page

    yield make
    failed = getattr(request.node, "rep_call", None) and request.node.rep_call.failed
    problems = []
    for index, context in enumerate(contexts):
        if failed:
            ARTIFACTS.mkdir(exist_ok=True)
            name = re.sub(r"[^\w.-]+", "_", request.node.name)
            for page_index, page in enumerate(context.pages):
                page.screenshot(path=str(ARTIFACTS / f"{name}-{index}-{page_index}.png"))
        else:
            problems += sweep_accessibility(context, list(dict.fromkeys(visited[context])))
        context.close()
    assert not problems, "axe-core found:\n" + "\n".join(problems)


@pytest.fixture
def phone(new_phone):
    return new_phone()


# --- steps the buying flows share ------------------------------------------------------


def seed_tea_merchant():
    """An admin, the merchant 陈老板 (山野茶舍) and its 武夷山红茶 at ¥128 with a 10% rebate;
    returns the product. Call inside an app context; the caller commits."""
    from tests.factories import make_merchant, make_product, make_user

    make_user(phone="13700000001", display_name="管理员", is_admin=True)
    merchant = make_merchant(
        user=make_user(phone="13700000002", display_name="陈老板"), name="山野茶舍"
    )
    return make_product(
        merchant=merchant,
        title="武夷山红茶",
        price_cents=12800,
        original_price_cents=15800,
        stock=20,
        rebate_bps=1000,
    )


def fill_sign_up(page, phone: str, name: str, password: str) -> None:
    """Fill the sign-up form the page shows (not sent)."""
    page.locator("#account").fill(phone)
    page.locator("#display_name").fill(name)
    page.locator("#password").fill(password)
    page.locator("#confirm").fill(password)


def fill_address(page) -> None:
    """李小姐's address on the checkout page (not sent)."""
    page.locator("#name").fill("李小姐")
    page.locator("#phone").fill("13900001234")
    pick_region(page, "浙江省", "杭州市", "西湖区")
    page.locator("#detail").fill("文三路 100 号 2 单元 301")


def pick_region(page, province: str, city: str, district: str) -> None:
    """Choose the region in the address picker (its script fills each next list)."""
    page.locator("#province").select_option(label=province)
    page.locator("#city option", has_text=city).first.wait_for(state="attached")
    page.locator("#city").select_option(label=city)
    page.locator("#district option", has_text=district).first.wait_for(state="attached")
    page.locator("#district").select_option(label=district)


def ship(seller, base: str, order_id: int) -> None:
    """The merchant, signed in on ``seller``, ships the order by SF Express."""
    seller.goto(f"{base}/merchant/orders/{order_id}")
    seller.locator("#carrier").select_option("SF")
    seller.locator("#tracking").fill("SF1234567890")
    seller.locator("form[action$='/ship'] button[type=submit]").click()
    seller.get_by_text("已发货，买家可以查看物流。").wait_for()


def buy_now(page) -> None:
    """The product page's 立即购买 in the bottom bar, then 确定 in the spec sheet when the
    product has specs to choose (one without goes straight on)."""
    has_specs = page.locator(".buybar [data-spec-sheet=buy]").count() > 0
    page.locator(".buybar .buy-now").click()
    if has_specs:
        page.locator("dialog.sheet .sheet-ok").click()
