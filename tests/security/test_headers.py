"""Security headers on 100% of responses: every GET route of ``app.url_map`` (filled with
tenant A's ids, fetched signed out and as A's sharer, merchant, buyer and the admin, so pages,
redirects, 403s and 404s all appear), every method a route refuses (405), the error pages
(400 CSRF, 404, 405, 410, 413, 429, 500 raised inside a view), HEAD and OPTIONS, static files
(whole, conditional 304 and ranged 206), media files, CSV exports, SVG charts and poster
JPEGs (200 and 304), and the bare 303 of /r/<code>.

The count is printed and written to test-artifacts/security/headers-<database>.txt.
"""

import re
from collections import Counter
from urllib.parse import urlsplit

from shop import PROJECT_ROOT
from shop.catalog import images
from shop.catalog.models import Product
from shop.platform.extensions import db
from tests.conftest import build_app
from tests.security import world as world_module
from tests.security.helpers import anonymous, csrf_token, signed_in, write_artifact
from tests.security.tenancy_tables import ENDPOINT_ROW_ARGUMENTS, ROW_ARGUMENTS, SELECTORS

REQUIRED = ("X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options", "Permissions-Policy")
EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def missing_headers(app, response) -> list[str]:
    expected = {**EXPECTED, "Content-Security-Policy": app.config["CONTENT_SECURITY_POLICY"]}
    return [
        f"{name}: {response.headers.get(name)!r}"
        for name, value in expected.items()
        if response.headers.get(name) != value
    ]


class Checker:
    def __init__(self, app):
        self.app = app
        self.counts: Counter = Counter()
        self.problems: list[str] = []

    def check(self, label: str, response) -> None:
        self.counts["responses"] += 1
        self.counts[f"status {response.status_code}"] += 1
        missing = missing_headers(self.app, response)
        if missing:
            self.problems.append(f"{label} ({response.status_code}): {missing}")
        response.close()


def _fill(world, rule) -> str:
    path = rule.rule
    for argument in rule.arguments:
        selector = SELECTORS.get((rule.endpoint, argument))
        if selector is not None:
            value = selector[0]
        elif rule.endpoint == "static":
            value = "css/app.css"
        elif rule.endpoint == "storefront.media":
            value = world.media_name
        else:
            keys = ENDPOINT_ROW_ARGUMENTS.get((rule.endpoint, argument)) or ROW_ARGUMENTS[argument]
            value = world["A"].ids[keys[0]]
        path = re.sub(rf"<(?:[^:<>]+:)?{argument}>", str(value), path)
    return path


