"""Script typed into every user-written text field never runs and never becomes markup, checked
in Chromium on a phone viewport.

The world of tests/security/world.py is built with a payload in each of its fields (display
names, shop name and intro, recommendations, channel labels, payout account and bank names,
merchant and application fields, product titles and descriptions by merchants, carriers,
addresses, refund reasons and notes, reviews, follow-ups, replies, report details, blocked
words, hide reasons, payout, refund, merchant and flag decision reasons). The fields that only
take a checked format (phone numbers, licence numbers, tracking and account numbers, shop
slugs) are not free text and are left out. Then every GET page of the app, filled with tenant
A's ids, is opened as each person who can see it (signed out, A's sharer, merchant, buyer,
rejected applicant, the admin), once as is and once with a payload in every query parameter
the app reads. The browser ignores the Content-Security-Policy here (``bypass_csp``), so the
test checks the escaping itself, not the CSP that would also stop an inline script.

On every page: no dialog opened, no element with an inline event handler, no inline
``<script>``, no ``javascript:`` link, no element with a payload's probe id, and ``{{7*7}}``
never shown as 49. The count of (field, page) pairs where a field's payload was on the page is
printed and written to test-artifacts/security/xss.txt; every field must be on some page.
"""

import itertools
import re
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.conftest import _unavailable as unavailable
from tests.security import world as world_module
from tests.security.helpers import anonymous, signed_in, write_artifact
from tests.security.tenancy_tables import ENDPOINT_ROW_ARGUMENTS, ROW_ARGUMENTS, SELECTORS

pytestmark = pytest.mark.browser

KEYS = sorted(world_module.FIELDS)
#: Probe numbers: tenant A's fields 1..n, B's 101.., the reflected query payload 900.
PROBES = {
    (tenant, key): offset + i
    for tenant, offset in (("A", 0), ("B", 100))
    for i, key in enumerate(KEYS, 1)
}
REFLECTED_PROBE = 900
#: Query parameters the app reads somewhere; each gets the reflected payload.
QUERY_PARAMETERS = (
    "q", "next", "status", "tab", "filter", "start", "end", "period", "ref", "show", "sort",
    "category", "page", "new", "sharer", "quantity", "download", "return", "t", "body", "sig",
)  # fmt: skip


def payload(n: int, max_len: int) -> str:
    """The richest payload for probe ``n`` that fits ``max_len`` characters."""
    probe = f"xq{n}q"
    candidates = [
        f'"><img src=x id={probe} onerror=alert({n})></script><script>alert({n})</script>'
        f"'><svg onload=alert({n})>javascript:alert({n})//~{{{{7*7}}}}~",
        f'"><img src=x id={probe} onerror=alert({n})>~{{{{7*7}}}}~',
        f'"><svg id={probe} onload=alert({n})>{{{{7*7}}}}',
        f'"><i id={probe}>{{{{7*7}}}}',
        f'"<i id={probe}>{{{{7*7}}}}',
        f"<i id={probe}>{{{{7*7}}}}",
    ]
    for candidate in candidates:
        if len(candidate) <= max_len:
            return candidate
    raise AssertionError(f"no payload fits {max_len} characters")


def field_payload(tenant: str, key: str) -> str:
    return payload(PROBES[(tenant, key)], world_module.FIELDS[key].max_len)


#: Runs in the page: everything that would show an escaping failure.
INSPECT = r"""() => {
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      if (attr.name.startsWith('on')) found.push(`${el.tagName} ${attr.name}`);
      if (/^(href|src|action|formaction|xlink:href|data)$/.test(attr.name)
          && /^\s*javascript:/i.test(attr.value)) {
        found.push(`${el.tagName} ${attr.name}=javascript:`);
      }
    }
    if (/^xq\d+q$/.test(el.id)) found.push(`probe element #${el.id}`);
  }
  for (const s of document.scripts) {
    if (!s.src) found.push('inline script: ' + s.textContent.slice(0, 60));
  }
  const text = document.body ? document.body.innerText : '';
  if (/~49~|xq\d+q>49/.test(text)) found.push('template expression evaluated');
  return found;
}"""


def _urls(world) -> list[str]:
    """Every GET route filled with each of A's values, plus the filtered views of lists."""
    a = world["A"].ids
    urls = []
    for rule in world.app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in ("static", "storefront.media"):
            continue
        options = []
        for argument in sorted(rule.arguments):
            values = SELECTORS.get((rule.endpoint, argument))
            if values is None:
                keys = ENDPOINT_ROW_ARGUMENTS.get((rule.endpoint, argument))
                values = tuple(a[key] for key in keys or ROW_ARGUMENTS[argument])
            options.append((argument, values))
        for combination in itertools.product(*(values for _argument, values in options)):
            path = rule.rule
            for (argument, _values), value in zip(options, combination, strict=True):
                path = re.sub(rf"<(?:[^:<>]+:)?{argument}>", str(value), path)
            urls.append(path)
    urls += [f"/admin/reviews?tab={tab}" for tab in ("held", "reported", "hidden", "published")]
    urls += [f"/admin/merchants?status={s}" for s in ("rejected", "approved")]
    urls += ["/admin/flags?status=dismissed", f"/admin/flags?sharer={a['sharer_user']}"]
    urls += ["/merchant/reviews?show=unreplied", "/merchant/orders?status=refund_rejected"]
    urls += [f"/admin/audit?page={n}" for n in (1, 2, 3)]
    return sorted(set(urls))


