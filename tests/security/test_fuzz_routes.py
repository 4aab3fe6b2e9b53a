"""Hostile input never answers 500: every route of ``app.url_map``, every method it allows (and
one it does not), as a signed-out visitor, a buyer, a sharer, a merchant and the admin, with
hostile values in each path argument, in the query arguments the views read and in the form
fields of the views' WTForms forms (and the fields views read from ``request.form``).

Hostile values: ids beyond PostgreSQL's INTEGER and SQLite's 64-bit range, negative numbers,
Unicode digits, NUL and other control characters, 100 KB strings, malformed percent-encodings
(in the path, the query and the body), dates in year 1 and 9999, repeated fields, non-ASCII
signatures and cookies, and a method the route does not allow.

Two passes per route, both from fixed lists (the same requests every run):

- every value class once in all the route's inputs together, as each role (the role the route
  serves and a signed-out visitor get every class; the others, who mostly meet the route's
  guard, a few), with the role's own ids in the rest of the URL so the views get past their
  loaders;
- for the forms of ``PLAUSIBLE``, one field at a time hostile and the others plausible, as the
  role the route serves, so a view reaches the code that stores or looks up that one field
  (an all-hostile form is mostly refused at its first field).

Routes that delete or end something the later routes need run last. Any 500, or any exception
escaping the app, fails the test; the message lists every such request. The number of requests
and the time taken are printed and written to test-artifacts/security/fuzz-<database>.txt.
"""

import inspect
import re
import time
from collections import Counter
from urllib.parse import quote, urlencode, urlsplit

from werkzeug.datastructures import MultiDict
from werkzeug.routing.converters import NumberConverter
from wtforms.fields.core import UnboundField

from shop.catalog import images
from shop.catalog.models import Product
from shop.demo.seed import demo_licence_no
from shop.platform.extensions import db
from tests.security import world as world_module
from tests.security.helpers import anonymous, signed_in, write_artifact
from tests.security.tenancy_tables import (
    ENDPOINT_ROW_ARGUMENTS,
    FORMS,
    ROW_ARGUMENTS,
    SELECTORS,
)

ROLES = ("anonymous", "buyer", "sharer", "merchant", "admin")
#: The role each blueprint serves (admin for the admin's and the app's own routes).
HOME_ROLE = {
    "storefront": "buyer", "auth": "buyer", "sharer": "sharer", "merchant": "merchant",
    "inbox": "sharer",
}  # fmt: skip

HUGE = "长" + "x" * 102_400  # 100 KB
#: Values for path integers: beyond PostgreSQL's INTEGER, SQLite's INTEGER, any 64-bit int;
#: zero, negative; Unicode digits that int() accepts; a superscript that str.isdigit() accepts.
BAD_IDS = ("2147483648", "9223372036854775808", "1" + "0" * 40, "0", "-1", "١٢٣", "１２３", "²")
#: Values for query arguments, form fields and text path arguments.
BAD_TEXT = {
    "pg-int-overflow": "2147483648",
    "int64-overflow": "9223372036854775808",
    "negative": "-9223372036854775809",
    "arabic-digits": "١٢٣",
    "fullwidth-digits": "１２３",
    "nul": "a\x00b",
    "controls": "\x01\x08\x0b\x1b\x7f\u2028\u202e",
    "huge": HUGE,
    "year-1": "0001-01-01",
    "year-9999": "9999-12-31",
    "float": "1e309",
    "nan": "NaN",
    "empty": "",
    "markup": "<svg onload=alert(1)>'\"&",
}
#: What the roles a route does not serve get (they mostly meet its guard).
FEW = ("nul", "huge", "int64-overflow", "year-1", "controls")
#: What each field of a plausible form gets, one field at a time.
ONE_FIELD = ("nul", "huge", "pg-int-overflow", "int64-overflow", "negative", "arabic-digits")
#: Malformed percent-encodings, sent raw (never re-encoded) in the path, the query and a body.
BAD_ENCODINGS = ("%zz", "%ff%fe", "%c0%af", "%ed%a0%80", "%")
#: Query arguments every request gets, beyond those its module reads (the stats periods are
#: parsed in shop.insights from these; the merchant's order filters in order_filters).
COMMON_QUERY = ("page", "q", "next", "period", "start", "end", "status", "ref", "tab", "product")
#: Headers and cookies views read as text: a gateway signature, the visitor and language cookies.
HOSTILE_HEADERS = {"X-Sandbox-Signature": "é" * 64, "X-Request-ID": "é" * 20}
HOSTILE_COOKIES = {"fx_v": "a" * 32 + "." + "é" * 24, "lang": "é\x7f"}
#: Routes that delete or end what later routes need: run after every other.
LAST = (
    "sharer.item_remove",
    "merchant.product_image_delete",
    "merchant.product_unpublish",
    "storefront.order_action",
    "admin.blocked_word_delete",
    "admin.merchant_decide",
)
#: Who sends a route's plausible form, where it is not the blueprint's role.
PLAUSIBLE_ROLE = {"auth.signin": "anonymous", "auth.signup": "anonymous", "merchant.apply": "buyer"}

