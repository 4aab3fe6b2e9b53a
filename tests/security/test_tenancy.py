"""Tenancy: every route in ``app.url_map`` that takes an argument is tried with tenant A's ids,
codes and slugs by tenant B's sharer, B's merchant, B's buyer and a signed-out visitor, with
GET and (where the route accepts it) a POST carrying a valid CSRF token and plausible fields.

Passing means: a denial (403, 404, 405, 410) or a redirect to sign-in (or to the caller's own
"open a shop" / "apply as a merchant" page), never a page with A's private data (the world's
marker strings are searched in every body), and after every POST the database is exactly as
before (every row of every table compared). Routes whose content is public by design are
listed in PUBLIC with the reason; they may answer 200 but never with a private field. A rule
with an argument this file does not know fails the test, so a new route cannot slip through.

The counts are printed and written to test-artifacts/security/tenancy-<database>.txt.
"""

import io
import re
from collections import Counter
from urllib.parse import urlsplit

from sqlalchemy import select

from shop.orders.models import Order
from shop.platform.extensions import db
from shop.reviews.models import ReviewReport
from tests.security import world as world_module
from tests.security.helpers import (
    anonymous,
    csrf_token,
    diff,
    fingerprint,
    signed_in,
    write_artifact,
)
from tests.security.tenancy_tables import (
    DENIED,
    ENDPOINT_ROW_ARGUMENTS,
    FORMS,
    GUARD_PAGES,
    NOT_TENANT_ROUTES,
    PUBLIC,
    PUBLIC_ACTION_CHANGES,
    ROW_ARGUMENTS,
    SELECTORS,
)

VICTIM, ATTACKER = "A", "B"
IDENTITIES = ("sharer", "merchant", "buyer", "anonymous")


def _values(world, endpoint: str, argument: str, tenant: str) -> tuple:
    keys = ENDPOINT_ROW_ARGUMENTS.get((endpoint, argument)) or ROW_ARGUMENTS.get(argument)
    if keys is None:
        return ()
    return tuple(world[tenant].ids[key] for key in keys)


def _attempts(world, rule) -> list[dict]:
    """Argument values to try on ``rule``: each row argument A's (the victim's) or B's own,
    never all of them B's; selectors take each of their values."""
    choices = [{}]
    has_row = False
    for argument in sorted(rule.arguments):
        selector = SELECTORS.get((rule.endpoint, argument))
        if selector is not None:
            choices = [{**c, argument: (v, "fixed")} for c in choices for v in selector]
            continue
        victim = _values(world, rule.endpoint, argument, VICTIM)
        own = _values(world, rule.endpoint, argument, ATTACKER)
        assert victim, f"{rule.rule}: argument {argument!r} is not mapped (add it above)"
        has_row = True
        choices = [
            {**c, argument: (v, side)}
            for c in choices
            for side, values in (("victim", victim), ("own", own))
            for v in values
        ]
    if has_row:
        choices = [c for c in choices if any(side == "victim" for _v, side in c.values())]
    return choices


def _markers(world, *, private_only: bool) -> dict[str, str]:
    tenant = world[VICTIM]
    found = {
        key: text
        for key, text in tenant.texts.items()
        if not (private_only and world_module.FIELDS[key].public)
    }
    # The victim's phone numbers and order numbers are private too.
    for role, account in tenant.accounts.items():
        found[f"{role}_phone"] = account
    found["address_phone"] = tenant.ids["address_phone"]
    found["order_number"] = tenant.ids["order_number"]
    found["unpaid_number"] = tenant.ids["unpaid_number"]
    return found


def _leaks(body: str, markers: dict[str, str], url: str = "") -> list[str]:
    """Markers in ``body``, except those the request's own URL carries (pages echo their
    path, e.g. in the language form's ``next``)."""
    return [key for key, text in markers.items() if text in body and text not in url]


def _body(response) -> str:
    """The body as text (images too: a marker would be ASCII in them), the response closed."""
    text = response.get_data().decode("utf-8", errors="replace")
    response.close()
    return text


def _redirect_path(response) -> str | None:
    if response.status_code not in (301, 302, 303, 307, 308):
        return None
    return urlsplit(response.headers.get("Location", "")).path


def _denied(response, identity: str) -> bool:
    if response.status_code in DENIED:
        return True
    path = _redirect_path(response)
    if path == "/auth/signin":
        return True
    return identity != "anonymous" and path in GUARD_PAGES


