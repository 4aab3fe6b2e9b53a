"""Fraud flags: each kind raised from crafted rows (with its explanation and evidence), none
under the thresholds, no duplicates on a second scan, and the audited decisions (dismiss,
hold, release) with a hold that really stops payouts."""

import itertools
from datetime import datetime, timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from shop.money import fraud, payouts
from shop.money.models import EntryKind, FlagKind, FlagStatus, FraudFlag, LedgerEntry, RebateHold
from shop.orders.models import Order, OrderItem, OrderStatus
from shop.platform.errors import InvalidTransition, PermissionDenied, ValidationError
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from shop.sharing.models import Channel, Click, ShareLink
from tests.factories import make_product, make_shop, make_user

NOW = datetime(2024, 5, 20, 4, 0)  # noon in China
T = fraud.Thresholds(
    flood_clicks=5,
    window_days=30,
    self_purchase_bps=5000,
    self_purchase_min_orders=4,
    refund_bps=5000,
    refund_min_orders=4,
    fast_order_seconds=10,
    address_min_sharers=3,
)
_seq = itertools.count(1)


def make_share_link(sharer=None, product=None) -> ShareLink:
    shop = make_shop(user=sharer) if sharer else make_shop()
    product = product or make_product()
    link = ShareLink(
        code=f"c{next(_seq):07d}",
        sharer_id=shop.user_id,
        shop_id=shop.id,
        product_id=product.id,
        target_key=f"p{product.id}",
        channel=Channel.MOMENTS,
        label="",
    )
    db.session.add(link)
    db.session.flush()
    return link


def make_click(link, at, *, reason=None, ip="ip-a", visitor="v1") -> Click:
    click = Click(
        link_id=link.id,
        clicked_at=at,
        visitor_id=visitor,
        ip_hash=ip,
        ua_family="wechat",
        uncounted_reason=reason,
    )
    db.session.add(click)
    db.session.flush()
    return click


def make_order(
    product,
    *,
    buyer=None,
    sharer_id=None,
    reason="attributed",
    status=OrderStatus.PAID,
    paid_at=NOW - timedelta(days=1),
    placed_at=None,
    click=None,
    region="浙江省 杭州市",
    detail="文三路 90 号",
    quantity=1,
) -> Order:
    """A paid order row written directly (the scan and the overview read rows, not rules)."""
    n = next(_seq)
    buyer = buyer or make_user()
    placed_at = placed_at or paid_at - timedelta(minutes=2)
    order = Order(
        number=f"FX{n:010d}",
        buyer_id=buyer.id,
        merchant_id=product.merchant_id,
        checkout_key=f"ck{n}",
        status=status,
        total_cents=product.price_cents * quantity,
        ship_name="王小二",
        ship_phone="13912345678",
        ship_region=region,
        ship_detail=detail,
        payment_provider="sandbox",
        attribution_reason=reason if sharer_id else "no_click",
        click_id=click.id if click else None,
        link_id=click.link_id if click else None,
        click_lag_seconds=int((placed_at - click.clicked_at).total_seconds()) if click else None,
        sharer_id=sharer_id,
        placed_at=placed_at,
        pay_deadline=placed_at + timedelta(minutes=30),
        paid_at=paid_at,
        closed_at=paid_at + timedelta(hours=1) if status == OrderStatus.REFUNDED else None,
    )
    order.items.append(
        OrderItem(
            product_id=product.id,
            title=product.title,
            unit_price_cents=product.price_cents,
            quantity=quantity,
            rebate_bps=product.rebate_bps,
            rebate_cents=product.price_cents * quantity * product.rebate_bps // 10000,
        )
    )
    db.session.add(order)
    db.session.flush()
    return order


def flags(kind=None) -> list[FraudFlag]:
    query = select(FraudFlag).order_by(FraudFlag.id)
    if kind is not None:
        query = query.where(FraudFlag.kind == kind)
    return list(db.session.execute(query).scalars())


