"""Open redirects: every parameter a redirect is built from (the sign-in and sign-up ``next``,
the language switch's ``next``, the shop's "add" form ``next``, the cart's Referer, the sandbox
gateway's ``return``, the admin queue's ``tab``, and the sign-in redirect of a protected page)
gets every payload below, signed in and signed out; no ``Location`` may lead off the site.

A Location is judged as a browser reads it (WHATWG URL rules: tabs and newlines dropped,
backslashes as slashes, leading control characters and spaces stripped), by an emulation in
Python and, where Node.js is installed, by its WHATWG ``URL`` parser too. Off-site: any host
other than the request's, or any scheme but http and https.

The count is printed and written to test-artifacts/security/redirects-<database>.txt.
"""

import json
import re
import shutil
import subprocess
from collections import Counter
from urllib.parse import parse_qs, urlsplit

from shop.platform.extensions import db
from shop.reviews.models import Review
from tests.factories import DEFAULT_PASSWORD
from tests.security import world as world_module
from tests.security.helpers import anonymous, csrf_token, hidden_fields, signed_in, write_artifact

HOST = "localhost"  # the test client's host
PAYLOADS = [
    "//evil.example",
    "///evil.example",
    "////evil.example",
    "https://evil.example",
    "http://evil.example/",
    "HTTPS://evil.example",
    "https:evil.example",
    "https:/evil.example",
    "http:\\\\evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    "/%2F%2Fevil.example",
    "%2F%2Fevil.example",
    "/%5Cevil.example",
    "%09//evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    " //evil.example",
    "\x00//evil.example",
    "\x0b//evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "http://127.0.0.1.evil.example",
    "http://localhost@evil.example",
    "//localhost@evil.example",
    "//evil.example@localhost",
    "https://localhost.evil.example",
    "／／evil.example",
    "/／evil.example",
    "＼＼evil.example",
    "/＼evil.example",
    "//evil。example",
    "http://ｅｖｉｌ.example",
    "/%09/evil.example",
    "/.//evil.example",
]


def browser_reading(location: str, base_scheme: str = "http") -> tuple[str, str]:
    """(scheme, host) of ``location`` as a browser resolves it against http://HOST/."""
    text = location.strip(
        "\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f"
        "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f "
    )
    text = re.sub(r"[\t\n\r]", "", text)
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):(.*)", text, re.S)
    if match:
        scheme, rest = match.group(1).lower(), match.group(2)
        if scheme not in ("http", "https"):
            return scheme, ""
        rest = rest.replace("\\", "/")
        if scheme != base_scheme or rest.startswith("/"):
            # Special schemes ignore any number of slashes before the authority.
            authority = re.split(r"[/?#]", rest.lstrip("/"), maxsplit=1)[0]
            return scheme, authority.rpartition("@")[2].lower()
        return scheme, HOST  # "http:path" relative to an http base stays here
    text = text.replace("\\", "/")
    if text.startswith("//"):
        authority = re.split(r"[/?#]", text[2:], maxsplit=1)[0]
        return base_scheme, authority.rpartition("@")[2].lower()
    return base_scheme, HOST