def _own_rows_only(endpoint, changes, attacker_user_id) -> list[str]:
    """What a public action changed beyond what it may (empty when all is well)."""
    may_insert, may_update = PUBLIC_ACTION_CHANGES[endpoint]
    wrong = []
    for table, change in changes.items():
        if change["inserted"] and table not in may_insert:
            wrong.append(f"{table}: rows inserted")
        if change["deleted"]:
            wrong.append(f"{table}: rows deleted")
        for key, columns in change["updated"].items():
            if not set(columns) <= may_update.get(table, set()):
                wrong.append(f"{table} {key}: {columns} changed")
    for row in changes.get("orders", {}).get("inserted", []):
        if row["buyer_id"] != attacker_user_id:
            wrong.append(f"order {row['id']} placed for user {row['buyer_id']}")
    for row in changes.get("review_reports", {}).get("inserted", []):
        if row["reporter_id"] != attacker_user_id:
            wrong.append(f"report {row['id']} by user {row['reporter_id']}")
    for row in changes.get("coupon_claims", {}).get("inserted", []):
        if row["buyer_id"] != attacker_user_id:
            wrong.append(f"coupon claim {row['id']} for user {row['buyer_id']}")
    return wrong


def _url(rule, values: dict) -> str:
    path = rule.rule
    for argument, (value, _side) in values.items():
        path = re.sub(rf"<(?:[^:<>]+:)?{argument}>", str(value), path)
    assert "<" not in path, path
    return path


def test_no_route_reads_or_writes_another_tenants_data(secure_app, database_url):
    app = secure_app
    with app.app_context():
        world = world_module.build()
        # The world is what it claims: A's sharer earned a settled rebate through A's link.
        from shop.money import ledger

        assert ledger.balances(world[VICTIM].ids["sharer_user"]).settled_total_cents > 0
    attacker = world[ATTACKER]
    clients = {
        "anonymous": anonymous(app),
        **{role: signed_in(app, attacker.accounts[role]) for role in IDENTITIES[:3]},
    }
    tokens = {identity: csrf_token(client) for identity, client in clients.items()}
    private = _markers(world, private_only=True)
    every = _markers(world, private_only=False)

    counts: Counter = Counter()
    failures: list[str] = []
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
    for rule in rules:
        if not rule.arguments:
            continue
        if rule.endpoint in NOT_TENANT_ROUTES:
            counts["rules skipped as not tenant data"] += 1
            continue
        attempts = _attempts(world, rule)
        counts["rules"] += 1
        public = rule.endpoint in PUBLIC
        selector_only = all(side == "fixed" for a in attempts for _v, side in a.values())
        methods = [m for m in ("GET", "POST") if m in rule.methods]
        for values in attempts:
            url = _url(rule, values)
            for identity in IDENTITIES:
                client = clients[identity]
                for method in methods:
                    counts["attempts"] += 1
                    counts[f"attempts {method}"] += 1
                    label = f"{method} {url} as B's {identity} ({rule.endpoint})"
                    if method == "GET":
                        response = client.get(url)
                    else:
                        if rule.endpoint not in FORMS:
                            failures.append(f"{label}: no plausible form in FORMS")
                            continue
                        with app.app_context():
                            before = fingerprint()
                        form = {**FORMS[rule.endpoint], "csrf_token": tokens[identity]}
                        response = client.post(url, data=form)
                        with app.app_context():
                            changes = diff(before, fingerprint())
                        if changes:
                            if public and identity != "anonymous":
                                user_id = attacker.ids[f"{identity}_user"]
                                wrong = _own_rows_only(rule.endpoint, changes, user_id)
                                if wrong:
                                    failures.append(f"{label}: wrote {wrong}")
                                counts["public POSTs that wrote only the caller's rows"] += 1
                            else:
                                failures.append(f"{label}: the database changed: {changes}")
                    body = _body(response)
                    if response.status_code == 400 and "form has expired" in body:
                        failures.append(f"{label}: CSRF refused (the test's token is wrong)")
                    leaked = _leaks(body, private if public or selector_only else every, url)
                    if leaked:
                        failures.append(f"{label}: {response.status_code} shows A's {leaked}")
                    mixed = any(side == "own" for _v, side in values.values())
                    ok = (
                        _denied(response, identity)
                        # B's own row with A's row inside it (B's product, A's image): B's
                        # page again, with an error; the database check above proves no write.
                        or (mixed and _redirect_path(response) is not None)
                        or (public and response.status_code in (200, 302, 303))
                        or (selector_only and response.status_code == 200)
                    )
                    if not ok:
                        failures.append(f"{label}: answered {response.status_code}")
                    counts[f"outcome {response.status_code}"] += 1

    # Lists and pages without an argument, as each identity: none shows A's private data.
    for rule in rules:
        if rule.arguments or "GET" not in rule.methods:
            continue
        for identity in IDENTITIES:
            counts["argument-free GET pages"] += 1
            response = clients[identity].get(rule.rule)
            leaked = _leaks(_body(response), private)
            if leaked:
                failures.append(f"GET {rule.rule} as B's {identity}: shows A's {leaked}")

    counts["form-id attacks"] = _form_id_attacks(app, world, clients, tokens, private, failures)
    summary = "\n".join(f"{key}: {value}" for key, value in sorted(counts.items()))
    name = urlsplit(database_url).scheme.split("+")[0]
    write_artifact(f"tenancy-{name}.txt", summary + f"\nfailures: {len(failures)}\n")
    print(f"\ntenancy ({name}):\n{summary}\nfailures: {len(failures)}")
    assert not failures, "\n".join(failures[:60])
    assert counts["attempts"] > 500 and counts["rules"] > 40, counts