def test_every_response_carries_the_security_headers(secure_app, database_url, tmp_path):
    app = secure_app
    with app.app_context():
        world = world_module.build()
        product = db.session.get(Product, world["A"].ids["product"])
        world.media_name = images.image_url_name(product.images[0].image)
    a = world["A"]
    clients = {
        "signed out": anonymous(app),
        "sharer": signed_in(app, a.accounts["sharer"]),
        "merchant": signed_in(app, a.accounts["merchant"]),
        "buyer": signed_in(app, a.accounts["buyer"]),
        "admin": signed_in(app, world.admin_account),
    }
    checker = Checker(app)
    check = checker.check
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
    for rule in rules:
        url = _fill(world, rule)
        for who, client in clients.items():
            if "GET" in rule.methods:
                check(f"GET {url} as {who}", client.get(url))
                check(f"HEAD {url} as {who}", client.head(url))
            else:
                # A POST-only route answers GET with 405 (the error page).
                check(f"GET {url} as {who}", client.get(url))
        check(f"OPTIONS {url}", clients["signed out"].options(url))
        checker.counts["routes"] += 1

    visitor = clients["signed out"]
    # Static files: every file, then conditional and ranged requests.
    static = sorted(p for p in (PROJECT_ROOT / "static").rglob("*") if p.is_file())
    for path in static:
        url = "/static/" + path.relative_to(PROJECT_ROOT / "static").as_posix()
        first = visitor.get(url)
        assert first.status_code == 200, url
        etag = first.headers.get("ETag")
        check(f"GET {url}", first)
        if etag:
            check(f"GET {url} If-None-Match", visitor.get(url, headers={"If-None-Match": etag}))
        check(f"GET {url} Range", visitor.get(url, headers={"Range": "bytes=0-9"}))
        checker.counts["static files"] += 1
    check("GET /static/missing.css", visitor.get("/static/missing.css"))
    check("GET /static/../shop/config.py", visitor.get("/static/../shop/config.py"))
    # Media: the file, a conditional request, a malformed and an unknown name.
    media = f"/media/{world.media_name}"
    first = visitor.get(media)
    assert first.status_code == 200
    check(media, first)
    check(f"{media} 304", visitor.get(media, headers={"If-None-Match": first.headers["ETag"]}))
    check("/media/../x", visitor.get("/media/..%2Fx"))
    check("/media/unknown", visitor.get("/media/" + "0" * 64 + "-d.webp"))
    # Exports, charts and posters, as their owners.
    for kind in SELECTORS[("sharer.export_csv", "kind")]:
        response = clients["sharer"].get(f"/me/export/{kind}.csv")
        assert response.status_code == 200 and response.mimetype == "text/csv"
        check(f"sharer export {kind}", response)
    for table in SELECTORS[("admin.export_csv", "table")]:
        response = clients["admin"].get(f"/admin/export/{table}.csv")
        assert response.status_code == 200
        check(f"admin export {table}", response)
    for who, url in (("sharer", "/me/stats/chart.svg"), ("admin", "/admin/overview/chart.svg")):
        response = clients[who].get(url)
        assert response.status_code == 200 and response.mimetype == "image/svg+xml"
        check(url, response)
    poster = f"/me/links/{a.ids['poster_link']}/poster.jpg"
    response = clients["sharer"].get(poster)
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    etag = response.headers["ETag"]
    check(poster, response)
    again = clients["sharer"].get(poster, headers={"If-None-Match": etag})
    assert again.status_code == 304
    check(f"{poster} 304", again)
    check(f"{poster}?download=1", clients["sharer"].get(f"{poster}?download=1"))
    # The bare 303 of a share link, and a gone product.
    response = visitor.get(f"/r/{a.ids['code']}")
    assert response.status_code == 303
    check("/r/<code>", response)
    response = visitor.get(f"/p/{a.ids['draft_product']}")
    assert response.status_code == 410
    check("410", response)
    # Errors: unknown page, refused method, a form without its CSRF token, a trailing-slash
    # redirect, and HTTPS (which adds HSTS).
    for url in ("/no-such-page", "/p/999999", "/admin", "/merchant", "/%ff", "/r/" + "x" * 300):
        check(f"GET {url}", visitor.get(url))
    check("DELETE /", visitor.delete("/"))
    check("PUT /cart/add", visitor.put("/cart/add"))
    response = visitor.post("/auth/signin", data={"account": "x", "password": "y"})
    assert response.status_code == 400  # the CSRF error page
    check("POST without CSRF", response)
    response = visitor.get("/", base_url="https://localhost")
    check("GET / over https", response)
    assert response.headers.get("Strict-Transport-Security") == "max-age=31536000"
    token = csrf_token(visitor)
    check("POST /auth/language", visitor.post("/auth/language", data={"csrf_token": token}))

    _error_pages(database_url, tmp_path / "errors", checker, world)
    summary = "\n".join(f"{key}: {value}" for key, value in sorted(checker.counts.items()))
    name = urlsplit(database_url).scheme.split("+")[0]
    write_artifact(f"headers-{name}.txt", summary + f"\nwithout headers: {len(checker.problems)}\n")
    print(f"\nheaders ({name}):\n{summary}\nwithout headers: {len(checker.problems)}")
    assert not checker.problems, "\n".join(checker.problems[:40])
    assert checker.counts["responses"] > 500


def _error_pages(database_url, instance, checker, world) -> None:
    """413, 429 and a 500 raised inside a view, on an app configured to reach them."""
    app = build_app(
        database_url,
        instance,
        MAX_CONTENT_LENGTH=1024,
        CLICK_HARD_LIMIT="2 per minute",
        LOGIN_LIMIT_PER_IP="1 per minute",
        PROPAGATE_EXCEPTIONS=False,  # TESTING re-raises; production renders the 500 page
    )

    def explode():
        raise RuntimeError("a bug inside a view")

    app.add_url_rule("/attack/explode", "attack_explode", explode)
    checker.app = app
    client = anonymous(app)
    response = client.post("/auth/signin", data={"x": "y" * 4096})
    assert response.status_code == 413
    checker.check("413", response)
    code = world["A"].ids["code"]
    statuses = []
    for _ in range(4):
        response = client.get(f"/r/{code}")
        statuses.append(response.status_code)
        checker.check("/r/ beyond the hard limit", response)
    assert 429 in statuses, statuses
    for _ in range(3):
        response = client.post("/auth/signin", data={"account": "13900000000", "password": "x"})
        checker.check("sign-in beyond the limit", response)
        statuses.append(response.status_code)
    assert statuses.count(429) >= 2, statuses
    response = client.get("/attack/explode")
    assert response.status_code == 500, response.status_code
    checker.check("500 inside a view", response)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
