"""The layout's kept fragments (shop/web/kept.py): the header, footer and tab bar kept per worker
never show another user's name or badge, another language, an old name or count, or the wrong
tab; and every page is the same with the store on and off."""

import re

import pytest

from shop.accounts.models import User
from shop.platform import outbox
from shop.platform.extensions import db
from tests.factories import make_product, make_user
from tests.services.test_orders import NOW

TOKENS = re.compile(
    r'(name="csrf_token" (?:type="hidden" )?value=")[^"]*"|(id="csrf_token"[^>]*value=")[^"]*"'
)


def page(client, path="/", **kw) -> str:
    response = client.get(path, **kw)
    assert response.status_code == 200, (path, response.status_code)
    return TOKENS.sub(lambda m: (m.group(1) or m.group(2)) + 'T"', response.get_data(as_text=True))


def topbar(html: str) -> str:
    return html.split('<header class="topbar">', 1)[1].split("</header>", 1)[0]


def tabbar(html: str) -> str:
    return html.split('<nav class="tabbar"', 1)[1].split("</nav>", 1)[0]


@pytest.fixture
def two(app):
    with app.app_context():
        first, second = make_user(display_name="甲买家"), make_user(display_name="乙买家")
        product = make_product(stock=9)
        db.session.commit()
        return first.id, second.id, product.id


def test_the_store_is_on_and_pages_are_the_same_with_it_off(app, client, user_client, two):
    first, _second, product_id = two
    store = app.jinja_env.kept_fragments
    assert store.on
    signed = user_client(_user(app, first))
    english = app.test_client()
    english.set_cookie("lang", "en")
    cases = [
        (client, "/"),
        (client, "/auth/signin"),
        (english, "/"),
        (english, f"/p/{product_id}"),
        (signed, "/"),
        (signed, "/auth/account"),
        (signed, "/cart"),
        (signed, "/inbox/"),
    ]
    kept = [page(c, p) for c, p in cases]
    again = [page(c, p) for c, p in cases]  # from the store now
    assert len(store) > 0
    store.on = False
    try:
        fresh = [page(c, p) for c, p in cases]
    finally:
        store.on = True
    assert kept == fresh and again == fresh


def _user(app, user_id):
    with app.app_context():
        return db.session.get(User, user_id)


def test_each_user_sees_their_own_name_and_badge(app, user_client, two):
    first, second, _product = two
    with app.app_context():
        outbox.emit("notify", "rebate_settled", user_id=second, now=NOW, payload={})
        db.session.commit()
        outbox.process_batch(now=NOW)
    a, b = user_client(_user(app, first)), user_client(_user(app, second))
    for _ in range(2):  # the second round from the store
        top_a, top_b = topbar(page(a, "/cart")), topbar(page(b, "/cart"))
        assert "甲买家" in top_a and "乙买家" not in top_a and 'class="badge"' not in top_a
        assert "乙买家" in top_b and "甲买家" not in top_b and "1 条未读" in top_b


def test_a_renamed_user_and_a_new_message_show_at_once(app, user_client, two):
    first, _second, _product = two
    client = user_client(_user(app, first))
    assert "甲买家" in topbar(page(client, "/"))
    with app.app_context():
        db.session.get(User, first).display_name = "新名字"
        db.session.commit()
    top = topbar(page(client, "/"))
    assert "新名字" in top and "甲买家" not in top and 'class="badge"' not in top
    with app.app_context():
        outbox.emit("notify", "rebate_settled", user_id=first, now=NOW, payload={})
        db.session.commit()
        outbox.process_batch(now=NOW)
    assert "1 条未读" in topbar(page(client, "/"))


def test_the_language_and_the_active_tab_follow_the_request(app, client, two):
    _first, _second, product_id = two
    zh = page(client, "/")
    client.set_cookie("lang", "en")
    en = page(client, "/")
    assert "购物车" in topbar(zh) and "Cart" in topbar(en) and "购物车" not in en
    assert "<span>Language:</span>" in en and "<span>语言:</span>" in zh
    assert 'value="en" class="link-button is-current"' in en
    assert 'value="zh_Hans_CN" class="link-button is-current"' in zh
    home, cart = tabbar(page(client, "/")), tabbar(page(client, "/cart"))
    assert 'href="/" class="is-active"' in home and 'href="/cart" class=""' in home
    assert 'href="/" class=""' in cart and 'href="/cart" class="is-active"' in cart
    # The cart badge, in the header and the tab bar, follows the cart.
    assert client.post("/cart/add", data={"product_id": product_id, "quantity": 2}).status_code
    html = page(client, "/cart")
    assert '<span class="badge">2</span>' in topbar(html)
    assert '<span class="tab-badge">2<' in tabbar(html)