def _visible_pages(app, clients, urls) -> dict[str, list[str]]:
    """The URLs each person gets a 200 HTML page from (asked through the test client)."""
    pages = {}
    for who, client in clients.items():
        pages[who] = []
        for url in urls:
            response = client.get(url)
            if response.status_code == 200 and response.mimetype == "text/html":
                pages[who].append(url)
            response.close()  # a streamed export holds its request context until closed
    return pages


def test_no_payload_in_any_field_runs_or_becomes_markup(live_server):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed")
    if not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    app = live_server.app
    with app.app_context():
        world = world_module.build(field_payload, phone_base=13500000000)
    world.app = app
    a = world["A"]
    for key in KEYS:  # what the services stored is still the payload, markup and all
        assert "<" in a.texts[key] or "{{" in a.texts[key], key
    people = {
        "signed out": None,
        "sharer": a.accounts["sharer"],
        "merchant": a.accounts["merchant"],
        "buyer": a.accounts["buyer"],
        "applicant": a.accounts["applicant"],
        "admin": world.admin_account,
    }
    clients = {
        who: anonymous(app) if account is None else signed_in(app, account)
        for who, account in people.items()
    }
    pages = _visible_pages(app, clients, _urls(world))

    def browse():
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                return _browse(playwright, browser, live_server.url, people, pages)
            finally:
                browser.close()

    counts, shown, problems = _in_own_thread(browse)
    counts["fields"] = len(KEYS)
    counts["field x page pairs (payload on the page)"] = sum(len(v) for v in shown.values())
    unseen = [key for key, where in shown.items() if not where]
    lines = [f"{key}: {value}" for key, value in sorted(counts.items())]
    lines += [f"  {key}: on {len(where)} pages" for key, where in sorted(shown.items())]
    summary = "\n".join(lines)
    write_artifact("xss.txt", summary + f"\nproblems: {len(problems)}\n")
    print(f"\nxss:\n{summary}\nproblems: {len(problems)}")
    assert not problems, "\n".join(problems[:40])
    assert not unseen, f"fields shown on no page (add a page that shows them): {unseen}"


def _in_own_thread(work):
    """``work()`` in a thread of its own: Playwright's sync API refuses to start in a thread
    where another Playwright (tests/browser's session-wide one) is running."""
    result = {}

    def run():
        try:
            result["value"] = work()
        except BaseException as error:  # re-raised in the test's thread
            result["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(900)
    assert not thread.is_alive(), "the browser pass did not finish in 900 s"
    if "error" in result:
        raise result["error"]
    return result["value"]


def _browse(playwright, browser, base, people, pages):
    """Open every page as each person; (counts, where each field was shown, problems)."""
    device = dict(playwright.devices["iPhone 13"])
    device.pop("default_browser_type", None)
    device["viewport"] = {"width": 390, "height": 844}
    reflected = payload(REFLECTED_PROBE, 500)
    query = "?" + urlencode({name: reflected for name in QUERY_PARAMETERS})
    counts: Counter = Counter()
    shown: dict[str, set] = {key: set() for key in KEYS}
    problems: list[str] = []
    for who, account in people.items():
        context = browser.new_context(**device, locale="zh-CN", bypass_csp=True)
        context.set_default_timeout(15_000)
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog, d=dialogs: (d.append(dialog.message), dialog.dismiss()))
        if account is not None:
            _sign_in(page, base, account)
        for url in pages[who]:
            for variant, target in (("stored", url), ("reflected", url.split("?")[0] + query)):
                page.goto(base + target, wait_until="load")
                counts[f"page loads ({variant})"] += 1
                found = page.evaluate(INSPECT)
                html = page.content()
                if found:
                    problems.append(f"{who} {target}: {found[:5]}")
                if variant == "stored":
                    for key in KEYS:
                        for tenant in ("A", "B"):
                            if re.search(rf"\bxq{PROBES[(tenant, key)]}q\b", html):
                                shown[key].add((who, url))
                elif f"xq{REFLECTED_PROBE}q" in html:
                    counts["pages reflecting a query parameter"] += 1
        page.wait_for_timeout(200)  # a late onload/onerror would still be caught
        counts["dialogs"] += len(dialogs)
        if dialogs:
            problems.append(f"{who}: dialogs opened: {dialogs[:10]}")
        context.close()
    return counts, shown, problems


def _sign_in(page, base: str, account: str) -> None:
    from tests.factories import DEFAULT_PASSWORD

    page.goto(base + "/auth/signin")
    page.fill("input[name=account]", account)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(base + "/")