def _node_readings(locations: list[str]) -> dict[str, tuple[str, str]] | None:
    node = shutil.which("node")
    if node is None:
        return None
    script = (
        "const ls = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "const out = {}; for (const l of ls) { try { const u = new URL(l, 'http://localhost/');"
        " out[l] = [u.protocol.slice(0, -1), u.hostname]; } catch (e) { out[l] = ['error', ''];"
        " } } process.stdout.write(JSON.stringify(out));"
    )
    done = subprocess.run(
        [node, "-e", script], input=json.dumps(locations), capture_output=True, text=True,
        timeout=30, check=True,
    )  # fmt: skip
    return {key: tuple(value) for key, value in json.loads(done.stdout).items()}


def off_site(reading: tuple[str, str]) -> bool:
    scheme, host = reading
    return scheme not in ("http", "https") or host != HOST


def test_browser_reading_knows_the_tricks():
    assert off_site(browser_reading("/\\evil.example"))
    assert off_site(browser_reading("\t//evil.example"))
    assert off_site(browser_reading("https:evil.example"))
    assert off_site(browser_reading("javascript:alert(1)"))
    assert off_site(browser_reading("//localhost@evil.example"))
    assert not off_site(browser_reading("/me/shop?x=//evil.example"))
    assert not off_site(browser_reading("/%2F%2Fevil.example"))
    assert not off_site(browser_reading("http://localhost/orders"))


def test_no_redirect_parameter_leads_off_site(secure_app, database_url):
    app = secure_app
    with app.app_context():
        world = world_module.build()
        admin_review = db.session.get(Review, world["A"].ids["held_review"])
        review_id, version = admin_review.id, admin_review.version
    a = world["A"]
    seen: list[tuple[str, str]] = []  # (what was tried, Location)
    counts: Counter = Counter()
    problems: list[str] = []

    def record(label: str, response, *, must_redirect: bool = True) -> None:
        counts["attempts"] += 1
        location = response.headers.get("Location")
        if location is None:
            if must_redirect:
                problems.append(f"{label}: no redirect ({response.status_code})")
            return
        seen.append((label, location))

    buyer = signed_in(app, a.accounts["buyer"])
    sharer = signed_in(app, a.accounts["sharer"])
    admin = signed_in(app, world.admin_account)
    signed = {"buyer": buyer, "sharer": sharer, "admin": admin}
    tokens = {name: csrf_token(client) for name, client in signed.items()}
    # The sandbox gateway's address, as the shop hands it to the buyer.
    start = buyer.get(f"/orders/{a.ids['unpaid_order']}/pay")
    gateway = urlsplit(start.headers["Location"])
    gateway_token = parse_qs(gateway.query)["t"][0]

    for index, payload in enumerate(PAYLOADS):
        # Sign in and sign up with ?next=: the form must not carry it, nor the redirect after.
        visitor = anonymous(app)
        page = visitor.get("/auth/signin", query_string={"next": payload})
        fields = hidden_fields(page.get_data(as_text=True))
        counts["attempts"] += 1
        if fields.get("next"):
            seen.append((f"signin form next for {payload!r}", fields["next"]))
        answer = visitor.post(
            "/auth/signin",
            data={**fields, "next": payload, "account": a.accounts["sharer"],
                  "password": DEFAULT_PASSWORD},
        )  # fmt: skip
        record(f"POST /auth/signin next={payload!r}", answer)
        visitor = anonymous(app)
        page = visitor.get("/auth/signup", query_string={"next": payload})
        fields = hidden_fields(page.get_data(as_text=True))
        counts["attempts"] += 1
        if fields.get("next"):
            seen.append((f"signup form next for {payload!r}", fields["next"]))
        answer = visitor.post(
            "/auth/signup",
            data={**fields, "next": payload, "account": f"1360000{index:04d}",
                  "display_name": f"新人{index}", "password": "a-long-password-42",
                  "confirm": "a-long-password-42"},
            environ_base={"REMOTE_ADDR": f"127.0.1.{index + 1}"},  # below the sign-up limit
        )  # fmt: skip
        record(f"POST /auth/signup next={payload!r}", answer)
        # Already signed in, the sign-in page sends home whatever next says.
        record(f"GET /auth/signin?next={payload!r} signed in",
               buyer.get("/auth/signin", query_string={"next": payload}))  # fmt: skip

        # The language switch, signed out and signed in.
        visitor = anonymous(app)
        for who, client, token in (
            ("signed out", visitor, csrf_token(visitor)),
            ("buyer", buyer, tokens["buyer"]),
        ):
            answer = client.post(
                "/auth/language", data={"csrf_token": token, "language": "en", "next": payload}
            )
            record(f"POST /auth/language next={payload!r} ({who})", answer)

        # The shop's "add" form after an error (the product is in the shop already).
        answer = sharer.post(
            "/me/shop/items",
            data={"csrf_token": tokens["sharer"], "product_id": a.ids["product"], "next": payload},
        )
        record(f"POST /me/shop/items next={payload!r}", answer)

        # The cart after an error (a draft cannot be added) goes back to the Referer.
        if "\n" not in payload and "\r" not in payload and "\x00" not in payload:
            for who, client in (("signed out", visitor), ("buyer", buyer)):
                token = tokens["buyer"] if client is buyer else csrf_token(client)
                answer = client.post(
                    "/cart/add",
                    data={"csrf_token": token, "product_id": a.ids["draft_product"]},
                    headers={"Referer": payload},
                )
                record(f"POST /cart/add Referer={payload!r} ({who})", answer)

        # The sandbox gateway's return address: its page and its "pay" button.
        url = gateway.path
        page = buyer.get(url, query_string={"t": gateway_token, "return": payload})
        counts["attempts"] += 1
        back = hidden_fields(page.get_data(as_text=True)).get("return", "")
        seen.append((f"gateway page return={payload!r}", back))

        # A protected page sends a signed-out visitor to sign in with next= its own path.
        record(f"GET /me/shop?x={payload!r} signed out",
               anonymous(app).get("/me/shop", query_string={"x": payload}))  # fmt: skip

        # The admin's review queue keeps the tab it came from.
        answer = admin.post(
            f"/admin/reviews/{review_id}/decide",
            query_string={"tab": payload},
            data={"csrf_token": tokens["admin"], "action": "approve", "version": "0"},
        )
        record(f"POST /admin/reviews/<id>/decide?tab={payload!r}", answer)
    assert version != 0  # the stale version above keeps the held review in the queue

    # The gateway's pay button with every return address (the pages above, all shown while the
    # order was unpaid, carried each one sanitised): the first tap pays and goes back; the
    # order is paid after it, and later taps answer with a page that says so and leads only to
    # the order, so they must not redirect at all.
    for index, payload in enumerate(PAYLOADS):
        answer = buyer.post(
            gateway.path,
            data={"csrf_token": tokens["buyer"], "t": gateway_token, "return": payload},
        )
        record(f"POST {gateway.path} return={payload!r}", answer, must_redirect=index == 0)
        if index:
            assert "Location" not in answer.headers, payload

    # Same-site targets still work: the checks above are not passing by refusing everything.
    fields = hidden_fields(anonymous(app).get("/auth/signin?next=/me/shop").get_data(as_text=True))
    assert fields["next"] == "/me/shop"
    answer = buyer.post(
        "/cart/add",
        data={"csrf_token": tokens["buyer"], "product_id": a.ids["draft_product"]},
        headers={"Referer": f"http://{HOST}/p/{a.ids['product']}?ref=abc"},
    )
    assert answer.headers["Location"] == f"/p/{a.ids['product']}?ref=abc"
    # The order was paid by the first tap above; its gateway now answers with a page saying so
    # (nothing to pay, nothing charged) and leads only to the order, whatever ``return`` says.
    answer = buyer.post(
        gateway.path, data={"csrf_token": tokens["buyer"], "t": gateway_token, "return": "/orders"}
    )
    assert answer.status_code == 200 and "Location" not in answer.headers
    assert f'href="/orders/{a.ids["unpaid_order"]}"' in answer.get_data(as_text=True)

    node = _node_readings(sorted({location for _label, location in seen}))
    for label, location in seen:
        readings = [browser_reading(location)]
        if node is not None:
            readings.append(node[location])
        if any(off_site(r) for r in readings):
            problems.append(f"{label}: Location {location!r} read as {readings}")
    counts["locations checked"] = len(seen)
    counts["payloads"] = len(PAYLOADS)
    counts["checked with node's WHATWG URL too"] = len(seen) if node is not None else 0
    summary = "\n".join(f"{key}: {value}" for key, value in sorted(counts.items()))
    name = urlsplit(database_url).scheme.split("+")[0]
    write_artifact(f"redirects-{name}.txt", summary + f"\noff-site: {len(problems)}\n")
    print(f"\nredirects ({name}):\n{summary}\noff-site: {len(problems)}")
    assert not problems, "\n".join(problems[:40])
    assert counts["attempts"] >= 10 * len(PAYLOADS)