_READS = re.compile(
    r"""request\.(?P<src>args|form|values|files)\.(?:get|getlist)\(\s*["'](?P<name>\w+)["']"""
    r"""|\bargs\.get\(\s*["'](?P<arg>\w+)["']"""
)


def plausible_forms(world, category_id: int) -> dict[str, dict]:
    """A form each POST route would accept from its role (the tenancy test's, and those of the
    routes without an argument). Passwords are wrong on purpose: nothing may change one."""
    a = world["A"].ids
    address = {"name": "王小二", "phone": "13912345678", "province": "330000", "city": "330100",
               "district": "330106", "detail": "文三路 90 号"}  # fmt: skip
    return {
        **FORMS,
        "merchant.product_edit": {**FORMS["merchant.product_edit"], "category_id": category_id},
        "auth.signin": {"account": "13900000000", "password": "wrong-pass-1"},
        "auth.signup": {
            "account": "13811112222",
            "display_name": "新人",
            "password": "pass-1234a",
            "confirm": "pass-1234a",
        },  # fmt: skip
        "auth.password_change": {
            "current_password": "wrong-pass-1",
            "new_password": "pass-5678b",
            "confirm": "pass-5678b",
        },  # fmt: skip
        "auth.language_set": {"language": "en", "next": "/"},
        "storefront.cart_add": {"product_id": a["product"], "quantity": "1", "ref": a["code"]},
        "storefront.cart_update": {"product_id": a["product"], "quantity": "2"},
        "storefront.cart_checkout": {
            **address,
            "saved_address": "",
            "provider": "sandbox",
            "checkout_key": "fuzz-cart-checkout-0001",
        },  # fmt: skip
        "sharer.item_add": {"product_id": a["product"], "next": "/me/shop"},
        "sharer.shop_settings": {"name": "小店", "slug": a["slug"], "intro": "你好"},
        "sharer.shop_link_create": {"channel": "custom", "label": "同事群"},
        "sharer.payout_account": {
            "method": "bank",
            "account_name": "王小二",
            "account_number": "6222020200112233445",
            "bank_name": "工商银行",
            "password": "wrong-pass-1",
        },  # fmt: skip
        "sharer.payout_request": {"idempotency_key": "fuzz-payout-0001", "amount": "10.00"},
        "merchant.apply": {
            "name": "新商家",
            "licence_no": demo_licence_no("fuzz"),
            "contact_name": "李四",
            "contact_phone": "13922223333",
            "category_id": category_id,
            "description": "品牌",
        },  # fmt: skip
        "merchant.product_new": {**FORMS["merchant.product_edit"], "category_id": category_id},
        "admin.blocked_words": {"word": "违禁词"},
        "storefront.order_refund_part": {
            **FORMS["storefront.order_refund_part"],
            f"qty-{a['order_item']}": "1",
            "amount": "1",
        },  # fmt: skip
    }


