"""The thin paths keep a visitor's language per (language cookie, Accept-Language)
(shop.web.thinpath.ThinPath.locale): always what i18n chooses for those two, whichever was
asked before."""

from babel import Locale
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from shop.platform import i18n
from shop.web.thinpath import KEPT_LOCALES, ThinPath

COOKIES = (None, "en", "zh_Hans_CN", "fr", "")
HEADERS = (None, "", "en-US,en;q=0.9", "zh-CN,zh;q=0.9", "fr-FR,de;q=0.5", "en;q=0.1, zh;q=0.9")


def _thin(app) -> ThinPath:
    thin = app.wsgi_app
    while not isinstance(thin, ThinPath):
        thin = thin.inner
    return thin


def _chosen(app, cookie, header) -> str:
    tags = (tag for tag, _q in parse_accept_header(header, LanguageAccept))
    found = i18n.visitor_locale(cookie, tags, app.config["BABEL_DEFAULT_LOCALE"])
    return str(Locale.parse(found))


def test_a_kept_language_is_i18n_s_for_that_cookie_and_header(app):
    thin = _thin(app)
    cookie_name = app.config["LANGUAGE_COOKIE"]
    seen = set()
    for _round in range(2):  # the second from what the first kept
        for header in HEADERS:
            for cookie in COOKIES:
                cookies = {} if cookie is None else {cookie_name: cookie}
                found = thin.locale(cookies, header)
                assert found == _chosen(app, cookie, header), (cookie, header)
                seen.add(found)
    assert len(seen) >= 2
    assert thin.locale({cookie_name: "en"}, None, user_locale="zh_Hans_CN") == "zh_Hans_CN"


def test_at_most_so_many_languages_are_kept(app):
    thin = _thin(app)
    for n in range(KEPT_LOCALES + 5):
        assert thin.locale({}, f"en;q=0.{n % 9 + 1}, x-{n}") == _chosen(app, None, f"x-{n}, en")
    assert len(thin.visitor_locales) <= KEPT_LOCALES