def test_link_and_address_floods_are_flagged_from_the_last_day_only(ctx):
    noisy = make_share_link()
    quiet = make_share_link()
    for i in range(5):
        make_click(noisy, NOW - timedelta(minutes=i), reason="flood", ip="ip-flood")
    for i in range(4):  # one short of the threshold
        make_click(quiet, NOW - timedelta(minutes=i), reason="flood", ip="ip-quiet")
    for i in range(3):  # floods older than a day, and counted clicks, do not add up
        make_click(quiet, NOW - timedelta(hours=25 + i), reason="flood", ip="ip-quiet")
        make_click(quiet, NOW - timedelta(minutes=i), ip="ip-quiet")
    raised = fraud.scan(now=NOW, thresholds=T)
    assert raised[FlagKind.LINK_FLOOD] == 1 and raised[FlagKind.IP_FLOOD] == 1
    [link_flag] = flags(FlagKind.LINK_FLOOD)
    assert link_flag.link_id == noisy.id and link_flag.sharer_id == noisy.sharer_id
    assert link_flag.evidence["clicks"] == 5 and link_flag.evidence["addresses"] == 1
    assert link_flag.period_key == "2024-05-20"
    assert noisy.code in str(fraud.explain(link_flag))
    [ip_flag] = flags(FlagKind.IP_FLOOD)
    assert ip_flag.ip_hash == "ip-flood" and ip_flag.evidence["link_ids"] == [noisy.id]
    assert ip_flag.sharer_id == noisy.sharer_id  # all on one sharer's links
    assert "5" in str(fraud.explain(ip_flag))


def test_self_purchase_and_refund_shares_need_the_share_and_the_sample(ctx):
    product = make_product()
    selfish, refunder, small, honest = (make_user() for _ in range(4))
    for i in range(4):  # 2 of 4 bought by the sharer: 50%, at the threshold
        reason = "self_purchase" if i < 2 else "attributed"
        make_order(product, buyer=selfish if i < 2 else None, sharer_id=selfish.id, reason=reason)
    for i in range(4):  # 2 of 4 refunded
        status = OrderStatus.REFUNDED if i < 2 else OrderStatus.PAID
        make_order(product, sharer_id=refunder.id, status=status)
    for _i in range(3):  # all self-purchases, but only 3 orders: below the sample size
        make_order(product, buyer=small, sharer_id=small.id, reason="self_purchase")
    for i in range(4):  # 1 of 4 self (25%) and 1 of 4 refunded: under the thresholds
        make_order(
            product,
            buyer=honest if i == 0 else None,
            sharer_id=honest.id,
            reason="self_purchase" if i == 0 else "attributed",
            status=OrderStatus.REFUNDED if i == 1 else OrderStatus.PAID,
        )
    # Outside the window: would push the small sharer over the sample size.
    make_order(
        product, buyer=small, sharer_id=small.id, reason="self_purchase",
        paid_at=NOW - timedelta(days=31),
    )  # fmt: skip
    fraud.scan(now=NOW, thresholds=T)
    [self_flag] = flags(FlagKind.SELF_PURCHASE)
    assert self_flag.sharer_id == selfish.id and self_flag.subject_key == f"sharer:{selfish.id}"
    assert self_flag.evidence["orders"] == 4 and self_flag.evidence["hits"] == 2
    assert len(self_flag.evidence["order_ids"]) == 2
    text = str(fraud.explain(self_flag))
    assert "2" in text and "4" in text and "50%" in text
    [refund_flag] = flags(FlagKind.REFUND_SHARE)
    assert refund_flag.sharer_id == refunder.id and refund_flag.evidence["hits"] == 2


def test_an_order_seconds_after_its_click_is_flagged(ctx):
    link = make_share_link()
    fast_click = make_click(link, NOW - timedelta(hours=2))
    slow_click = make_click(link, NOW - timedelta(hours=3), visitor="v2")
    fast = make_order(
        link.product, sharer_id=link.sharer_id, click=fast_click,
        placed_at=fast_click.clicked_at + timedelta(seconds=10), paid_at=NOW - timedelta(hours=1),
    )  # fmt: skip
    make_order(
        link.product, sharer_id=link.sharer_id, click=slow_click,
        placed_at=slow_click.clicked_at + timedelta(seconds=11), paid_at=NOW - timedelta(hours=1),
    )  # fmt: skip
    fraud.scan(now=NOW, thresholds=T)
    [flag] = flags(FlagKind.FAST_ORDER)
    assert flag.subject_key == f"order:{fast.id}" and flag.sharer_id == link.sharer_id
    assert flag.evidence["seconds"] == 10 and flag.evidence["click_id"] == fast_click.id
    assert fast.number in str(fraud.explain(flag))


