"""Two of every tenant, built through the services: sharer, merchant, buyer and merchant
applicant A and B, each with their own shop, links, clicks, orders, ledger entries, payouts,
products, reviews, replies, reports and admin decisions, plus one admin.

Every user-written text field is filled by ``text(tenant, field)``: the tenancy test passes
unique marker strings (so a page can be searched for another tenant's data), the XSS test
passes script payloads. ``FIELDS`` names each field, its length limit and whether its content
is public by design (shown to anyone, like a shop's name) or private to its owners.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select

from shop.catalog import merchants
from shop.demo.seed import demo_licence_no
from shop.money import appeals, fraud, ledger, merchant_payouts, payouts, refunds
from shop.money.models import FlagKind, FraudFlag
from shop.notify.models import Endpoint, Notification
from shop.orders import checkout, coupons, payments, shipping, states
from shop.orders.models import GatewayRefund, ReconciliationItem
from shop.platform import outbox
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.reviews import moderation, writing
from shop.reviews.models import BlockedWord, ReviewStatus
from shop.reviews.rules import Rules
from shop.sharing import clicks, links, shops
from shop.sharing import materials as sharing_materials
from shop.sharing.models import Channel
from shop.teams import teams
from tests.conftest import TEST_CONFIG
from tests.factories import make_category, make_product, make_user, png_bytes

SECRET = TEST_CONFIG["SECRET_KEY"]  # the app's: sandbox notices are signed with it
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


@dataclass(frozen=True)
class Field:
    max_len: int
    #: Shown to anyone by design (a listed product's title, a shop's intro, a published
    #: review); a private field is shown only to its owners and the admins.
    public: bool


#: Every user-written text field the world fills, by key.
FIELDS = {
    # people
    "sharer_name": Field(20, True),  # shown on the shop page and posters
    "merchant_user_name": Field(20, False),
    "buyer_name": Field(20, True),  # a review shows its author's display name (a nickname)
    "applicant_name": Field(20, False),
    # the sharer
    "shop_name": Field(30, True),
    "shop_intro": Field(200, True),
    "recommendation": Field(200, True),
    "link_label": Field(20, False),
    "payout_account_name": Field(40, False),
    "payout_bank_name": Field(40, False),
    "appeal_note": Field(500, False),  # an appeal sent on to the admins
    # the merchant
    "merchant_name": Field(60, True),
    "merchant_description": Field(500, True),
    "merchant_contact_name": Field(40, False),
    "merchant_account_name": Field(40, False),  # where the merchant's withdrawals go
    "product_title": Field(60, True),
    "product_description": Field(500, True),
    "draft_title": Field(60, False),
    "draft_description": Field(500, False),
    "carrier": Field(40, False),
    "refund_note": Field(200, False),  # a merchant rejecting a refund, to the buyer
    "reply": Field(500, True),
    # an applicant who was rejected
    "application_name": Field(60, False),
    "application_description": Field(500, False),
    "application_contact_name": Field(40, False),
    # the buyer
    "address_name": Field(40, False),
    "buyer_note": Field(200, False),  # to the merchant of the order
    "template_name": Field(40, False),  # a shipping template, the merchant's own
    "address_detail": Field(200, False),
    "refund_reason": Field(200, False),
    "part_refund_reason": Field(200, False),  # a partial refund asked, open
    "review": Field(500, True),
    "followup": Field(500, True),
    "held_review": Field(480, False),
    "hidden_review": Field(500, False),
    "report_details": Field(150, False),
    # the admin's decisions about the tenant
    "reject_reason": Field(200, False),  # merchant application rejected
    "hide_reason": Field(200, False),  # review hidden (shown to its author)
    "payout_reject_reason": Field(200, False),
    "admin_refund_reason": Field(200, False),
    "flag_reason": Field(200, False),
    "appeal_reason": Field(200, False),  # an appeal decided, shown to the sharer
    "blocked_word": Field(40, False),
}

Text = Callable[[str, str], str]


@dataclass
class Tenant:
    name: str
    #: Account labels (phone numbers) to sign in with, by role.
    accounts: dict[str, str] = field(default_factory=dict)
    #: Row ids, codes and slugs, by what they are.
    ids: dict[str, int | str] = field(default_factory=dict)
    #: The stored text of each field in ``FIELDS``.
    texts: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    tenants: dict[str, Tenant]
    admin_account: str

    def __getitem__(self, name: str) -> Tenant:
        return self.tenants[name]


def marker(tenant: str, key: str) -> str:
    """A unique string that survives every service's normalization (no spaces, no markup)."""
    return f"zq{tenant}{key.replace('_', '')}qz"