def _module_inputs(view) -> tuple[set[str], set[str]]:
    """(query names, form names) the view's module reads: the fields of every WTForms form in
    its globals, and every ``request.args/form/values.get("name")`` in its source."""
    module = inspect.getmodule(inspect.unwrap(view))
    query, form = set(), set()
    if module is None:
        return query, form
    for value in vars(module).values():
        if isinstance(value, type) and hasattr(value, "_wtforms_meta"):
            form |= {n for n in dir(value) if isinstance(getattr(value, n, None), UnboundField)}
    for match in _READS.finditer(inspect.getsource(module)):
        src = match.group("src") or "args"
        name = match.group("name") or match.group("arg")
        if src in ("args", "values"):
            query.add(name)
        if src in ("form", "values", "files"):
            form.add(name)
    return query, form


def _valid_value(world, rule, argument) -> str:
    selector = SELECTORS.get((rule.endpoint, argument))
    if selector is not None:
        return str(selector[0])
    if rule.endpoint == "static":
        return "css/app.css"
    if rule.endpoint == "storefront.media":
        return world.media_name
    keys = ENDPOINT_ROW_ARGUMENTS.get((rule.endpoint, argument)) or ROW_ARGUMENTS[argument]
    return str(world["A"].ids[keys[0]])


def _path(rule, values: dict[str, str]) -> str:
    path = rule.rule
    for argument, value in values.items():
        path = re.sub(rf"<(?:[^<>]+:)?{argument}>", lambda _m, v=value: v, path)
    assert "<" not in path, path
    return path


def _is_int(rule, argument) -> bool:
    return isinstance(rule._converters[argument], NumberConverter)


def _home(rule) -> str:
    return HOME_ROLE.get(rule.endpoint.split(".")[0], "admin")


class Run:
    def __init__(self, app, clients):
        self.app = app
        self.clients = clients
        self.counts: Counter = Counter()
        self.failures: list[str] = []

    def send(self, role, method, url, label, client=None, **kwargs) -> None:
        self.counts["requests"] += 1
        shown = url if len(url) < 160 else url[:150] + f"...({len(url)} chars)"
        where = f"{method} {shown} as {role} [{label}]"
        try:
            response = (client or self.clients[role]).open(url, method=method, **kwargs)
        except Exception as error:  # noqa: BLE001 - every escape is a finding
            found = f"{where}: raised {type(error).__name__}: {str(error)[:300]}"
            self.counts["status exception"] += 1
            self.failures.append(found)
            return
        self.counts[f"status {response.status_code}"] += 1
        if response.status_code >= 500:
            self.failures.append(f"{where}: answered {response.status_code}")
        response.close()


def _every_class(world, rule, method, role, inputs):
    """(label, url, kwargs): each hostile value class once in all of the route's inputs."""
    own_query, query_names, form_names = inputs
    valid = {a: quote(_valid_value(world, rule, a), safe="") for a in rule.arguments}
    text_args = [a for a in rule.arguments if not _is_int(rule, a)]
    sends_body = method != "GET"
    home = role == _home(rule)
    full = home or role == "anonymous"
    if home:  # out-of-range ids, one argument at a time, the others valid
        for argument in [a for a in rule.arguments if _is_int(rule, a)]:
            for bad in BAD_IDS:
                yield f"{argument}={bad!r}", _path(rule, {**valid, argument: quote(bad)}), {}
    base = _path(rule, valid)
    for name, bad in BAD_TEXT.items():
        if not full and name not in FEW:
            continue
        path = _path(rule, {**valid, **{a: quote(bad, safe="") for a in text_args}})
        if path.rstrip("/").endswith("/") or "//" in path:
            path = base  # an empty path argument would be another route
        # 100 KB in every query argument makes a megabyte of URL that the test client itself
        # takes long to build: the huge value goes in the arguments the view's module reads.
        query = urlencode({n: bad for n in (own_query if bad is HUGE else query_names)})
        kwargs = {"data": {n: bad for n in form_names}} if sends_body else {}
        yield name, f"{path}?{query}", kwargs
    # Repeated fields: each name twice, with a valid-looking and a hostile value.
    pairs = [(n, v) for n in query_names for v in ("1", BAD_TEXT["nul"])]
    kwargs = {}
    if sends_body:
        kwargs["data"] = MultiDict([(n, v) for n in form_names for v in ("1", "-1")])
    yield "repeated", f"{base}?{urlencode(pairs)}", kwargs
    # Malformed percent-encodings, raw in the path (text arguments), the query and the body.
    for bad in BAD_ENCODINGS if full else BAD_ENCODINGS[1:2]:
        path = _path(rule, {**valid, **{a: bad for a in text_args}})
        query = "&".join(f"{n}={bad}" for n in query_names)
        kwargs = {}
        if sends_body:
            body = "&".join(f"{n}={bad}" for n in form_names)
            kwargs = {"data": body, "content_type": "application/x-www-form-urlencoded"}
        yield f"encoding {bad}", f"{path}?{query}", kwargs