def test_a_script_root_is_part_of_the_key(app, client):
    plain = page(client, "/")
    mounted = page(client, "/", base_url="http://localhost/shop")
    assert 'href="/static/css/app.css' in plain and 'href="/shop/static/css/app.css' in mounted
    assert 'action="/shop/auth/language"' in mounted and 'href="/shop/cart"' in tabbar(mounted)
    assert 'action="/auth/language"' in page(client, "/")


def test_the_store_is_off_under_the_debug_server(database_url, tmp_path):
    from tests.conftest import build_app

    app = build_app(database_url, tmp_path / "debug", DEBUG=True)
    assert not app.jinja_env.kept_fragments.on
    app = build_app(database_url, tmp_path / "off", LAYOUT_FRAGMENT_CACHE=False)
    assert not app.jinja_env.kept_fragments.on


def test_a_full_store_starts_again():
    from shop.web.kept import FragmentStore

    store = FragmentStore(limit=2)
    store.put(("a",), "1")
    store.put(("b",), "2")
    store.put(("c",), "3")
    assert len(store) == 1 and store.get(("c",)) == "3" and store.get(("a",)) is None


def test_the_checkout_note_written_out_is_render_field_s_markup(app, user_client):
    from flask import render_template_string

    from shop.web.storefront.checkout_forms import SavedAddressCheckoutForm
    from tests.web.test_checkout import setup_link

    code, product_id, _sharer, buyer = setup_link(app)
    client = user_client(buyer)
    client.set_cookie("lang", "en")
    html = page(client, f"/checkout/{product_id}?ref={code}")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        form = SavedAddressCheckoutForm(meta={"csrf": False})
        form.note.data = 'a "quoted" <note>'
        expected = render_template_string(
            '{% from "_macros/forms.html" import render_field %}{{ render_field(form.note) }}',
            form=form,
        )
    written = expected.replace('value="a &#34;quoted&#34; &lt;note&gt;"', 'value=""')
    assert written != expected and written in html
    typed = client.post(
        f"/checkout/{product_id}", data={"note": 'a "quoted" <note>', "ref": code, "recalc": "1"}
    )
    assert expected in typed.get_data(as_text=True)


def test_template_gettext_escapes_formats_and_follows_the_language(app):
    from flask import render_template_string

    source = (
        "{{ _('Cart') }}|{{ _('50%% off') }}|{{ _('%(n)d unread', n=3) }}|"
        "{{ _('<%(x)s>', x='<i>') }}|{{ gettext('Cart') }}"
    )
    for _round in range(2):  # the second from the strings kept per catalogue
        with app.test_request_context(headers={"Accept-Language": "en"}):
            assert render_template_string(source) == "Cart|50% off|3 unread|<&lt;i&gt;>|Cart"
        with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
            assert render_template_string(source) == "购物车|50% off|3 条未读|<&lt;i&gt;>|购物车"


def test_gettext_takes_variables_named_string_and_a_debug_switch_stops_the_store(app):
    with app.test_request_context("/"):
        page = app.jinja_env.from_string("{{ _('a %(string)s', string='<x>') }}").render()
        assert page == "a &lt;x&gt;"
        store = app.jinja_env.kept_fragments
        assert store.on
        template = app.jinja_env.from_string("{% kept 1 %}{{ n }}{% endkept %}")
        assert template.render(n=1) == "1" and template.render(n=2) == "1"  # kept
        app.jinja_env.auto_reload = True  # as app.debug = True after start does
        try:
            assert template.render(n=2) == "2"
        finally:
            app.jinja_env.auto_reload = False


def test_users_of_every_role_with_the_same_name_get_the_pages_a_fresh_render_gives(
    app, user_client
):
    """A buyer, a sharer, a merchant and an admin with one name and no cart or message share
    every kept fragment's key: whatever the layout shows by role must be in its key, or one
    role's header would reach the others (then this fails)."""
    from tests.factories import make_merchant, make_shop

    with app.app_context():
        users = [make_user(display_name="同名")]
        users.append(make_shop(user=make_user(display_name="同名")).user)
        users.append(make_merchant(user=make_user(display_name="同名")).user)
        users.append(make_user(display_name="同名", is_admin=True))
        db.session.commit()
        ids = [u.id for u in users]
    common = ["/", "/cart", "/auth/account", "/inbox/"]
    own = [[], ["/me/shop"], ["/merchant/"], ["/admin/"]]
    visits = [
        (user_client(_user(app, user_id)), common + paths)
        for user_id, paths in zip(ids, own, strict=True)
    ]
    store = app.jinja_env.kept_fragments
    store.clear()
    kept = [[page(c, p, follow_redirects=True) for p in paths] for c, paths in visits]
    store.on = False
    try:
        fresh = [[page(c, p, follow_redirects=True) for p in paths] for c, paths in visits]
    finally:
        store.on = True
    assert kept == fresh