def _facts() -> clicks.RequestFacts:
    return clicks.RequestFacts(
        method="GET", user_agent=PHONE_UA, ip="203.0.113.9", referrer="", purpose=""
    )


def _pay(order, at):
    provider = payments.providers(SECRET, ["sandbox", "manual"])["sandbox"]
    body = provider.notice_body(order)
    payments.apply_notice("sandbox", provider.parse(body, provider.sign(body)), now=at)


def build(text: Text = marker, *, phone_base: int = 13700000000) -> World:
    """The world, inside the caller's app context, committed."""
    now = utcnow()
    n = iter(range(1, 1000))

    def phone() -> str:
        return str(phone_base + next(n))

    admin = make_user(phone=phone(), display_name="管理员", is_admin=True)
    category = make_category()
    tenants = {}
    words = {}
    for name in ("A", "B"):
        words[name] = moderation.add_blocked_word(
            text(name, "blocked_word"), actor=admin, now=now - timedelta(days=30)
        )
    for name in ("A", "B"):
        tenants[name] = _tenant(name, text, phone, admin, category, words[name].word, now)
    db.session.commit()
    for tenant in tenants.values():
        tenant.texts = {key: text(tenant.name, key) for key in FIELDS}
    return World(tenants, admin.phone)


def _tenant(name, text, phone, admin, category, blocked_word, now) -> Tenant:
    t = Tenant(name)

    def user(role: str, display_key: str):
        row = make_user(phone=phone(), display_name=text(name, display_key))
        t.accounts[role] = row.phone
        t.ids[f"{role}_user"] = row.id
        return row

    # The merchant: applied, approved by the admin, two listed products and a draft.
    merchant_user = user("merchant", "merchant_user_name")
    application = merchants.Application(
        name=text(name, "merchant_name"),
        licence_no=demo_licence_no(f"security-{name}"),
        contact_name=text(name, "merchant_contact_name"),
        contact_phone=phone(),
        category_id=category.id,
        description=text(name, "merchant_description"),
    )
    merchant = merchants.submit_application(
        merchant_user, application, logo=png_bytes(), now=now - timedelta(days=40)
    )
    merchants.decide(merchant, "approve", actor=admin, now=now - timedelta(days=39))
    product_kw = {
        "merchant": merchant,
        "category": category,
        "price_cents": 29900,
        "original_price_cents": None,
    }
    product = make_product(
        title=text(name, "product_title"),
        description=text(name, "product_description"),
        **product_kw,
    )
    second = make_product(title=f"第二件{name}", **product_kw)
    third = make_product(title=f"第三件{name}", **product_kw)
    draft = make_product(
        title=text(name, "draft_title"),
        description=text(name, "draft_description"),
        status="draft",
        **product_kw,
    )
    material = sharing_materials.add_pictures(
        product, [png_bytes(color=(9, 9, 9))], merchant=merchant, now=now - timedelta(days=35)
    )[0]
    rule = shipping.TemplateInput(text(name, "template_name"), "regional", "piece", 600, 200, 0,
                                  {"650000": (2000, 500)}, ["540000"])  # fmt: skip
    template = shipping.save_template(merchant, rule)
    shipping.set_product_shipping(product, template, 300)
    coupon = coupons.create_coupon(
        merchant, product_id=product.id, off_cents=100, threshold_cents=0, total_count=10,
        per_buyer=1, starts_at=now - timedelta(days=40), ends_at=now + timedelta(days=30),
        now=now - timedelta(days=40),
    )  # fmt: skip
    t.ids.update(
        category=category.id,
        coupon=coupon.id,
        material=material.id,
        shipping_template=template.id,
        merchant=merchant.id,
        product=product.id,
        draft_product=draft.id,
        product_image=product.images[0].id,
        draft_product_image=draft.images[0].id,
    )

    # An applicant the admin rejected with a reason.
    applicant = user("applicant", "applicant_name")
    rejected = merchants.submit_application(
        applicant,
        merchants.Application(
            name=text(name, "application_name"),
            licence_no=demo_licence_no(f"security-applicant-{name}"),
            contact_name=text(name, "application_contact_name"),
            contact_phone=phone(),
            category_id=category.id,
            description=text(name, "application_description"),
        ),
        logo=png_bytes(),
        now=now - timedelta(days=5),
    )
    merchants.decide(rejected, "reject", actor=admin, reason=text(name, "reject_reason"), now=now)
    t.ids["applicant_merchant"] = rejected.id

    # The sharer: a shop with the products, a link per kind, a click from the buyer's phone.
    sharer = user("sharer", "sharer_name")
    shop = shops.save_shop(
        sharer,
        name=text(name, "shop_name"),
        slug=f"sec-shop-{name.lower()}",
        intro=text(name, "shop_intro"),
        avatar=None,
        now=now - timedelta(days=30),
    )
    item = shops.add_item(
        shop, product, recommendation=text(name, "recommendation"), now=now - timedelta(days=30)
    )
    shops.add_item(shop, second, now=now - timedelta(days=30))
    link_at = now - timedelta(days=20, hours=1)
    link = links.get_or_create_link(
        shop, product, Channel.CUSTOM, label=text(name, "link_label"), now=link_at
    )
    poster = links.get_or_create_link(shop, product, Channel.POSTER, now=link_at)
    shop_link = links.get_or_create_link(shop, None, Channel.WECHAT_GROUP, now=link_at)
    variant = sharing_materials.add_variant(
        sharer, product, text(name, "recommendation"), now=link_at
    )
    visitor = f"{name.lower()}" * 32
    clicks.record_click(
        link, _facts(), visitor_id=visitor, ip_secret=SECRET, flooded=False, now=link_at
    )
    t.ids.update(
        invite_code=teams.invite_of(sharer, now=link_at).invite_code,
        shop=shop.id,
        slug=shop.slug,
        shop_item=item.id,
        link=link.id,
        code=link.code,
        poster_link=poster.id,
        shop_link=shop_link.id,
        variant=variant.id,
    )

    # The buyer: a completed order of three products through the sharer's link (settled
    # rebate), one refund request the merchant rejected, one the admin refunded, one unpaid.
    buyer = user("buyer", "buyer_name")
    west_lake = ("330000", "330100", "330106")
    address = checkout.check_address(
        text(name, "address_name"), phone(), *west_lake, text(name, "address_detail")
    )
    t.ids["address"] = checkout.save_address(buyer, address, now=now - timedelta(days=20)).id
    t.ids["address_phone"] = address.phone
    window = timedelta(days=15)

    def place(lines, at, key, note=""):
        [order] = checkout.place_order(buyer, lines, address, checkout_key=f"security-{name}-{key}",
                                       provider="sandbox", visitor_id=visitor, now=at,
                                       window=window, allow_self_purchase=True,
                                       pay_within=timedelta(minutes=30), note=note)  # fmt: skip
        return order

    placed = now - timedelta(days=20)
    order = place(
        [(product.id, 1), (second.id, 1), (third.id, 1)], placed, "done", text(name, "buyer_note")
    )
    _pay(order, placed + timedelta(minutes=1))
    states.ship(order, "SF", f"SF{name}1234567", actor=merchant_user, now=placed)
    order.carrier = text(name, "carrier")  # typed before the carrier list: shown as it is
    db.session.flush()
    received = now - timedelta(days=18)
    states.confirm_receipt(order, actor=buyer, now=received)
    ledger.settle_order(order.id, now=now - timedelta(days=1), return_window=timedelta(days=7))
    items = {i.product_id: i for i in order.items}
    part = refunds.request(
        order, {items[second.id].id: 1}, reason=text(name, "part_refund_reason"),
        kind=states.REFUND_ONLY, key=f"security-{name}", actor=buyer, now=now,
    )  # fmt: skip
    t.ids["part_refund"] = part.id
    t.ids.update(
        order=order.id,
        order_number=order.number,
        order_item=items[product.id].id,
        order_item_2=items[second.id].id,
    )

    disputed = place([(second.id, 1)], now - timedelta(days=2), "disputed")
    _pay(disputed, now - timedelta(days=2))
    states.request_refund(disputed, text(name, "refund_reason"), actor=buyer, now=now)
    states.decide_refund(
        disputed, False, actor=merchant_user, source="merchant", now=now,
        note=text(name, "refund_note"),
    )  # fmt: skip
    t.ids["disputed_order"] = disputed.id

    overridden = place([(third.id, 1)], now - timedelta(days=2), "override")
    _pay(overridden, now - timedelta(days=2))
    states.request_refund(overridden, f"不想要了{name}", actor=buyer, now=now)
    states.refund_by_admin(overridden, text(name, "admin_refund_reason"), actor=admin, now=now)

    unpaid = place([(product.id, 1)], now - timedelta(minutes=2), "unpaid")
    t.ids.update(unpaid_order=unpaid.id, unpaid_number=unpaid.number)

    # Reviews: one published (with a follow-up, the merchant's reply and a reader's report),
    # one held by the blocked word, one hidden by the admin with a reason.
    rules = Rules()
    written = now - timedelta(days=10)

    def publish(row):
        if row.status == ReviewStatus.HELD:  # a payload can look like a link: let it through
            moderation.decide(row, "approve", actor=admin, reason="", now=written)
        return row

    review = publish(
        writing.write_review(
            items[product.id], actor=buyer, rating=5, body=text(name, "review"),
            now=written, rules=rules,
        )
    )  # fmt: skip
    followup = publish(
        writing.write_followup(
            review, actor=buyer, body=text(name, "followup"), now=written, rules=rules
        )
    )
    writing.write_reply(
        review, merchant=merchant, actor=merchant_user, body=text(name, "reply"),
        now=written, rules=rules,
    )  # fmt: skip
    writing.report_review(
        review, reporter=sharer, reason="other", details=text(name, "report_details"),
        now=written, rules=rules,
    )  # fmt: skip
    held = writing.write_review(
        items[second.id], actor=buyer, rating=1,
        body=f"{text(name, 'held_review')} {blocked_word}", now=written, rules=rules,
    )  # fmt: skip
    assert held.status == ReviewStatus.HELD, held.hold_rules
    hidden = publish(
        writing.write_review(
            items[third.id], actor=buyer, rating=2, body=text(name, "hidden_review"),
            now=written, rules=rules,
        )
    )  # fmt: skip
    moderation.decide(hidden, "hide", actor=admin, reason=text(name, "hide_reason"), now=now)
    t.ids.update(
        review=review.id, followup=followup.id, held_review=held.id, hidden_review=hidden.id
    )
    shops.set_review_display(item, show_rating=True, quote=review)

    # The sharer's money: a payout account, a request the admin rejected, an open request.
    payouts.save_account(
        sharer, "bank", text(name, "payout_account_name"), "6222020200112233445",
        text(name, "payout_bank_name"), now=now,
    )  # fmt: skip
    first = payouts.request_payout(
        sharer, 1000, idempotency_key=f"security-{name}-payout-1", minimum_cents=1000, now=now
    )
    payouts.decide(first, False, actor=admin, reason=text(name, "payout_reject_reason"), now=now)
    t.ids["payout"] = payouts.request_payout(
        sharer, 1000, idempotency_key=f"security-{name}-payout-2", minimum_cents=1000, now=now
    ).id

    # The merchant's money: a payout account and an open withdrawal of its settled share.
    payouts.save_account(
        merchant_user, "alipay", text(name, "merchant_account_name"), "13700009999", "",
        now=now,
    )  # fmt: skip
    t.ids["withdrawal"] = merchant_payouts.request_withdrawal(
        merchant_user, 100, idempotency_key=f"security-{name}-withdrawal", minimum_cents=100,
        now=now,
    ).id  # fmt: skip

    # An appeal about an order number the sharer was given, sent on and rejected; a second
    # one waiting for the admins.
    for index in range(2):
        appeal = appeals.ask(
            sharer, number=f"26010112000000{index}{len(name)}", limits=appeals.Limits(99, 99),
            window=timedelta(days=15), now=now,
        )  # fmt: skip
        appeals.submit(appeal, text(name, "appeal_note"), actor=sharer, now=now)
    appeals.decide(appeal, False, actor=admin, reason=text(name, "appeal_reason"), now=now)
    t.ids["appeal"] = appeal.id

    # A fraud flag on the sharer, dismissed by the admin with a reason.
    flag = FraudFlag(
        kind=FlagKind.FAST_ORDER,
        subject_key=f"order:{order.id}",
        sharer_id=sharer.id,
        link_id=link.id,
        evidence={"order_id": order.id, "order_number": order.number, "seconds": 3,
                  "threshold_seconds": 10},
        raised_at=now,
    )  # fmt: skip
    db.session.add(flag)
    db.session.flush()
    fraud.dismiss_flag(flag, actor=admin, reason=text(name, "flag_reason"), now=now)
    t.ids["flag"] = flag.id
    t.ids["blocked_word"] = db.session.execute(
        select(BlockedWord.id).where(moderation.BlockedWord.word == blocked_word)
    ).scalar_one()

    # Notifications: a message in the sharer's inbox (the rejected payout, with its private
    # reason) and a webhook of hers.
    message = Notification(
        user_id=sharer.id, kind="payout_decided", created_at=now,
        data={"amount_cents": 1000, "paid": False, "reason": text(name, "payout_reject_reason")},
    )  # fmt: skip
    endpoint = Endpoint(
        user_id=sharer.id, channel="webhook", target=f"https://hooks.example.com/{name}",
        secret=f"whsec_security_{name}", created_at=now,
    )  # fmt: skip
    db.session.add_all([message, endpoint])
    db.session.flush()
    t.ids["message"], t.ids["endpoint"] = message.id, endpoint.id

    # Money through a gateway: a refund of the disputed order on its way back, and a
    # reconciliation difference about it (admin-only rows).
    gateway_refund = GatewayRefund(
        order_id=t.ids["disputed_order"], provider="wechatpay", kind="refund",
        refund_number=f"{name}-security-R", amount_cents=100, state="failed",
        reason="退款", last_error="SYSTEM_ERROR",
        created_at=now, next_try_at=now,
    )  # fmt: skip
    difference = ReconciliationItem(
        provider="wechatpay", day=now.date(), kind="missing_ours", subject="payment",
        reference=f"4200{name}security", order_number=f"{name}-security", theirs_cents=100,
        found_at=now, resolution="",
    )  # fmt: skip
    # Background work given up: the payment callback row of the order (admin-only).
    given_up = outbox.OutboxRow(
        topic="payment", kind="wechatpay", user_id=None, created_at=now, available_at=now,
        payload={"order_number": t.ids["order_number"], "state": "paid", "amount_cents": 100,
                 "trade_id": f"4200{name}given-up", "paid_at": None},
        attempts=outbox.MAX_ATTEMPTS, done_at=now, last_error="OperationalError: locked",
    )  # fmt: skip
    db.session.add_all([gateway_refund, difference, given_up])
    db.session.flush()
    t.ids["gateway_refund"], t.ids["reconciliation_item"] = gateway_refund.id, difference.id
    t.ids["outbox_row"] = given_up.id
    return t