def test_orders_to_one_address_through_many_sharers_are_flagged(ctx):
    product = make_product()
    sharers = [make_user() for _ in range(3)]
    # The same place written three ways (spaces, full-width digits, punctuation).
    spellings = [
        ("浙江省 杭州市", "文三路 90 号"),
        ("浙江省杭州市", "文三路９０号"),
        ("浙江省杭州市", "文三路 90 号。"),
    ]
    ids = [
        make_order(product, sharer_id=s.id, region=r, detail=d).id
        for s, (r, d) in zip(sharers, spellings, strict=True)
    ]
    # Two sharers only: below the threshold.
    for s in sharers[:2]:
        make_order(product, sharer_id=s.id, region="上海市", detail="南京路 1 号")
    fraud.scan(now=NOW, thresholds=T)
    [flag] = flags(FlagKind.ADDRESS_CLUSTER)
    assert flag.sharer_id is None and flag.evidence["order_ids"] == ids
    assert flag.evidence["sharer_ids"] == sorted(s.id for s in sharers)
    assert "3" in str(fraud.explain(flag))


def test_nothing_is_flagged_under_the_thresholds(ctx):
    link = make_share_link()
    for i in range(4):
        make_click(link, NOW - timedelta(minutes=i), reason="flood")
    click = make_click(link, NOW - timedelta(hours=1))
    make_order(link.product, sharer_id=link.sharer_id, click=click, paid_at=NOW)
    assert sum(fraud.scan(now=NOW, thresholds=T).values()) == 0
    assert flags() == []


def test_scanning_twice_adds_no_duplicates(ctx):
    link = make_share_link()
    for i in range(6):
        make_click(link, NOW - timedelta(minutes=i), reason="flood")
    first = fraud.scan(now=NOW, thresholds=T)
    fraud.dismiss_flag(flags(FlagKind.LINK_FLOOD)[0], actor=make_user(is_admin=True),
                       reason="测试", now=NOW)  # fmt: skip
    second = fraud.scan(now=NOW + timedelta(minutes=5), thresholds=T)
    assert sum(first.values()) == 2 and sum(second.values()) == 0
    assert len(flags()) == 2
    assert flags(FlagKind.LINK_FLOOD)[0].status == FlagStatus.DISMISSED  # not reopened


def held_sharer_setup():
    """A sharer with ¥20 settled, a payout account, and an open flag about them."""
    product = make_product(price_cents=20000, original_price_cents=20000, rebate_bps=1000)
    sharer = make_user()
    order = make_order(product, sharer_id=sharer.id, status=OrderStatus.COMPLETED)
    for kind in (EntryKind.ESTIMATED, EntryKind.SETTLED):
        db.session.add(
            LedgerEntry(
                sharer_id=sharer.id,
                kind=kind,
                amount_cents=2000,
                order_id=order.id,
                order_item_id=order.items[0].id,
                created_at=NOW,
            )
        )
    payouts.save_account(sharer, "alipay", "王小二", "13912345678", "", now=NOW)
    flag = FraudFlag(
        kind=FlagKind.SELF_PURCHASE,
        subject_key=f"sharer:{sharer.id}",
        period_key="2024-05",
        sharer_id=sharer.id,
        evidence={"orders": 5, "hits": 5, "share_bps": 10000, "threshold_bps": 5000, "days": 30},
        raised_at=NOW,
    )
    db.session.add(flag)
    db.session.flush()
    return sharer, flag


def request(sharer, key):
    return payouts.request_payout(
        sharer, 1000, idempotency_key=key, minimum_cents=1000, now=NOW + timedelta(hours=1)
    )


def audit_actions() -> list[str]:
    return list(db.session.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars())


def test_dismiss_is_audited_and_needs_a_reason(ctx):
    admin = make_user(is_admin=True)
    _sharer, flag = held_sharer_setup()
    with pytest.raises(ValidationError):
        fraud.dismiss_flag(flag, actor=admin, reason="  ", now=NOW)
    with pytest.raises(PermissionDenied):
        fraud.dismiss_flag(flag, actor=make_user(), reason="无", now=NOW)
    fraud.dismiss_flag(flag, actor=admin, reason="家人代买", now=NOW)
    assert flag.status == FlagStatus.DISMISSED and flag.decided_by_id == admin.id
    assert flag.decision_reason == "家人代买"
    assert audit_actions() == ["fraud.dismiss"]
    with pytest.raises(InvalidTransition):
        fraud.dismiss_flag(flag, actor=admin, reason="again", now=NOW)