def _form_id_attacks(app, world, clients, tokens, private, failures) -> int:
    """Ids of A's rows sent in form fields (not the URL) of B's own pages."""
    a, b = world[VICTIM].ids, world[ATTACKER].ids
    attacks = [
        # A sharer adds A's draft product to their shop.
        ("sharer", "/me/shop/items", {"product_id": a["draft_product"]}),
        # A sharer quotes A's reviews (another product's, held, hidden) in their own shop.
        *(
            (
                "sharer",
                f"/me/shop/items/{b['shop_item']}/reviews",
                {"show_rating": "y", "quote": a[key]},
            )
            for key in ("review", "held_review", "hidden_review", "followup")
        ),  # fmt: skip
        # A buyer checks out with A's saved address (and no address of their own).
        (
            "buyer",
            f"/checkout/{b['product']}",
            {
                "quantity": "1",
                "saved_address": str(a["address"]),
                "provider": "sandbox",
                "checkout_key": "security-attack-address-01",
            },
        ),  # fmt: skip
        # A merchant moves A's image onto their own product.
        ("merchant", f"/merchant/products/{b['product']}/images/{a['product_image']}/cover", {}),
    ]
    # A merchant ships A's orders (one whose refund was rejected may be shipped) by CSV.
    with app.app_context():
        a_numbers = [db.session.get(Order, a[k]).number for k in ("order", "disputed_order")]
    lines = "".join(f"{number},SF,SF8888888888\n" for number in a_numbers).encode()
    attacks.append(("merchant", "/merchant/orders/ship-bulk", {"file": (lines, "ship.csv")}))
    for identity, url, form in attacks:
        if "file" in form:  # a fresh stream for each upload
            form = {"file": (io.BytesIO(form["file"][0]), form["file"][1])}
        with app.app_context():
            before = fingerprint()
        response = clients[identity].post(url, data={**form, "csrf_token": tokens[identity]})
        with app.app_context():
            changes = diff(before, fingerprint())
        label = f"POST {url} {form} as B's {identity}"
        if changes:
            failures.append(f"{label}: the database changed: {changes}")
        leaked = _leaks(_body(response), private)
        if leaked:
            failures.append(f"{label}: shows A's {leaked}")
    # A buyer puts A's draft product in the cart: refused, and the cart never shows it.
    buyer = clients["buyer"]
    buyer.post("/cart/add", data={"product_id": a["draft_product"], "csrf_token": tokens["buyer"]})
    cart = _body(buyer.get("/cart"))
    if _leaks(cart, private):
        failures.append(f"/cart shows A's {_leaks(cart, private)} after adding A's draft")
    with app.app_context():
        mine = db.session.execute(
            select(Order.id).where(Order.buyer_id == world[ATTACKER].ids["buyer_user"])
        ).all()
        reports = db.session.execute(select(ReviewReport.id)).all()
    assert mine and reports  # the queries above see the world
    return len(attacks) + 1
