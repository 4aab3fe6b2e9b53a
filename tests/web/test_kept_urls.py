"""What the checkout page keeps per process instead of building per request: paths
(shop.web.common.kept_url, media_url) are url_for's for the same arguments and script root,
and translated strings with whole-number variables follow the values and the language."""

from flask import render_template_string, url_for

from shop.web.common import kept_url, media_url


def test_a_kept_path_is_url_for_s_for_the_same_arguments_and_root(app):
    cases = [
        ("storefront.address_book", {"next": "/checkout/3?ref=Ab9&quantity=2"}),
        ("storefront.address_book", {"next": "/checkout/3?ref=Zz1 &x=<'\">"}),
        ("storefront.media", {"name": "abc-t.webp"}),
        ("storefront.product_detail", {"product_id": 7, "_anchor": "buy"}),
    ]
    for root in ("", "/shop"):
        with app.test_request_context("/", base_url=f"http://localhost{root}"):
            for endpoint, values in cases:
                assert kept_url(endpoint, **values) == url_for(endpoint, **values)
                assert kept_url(endpoint, **values) == url_for(endpoint, **values)  # kept
            assert media_url("abc-t.webp") == f"{root}/media/abc-t.webp"
            assert kept_url("storefront.cart", x=["a", "b"]) == url_for(
                "storefront.cart", x=["a", "b"]
            )
            assert kept_url("static", filename="css/app.css") == url_for(
                "static", filename="css/app.css"
            )
    assert not any("static" in key for key in app.extensions["fenxiang.kept_urls"])


def test_a_translated_string_with_whole_numbers_follows_its_values_and_language(app):
    page = '{{ _("%(n)d orders, one per shop", n=n) }}|{{ _("%(n)d minutes", n=n) }}'
    for language, expected in (
        ("zh-CN", ("2 个订单", "3 个订单")),
        ("en", ("2 orders, one per shop", "3 orders, one per shop")),
    ):
        for n, text in zip((2, 3, 2), (*expected, expected[0]), strict=True):
            with app.test_request_context("/", headers={"Accept-Language": language}):
                assert text in render_template_string(page, n=n)
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert render_template_string('{{ _("%(n)s", n=n) }}', n="<b>") == "&lt;b&gt;"


def test_kept_urls_of_external_urls_and_other_types_are_not_kept(app):
    """A review's cases: an external URL follows the request's host; True is not 1."""
    from flask import url_for

    from shop.web.common import kept_url

    with app.test_request_context("/", base_url="http://localhost"):
        kept_url("storefront.media", name="x.webp", _external=True)
    with app.test_request_context("/", base_url="http://127.0.0.1"):
        assert kept_url("storefront.media", name="x.webp", _external=True) == url_for(
            "storefront.media", name="x.webp", _external=True
        )
        kept_url("storefront.address_book", next=1)
        assert kept_url("storefront.address_book", next=True) == url_for(
            "storefront.address_book", next=True
        )
