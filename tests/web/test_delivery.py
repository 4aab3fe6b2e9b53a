"""How responses travel (shop/delivery.py): compressed when the client accepts it, static files
under content-hashed URLs cached for a year, media and anonymous pages that a shared cache can
keep once for everyone."""

import gzip
import hashlib
import re
from pathlib import Path

import brotli

from shop import PROJECT_ROOT
from shop.catalog.images import image_url_name
from shop.platform.delivery import StaticVersions
from shop.platform.extensions import db
from tests.factories import make_product, make_user
from tests.services.test_fraud import make_order

CSS = PROJECT_ROOT / "static" / "css" / "app.css"


def css_url(page: str) -> str:
    return re.search(r'href="(/static/css/app\.css[^"]*)"', page).group(1)


def test_pages_are_compressed_for_clients_that_accept_it(app, client):
    with app.app_context():
        make_product()
        db.session.commit()
    plain = client.get("/", headers={"Accept-Encoding": ""})
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    assert "Accept-Encoding" in plain.headers["Vary"]
    for accept, name, decode in (
        ("br", "br", brotli.decompress),
        ("gzip", "gzip", gzip.decompress),
        ("gzip, deflate, br", "br", brotli.decompress),
    ):
        packed = client.get("/", headers={"Accept-Encoding": accept})
        assert packed.headers["Content-Encoding"] == name
        assert "Accept-Encoding" in packed.headers["Vary"]
        assert int(packed.headers["Content-Length"]) == len(packed.data) < len(plain.data) / 2
        # The same page apart from the per-request parts (a request id in nothing, but the
        # product grid and footer are identical), so compare the decoded text.
        assert decode(packed.data).decode() == plain.get_data(as_text=True)


def test_static_urls_carry_the_content_digest_and_are_immutable(app, client):
    page = client.get("/").get_data(as_text=True)
    url = css_url(page)
    digest = hashlib.sha256(CSS.read_bytes()).hexdigest()[:12]
    assert url == f"/static/css/app.css?v={digest}"
    with client.get(url, headers={"Accept-Encoding": "gzip"}) as answer:
        assert answer.status_code == 200
        cache = answer.headers["Cache-Control"]
        assert "public" in cache and "max-age=31536000" in cache and "immutable" in cache
        assert "no-cache" not in cache
        assert answer.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(answer.data) == CSS.read_bytes()
        assert "Cookie" not in answer.headers.get("Vary", "")
    # A URL without the digest, or with an old one, revalidates instead of being kept a year.
    for stale in ("/static/css/app.css", "/static/css/app.css?v=000000000000"):
        with client.get(stale) as answer:
            assert answer.status_code == 200
            assert "no-cache" in answer.headers["Cache-Control"]
            assert "immutable" not in answer.headers["Cache-Control"]


def test_each_static_digest_is_computed_once_per_process(tmp_path, monkeypatch):
    (tmp_path / "a.css").write_text("a{}")
    reads = []
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or real(self))
    versions = StaticVersions(str(tmp_path))
    first = versions.version("a.css")
    assert first == hashlib.sha256(b"a{}").hexdigest()[:12]
    (tmp_path / "a.css").write_text("b{}")
    assert versions.version("a.css") == first and len(reads) == 1
    assert versions.version("../outside.css") is None and versions.version("nope.css") is None
    # The debug server's variant follows an edited file.
    fresh = StaticVersions(str(tmp_path), fresh=True)
    assert fresh.version("a.css") == hashlib.sha256(b"b{}").hexdigest()[:12]


def test_a_range_request_is_never_compressed(client):
    with client.get(
        "/static/css/app.css", headers={"Range": "bytes=0-99", "Accept-Encoding": "br"}
    ) as answer:
        assert answer.status_code == 206 and "Content-Encoding" not in answer.headers
        assert answer.data == CSS.read_bytes()[:100]


def test_media_is_shared_cacheable_and_never_recompressed(app, client, user_client):
    with app.app_context():
        product = make_product()
        name = image_url_name(product.images[0].image)
        buyer = make_user()
        db.session.commit()
    for who in (client, user_client(buyer)):
        with who.get(f"/media/{name}", headers={"Accept-Encoding": "gzip, br"}) as answer:
            assert answer.status_code == 200 and answer.mimetype == "image/webp"
            assert "Cookie" not in answer.headers.get("Vary", "")
            assert "Set-Cookie" not in answer.headers
            assert "Content-Encoding" not in answer.headers
            cache = answer.headers["Cache-Control"]
            assert "public" in cache and "immutable" in cache and "private" not in cache


def test_anonymous_pages_set_no_session_cookie_until_something_is_stored(app, client):
    with app.app_context():
        product = make_product()
        db.session.commit()
        product_id = product.id
    for url in ("/", "/catalog", "/auth/signin", f"/p/{product_id}"):
        answer = client.get(url)
        assert answer.status_code == 200, url
        stored = "csrf_token" in answer.get_data(as_text=True)
        assert ("session=" in answer.headers.get("Set-Cookie", "")) == stored, url
    assert "csrf_token" not in client.get("/").get_data(as_text=True)  # the footer's switch
    # The switch still works signed out, and sets only the language cookie.
    answer = client.post("/auth/language", data={"language": "en", "next": "/catalog"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/catalog"
    assert answer.headers.getlist("Set-Cookie")[0].startswith("lang=en")


def test_streamed_csv_exports_stay_streamed_when_compressed(app, user_client):
    with app.app_context():
        admin = make_user(is_admin=True)
        for _ in range(3):
            make_order(make_product(), sharer_id=make_user().id)
        db.session.commit()
    client = user_client(admin)
    plain = client.get("/admin/export/orders.csv", headers={"Accept-Encoding": ""})
    packed = client.get("/admin/export/orders.csv", headers={"Accept-Encoding": "gzip"})
    assert packed.is_streamed and "Content-Length" not in packed.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.get_data()) == plain.get_data()