def test_a_held_sharer_cannot_request_a_payout_until_released(ctx):
    admin = make_user(is_admin=True)
    sharer, flag = held_sharer_setup()
    hold = fraud.hold_rebates(flag, actor=admin, reason="自买比例过高", now=NOW)
    assert flag.status == FlagStatus.HELD and hold.sharer_id == sharer.id
    assert fraud.is_held(sharer.id)
    with pytest.raises(PermissionDenied) as refused:
        request(sharer, "key-held-000000001")
    with force_locale("en"):
        assert "on hold" in str(refused.value.message)
    assert db.session.execute(select(func.count(LedgerEntry.id)).where(
        LedgerEntry.kind == EntryKind.PAYOUT)).scalar_one() == 0  # fmt: skip

    fraud.release_rebates(sharer, actor=admin, reason="核实无误", now=NOW)
    assert not fraud.is_held(sharer.id)
    db.session.refresh(flag)
    assert flag.status == FlagStatus.DISMISSED and flag.decision_reason == "核实无误"
    payout = request(sharer, "key-free-000000001")
    assert payout.amount_cents == 1000
    assert audit_actions() == ["fraud.hold", "fraud.release"]
    with pytest.raises(InvalidTransition):
        fraud.release_rebates(sharer, actor=admin, reason="again", now=NOW)
    released = db.session.execute(select(RebateHold)).scalar_one()
    assert released.released_at == NOW and released.release_reason == "核实无误"


def test_a_flag_without_one_sharer_cannot_hold(ctx):
    admin = make_user(is_admin=True)
    flag = FraudFlag(kind=FlagKind.ADDRESS_CLUSTER, subject_key="addr:x", period_key="2024-05",
                     evidence={}, raised_at=NOW)  # fmt: skip
    db.session.add(flag)
    db.session.flush()
    with pytest.raises(ValidationError):
        fraud.hold_rebates(flag, actor=admin, reason="x", now=NOW)
    assert flag.status == FlagStatus.OPEN and audit_actions() == []


def test_address_normalisation():
    assert fraud.normalise_address("浙江省 杭州市", "文三路 ９０ 号，") == "浙江省杭州市文三路90号"


def test_a_hold_also_stops_paying_a_request_made_before_it(ctx):
    from shop.money import payouts
    from shop.money.models import PayoutStatus

    admin = make_user(is_admin=True)
    sharer, flag = held_sharer_setup()
    payout = request(sharer, "key-before-hold-0001")
    fraud.hold_rebates(flag, actor=admin, reason="自买比例过高", now=NOW)
    with pytest.raises(PermissionDenied):
        payouts.decide(payout, True, actor=admin, reference="TX123", now=NOW)
    assert payout.status == PayoutStatus.REQUESTED
    # Rejecting it (the money goes back to the balance) is still possible.
    payouts.decide(payout, False, actor=admin, reason="核查中", now=NOW)
    assert payout.status == PayoutStatus.REJECTED


def test_a_dismissed_flood_is_not_raised_again_after_china_midnight(ctx):
    admin = make_user(is_admin=True)
    link = make_share_link()
    night = datetime(2024, 5, 20, 15, 30)  # 23:30 in China
    for i in range(5):
        make_click(link, night - timedelta(minutes=i), reason="flood", ip="ip-x")
    fraud.scan(now=night, thresholds=T)
    [flag] = (
        db.session.execute(select(FraudFlag).where(FraudFlag.kind == FlagKind.LINK_FLOOD))
        .scalars()
        .all()
    )
    fraud.dismiss_flag(flag, actor=admin, reason="checked, harmless", now=night)
    fraud.scan(now=night + timedelta(hours=1), thresholds=T)  # 00:30, the same clicks
    flags = (
        db.session.execute(select(FraudFlag).where(FraudFlag.kind == FlagKind.LINK_FLOOD))
        .scalars()
        .all()
    )
    assert [f.status for f in flags] == [FlagStatus.DISMISSED]