def _one_field(world, rule, form: dict):
    """(label, url, kwargs): the plausible form with one field hostile at a time."""
    url = _path(rule, {a: quote(_valid_value(world, rule, a), safe="") for a in rule.arguments})
    for field in sorted(form):
        for name in ONE_FIELD:
            yield f"{field}={name}", url, {"data": {**form, field: BAD_TEXT[name]}}


def test_hostile_input_never_answers_500(app, database_url):
    started = time.perf_counter()
    with app.app_context():
        world = world_module.build()
        product = db.session.get(Product, world["A"].ids["product"])
        world.media_name = images.image_url_name(product.images[0].image)
        plausible = plausible_forms(world, product.category_id)
    a = world["A"]
    clients = {"anonymous": anonymous(app), "admin": signed_in(app, world.admin_account)}
    for role in ("buyer", "sharer", "merchant"):
        clients[role] = signed_in(app, a.accounts[role])
    for client in clients.values():
        for name, value in HOSTILE_COOKIES.items():
            client.set_cookie(name, value)
    run = Run(app, clients)

    inputs = {}
    for endpoint, view in app.view_functions.items():
        query, form = _module_inputs(view)
        inputs[endpoint] = (sorted(query), sorted(query | set(COMMON_QUERY)), sorted(form))
    rules = sorted(
        app.url_map.iter_rules(),
        key=lambda r: (r.endpoint == "auth.signout", r.endpoint in LAST, r.rule, r.endpoint),
    )
    for rule in rules:
        run.counts["rules"] += 1
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        for role in ROLES:
            for method in methods:
                for label, url, kwargs in _every_class(
                    world, rule, method, role, inputs[rule.endpoint]
                ):
                    run.send(role, method, url, label, headers=HOSTILE_HEADERS, **kwargs)
            wrong = next(m for m in ("DELETE", "PUT", "POST", "GET") if m not in rule.methods)
            valid = {x: quote(_valid_value(world, rule, x), safe="") for x in rule.arguments}
            run.send(role, wrong, _path(rule, valid), "wrong method", data={"x": 1})
        if "POST" in rule.methods and rule.endpoint in plausible:
            role = PLAUSIBLE_ROLE.get(rule.endpoint, _home(rule))
            # A signed-out visitor's form could sign in or sign up: a new client each time.
            client = anonymous(app) if role == "anonymous" else None
            for label, url, kwargs in _one_field(world, rule, plausible[rule.endpoint]):
                run.counts["one-field requests"] += 1
                run.send(role, "POST", url, label, client=client, **kwargs)

    seconds = time.perf_counter() - started
    name = urlsplit(database_url).scheme.split("+")[0]
    summary = "\n".join(f"{key}: {value}" for key, value in sorted(run.counts.items()))
    report = f"{summary}\nseconds: {seconds:.1f}\nfailures: {len(run.failures)}\n"
    write_artifact(f"fuzz-{name}.txt", report + "\n".join(run.failures))
    print(f"\nfuzz ({name}): {run.counts['requests']} requests in {seconds:.1f} s\n{report}")
    assert not run.failures, f"{len(run.failures)} requests failed:\n" + "\n".join(run.failures)
    assert run.counts["rules"] > 80 and run.counts["requests"] > 5000, run.counts
