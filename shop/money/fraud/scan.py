"""The fraud scan: thresholds and the detectors that raise flags from the data.

``scan`` looks at the last day of flood-marked clicks (through the partial index
``ix_clicks_flood_time``, never the other clicks) and at the orders paid in the last
``window_days`` (through ``ix_orders_paid_at``). Each flag has a unique key (kind, subject,
period) and is inserted with ON CONFLICT DO NOTHING: a second scan, or two at once, adds
nothing, and a dismissed flag is not raised again for the same period.
"""

import hashlib
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from shop.money.models import FlagKind, FlagStatus, FraudFlag
from shop.orders.models import Order, OrderStatus
from shop.platform.db import insert_for
from shop.platform.extensions import db
from shop.sharing.attribution import Reason
from shop.sharing.models import Click, ShareLink
from shop.sharing.rollup import china_day

#: Attribution reasons that put an order in a sharer's name (earning or not).
ATTRIBUTED = (Reason.ATTRIBUTED, Reason.SELF_PURCHASE, Reason.SELF_PURCHASE_NOT_ALLOWED)
SELF = (Reason.SELF_PURCHASE, Reason.SELF_PURCHASE_NOT_ALLOWED)
#: Ids listed in a flag's evidence, at most.
MAX_IDS = 50


@dataclass(frozen=True)
class Thresholds:
    flood_clicks: int = 100
    window_days: int = 30
    self_purchase_bps: int = 5000
    self_purchase_min_orders: int = 5
    refund_bps: int = 3000
    refund_min_orders: int = 5
    fast_order_seconds: int = 10
    address_min_sharers: int = 3

    @classmethod
    def from_config(cls, config) -> "Thresholds":
        return cls(
            flood_clicks=config["FRAUD_FLOOD_CLICKS"],
            window_days=config["FRAUD_WINDOW_DAYS"],
            self_purchase_bps=config["FRAUD_SELF_PURCHASE_BPS"],
            self_purchase_min_orders=config["FRAUD_SELF_PURCHASE_MIN_ORDERS"],
            refund_bps=config["FRAUD_REFUND_BPS"],
            refund_min_orders=config["FRAUD_REFUND_MIN_ORDERS"],
            fast_order_seconds=config["FRAUD_FAST_ORDER_SECONDS"],
            address_min_sharers=config["FRAUD_ADDRESS_MIN_SHARERS"],
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def normalise_address(region: str, detail: str) -> str:
    """One spelling per address: full-width to half-width, lower case, no spaces or
    punctuation ("浙江省 杭州市" and "浙江省杭州市，" are the same place)."""
    text = unicodedata.normalize("NFKC", f"{region}{detail}").lower()
    return re.sub(r"[\s\W_]+", "", text)


# --- the scan ------------------------------------------------------------------------------


def scan(*, now: datetime, thresholds: Thresholds) -> dict[FlagKind, int]:
    """Raise the flags the data calls for; returns how many new flags of each kind."""
    candidates = [
        *_click_floods(now, thresholds),
        *_sharer_shares(now, thresholds),
        *_fast_orders(now, thresholds),
        *_address_clusters(now, thresholds),
    ]
    raised = {kind: 0 for kind in FlagKind}
    for values in candidates:
        if _recently_flagged(values, now=now, thresholds=thresholds):
            continue
        if _insert(values, now=now):
            raised[values["kind"]] += 1
    return raised


def _recently_flagged(values: dict, *, now: datetime, thresholds: Thresholds) -> bool:
    """True when the same subject got a flag of this kind within the evidence window, open,
    dismissed or held: a rolling window crossing midnight (or the 1st of a month) would
    otherwise raise the same evidence again under a new period key, reopening a decided
    flag."""
    window = (
        timedelta(hours=24)
        if values["kind"] in (FlagKind.LINK_FLOOD, FlagKind.IP_FLOOD)
        else timedelta(days=thresholds.window_days)
    )
    return (
        db.session.execute(
            select(FraudFlag.id).where(
                FraudFlag.kind == values["kind"],
                FraudFlag.subject_key == values["subject_key"],
                FraudFlag.raised_at > now - window,
            )
        ).first()
        is not None
    )


def _insert(values: dict, *, now: datetime) -> bool:
    statement = (
        insert_for(db.session, FraudFlag)
        .values(status=FlagStatus.OPEN, raised_at=now, **values)
        .on_conflict_do_nothing(index_elements=["kind", "subject_key", "period_key"])
        .returning(FraudFlag.id)
    )
    # A row comes back only when the flag is new (rowcount is not reliable for ORM inserts).
    return db.session.execute(statement).first() is not None


def _click_floods(now: datetime, t: Thresholds) -> list[dict]:
    since = now - timedelta(hours=24)
    period = china_day(now).isoformat()
    floods = (Click.uncounted_reason == "flood", Click.clicked_at >= since, Click.clicked_at <= now)
    flags = []
    by_link = db.session.execute(
        select(
            Click.link_id,
            func.count(Click.id),
            func.min(Click.clicked_at),
            func.max(Click.clicked_at),
            func.count(func.distinct(Click.ip_hash)),
        )
        .where(*floods)
        .group_by(Click.link_id)
        .having(func.count(Click.id) >= t.flood_clicks)
    ).all()
    links = {
        link.id: link
        for link in db.session.execute(
            select(ShareLink).where(ShareLink.id.in_([row[0] for row in by_link]))
        ).scalars()
    }
    for link_id, count, first, last, addresses in by_link:
        link = links.get(link_id)
        flags.append(
            {
                "kind": FlagKind.LINK_FLOOD,
                "subject_key": f"link:{link_id}",
                "period_key": period,
                "sharer_id": link.sharer_id if link else None,
                "link_id": link_id,
                "evidence": {
                    "clicks": count,
                    "addresses": addresses,
                    "first": _iso(first),
                    "last": _iso(last),
                    "link_code": link.code if link else "",
                    "hours": 24,
                },
            }
        )
    by_ip = db.session.execute(
        select(
            Click.ip_hash,
            func.count(Click.id),
            func.min(Click.clicked_at),
            func.max(Click.clicked_at),
        )
        .where(*floods)
        .group_by(Click.ip_hash)
        .having(func.count(Click.id) >= t.flood_clicks)
    ).all()
    for ip_hash, count, first, last in by_ip:
        targets = db.session.execute(
            select(ShareLink.id, ShareLink.sharer_id, func.count(Click.id))
            .join(ShareLink, ShareLink.id == Click.link_id)
            .where(*floods, Click.ip_hash == ip_hash)
            .group_by(ShareLink.id, ShareLink.sharer_id)
            .order_by(func.count(Click.id).desc(), ShareLink.id)
        ).all()
        sharers = sorted({sharer_id for _link, sharer_id, _n in targets})
        flags.append(
            {
                "kind": FlagKind.IP_FLOOD,
                "subject_key": f"ip:{ip_hash}",
                "period_key": period,
                "sharer_id": sharers[0] if len(sharers) == 1 else None,
                "ip_hash": ip_hash,
                "evidence": {
                    "clicks": count,
                    "first": _iso(first),
                    "last": _iso(last),
                    "link_ids": [link_id for link_id, _s, _n in targets][:MAX_IDS],
                    "sharer_ids": sharers[:MAX_IDS],
                    "hours": 24,
                },
            }
        )
    return flags


def _paid_since(now: datetime, t: Thresholds):
    since = now - timedelta(days=t.window_days)
    return (Order.paid_at >= since, Order.paid_at <= now)


def _sharer_shares(now: datetime, t: Thresholds) -> list[dict]:
    """Sharers whose attributed paid orders are mostly their own, or mostly refunded."""
    rows = db.session.execute(
        select(Order.id, Order.sharer_id, Order.attribution_reason, Order.status)
        .where(*_paid_since(now, t), Order.attribution_reason.in_([str(r) for r in ATTRIBUTED]))
        .order_by(Order.id)
    ).all()
    per_sharer: dict[int, dict[str, list[int]]] = defaultdict(
        lambda: {"all": [], "self": [], "refunded": []}
    )
    for order_id, sharer_id, reason, status in rows:
        if sharer_id is None:
            continue
        bucket = per_sharer[sharer_id]
        bucket["all"].append(order_id)
        if reason in SELF:
            bucket["self"].append(order_id)
        if status == OrderStatus.REFUNDED:
            bucket["refunded"].append(order_id)
    period = china_day(now).strftime("%Y-%m")
    flags = []
    checks = (
        (FlagKind.SELF_PURCHASE, "self", t.self_purchase_bps, t.self_purchase_min_orders),
        (FlagKind.REFUND_SHARE, "refunded", t.refund_bps, t.refund_min_orders),
    )
    for sharer_id, bucket in sorted(per_sharer.items()):
        total = len(bucket["all"])
        for kind, key, bps, minimum in checks:
            hits = bucket[key]
            if total < minimum or len(hits) * 10000 < bps * total:
                continue
            flags.append(
                {
                    "kind": kind,
                    "subject_key": f"sharer:{sharer_id}",
                    "period_key": period,
                    "sharer_id": sharer_id,
                    "evidence": {
                        "orders": total,
                        "hits": len(hits),
                        "share_bps": len(hits) * 10000 // total,
                        "threshold_bps": bps,
                        "days": t.window_days,
                        "order_ids": hits[:MAX_IDS],
                    },
                }
            )
    return flags


def _fast_orders(now: datetime, t: Thresholds) -> list[dict]:
    rows = db.session.execute(
        select(
            Order.id,
            Order.number,
            Order.sharer_id,
            Order.placed_at,
            Click.id,
            Click.clicked_at,
            Click.link_id,
        )
        .join(Click, Click.id == Order.click_id)
        # The seconds kept on the order when it was placed: only the fast ones are loaded.
        .where(*_paid_since(now, t), Order.click_lag_seconds <= t.fast_order_seconds)
        .order_by(Order.id)
    ).all()
    flags = []
    for order_id, number, sharer_id, placed_at, click_id, clicked_at, link_id in rows:
        gap = placed_at - clicked_at
        flags.append(
            {
                "kind": FlagKind.FAST_ORDER,
                "subject_key": f"order:{order_id}",
                "period_key": "",
                "sharer_id": sharer_id,
                "link_id": link_id,
                "evidence": {
                    "order_id": order_id,
                    "order_number": number,
                    "click_id": click_id,
                    "clicked_at": _iso(clicked_at),
                    "placed_at": _iso(placed_at),
                    "seconds": max(int(gap.total_seconds()), 0),
                    "threshold_seconds": t.fast_order_seconds,
                },
            }
        )
    return flags


def _address_clusters(now: datetime, t: Thresholds) -> list[dict]:
    rows = db.session.execute(
        select(Order.id, Order.sharer_id, Order.ship_region, Order.ship_detail)
        .where(*_paid_since(now, t), Order.sharer_id.is_not(None))
        .order_by(Order.id)
    ).all()
    clusters: dict[str, dict] = {}
    for order_id, sharer_id, region, detail in rows:
        key = normalise_address(region, detail)
        cluster = clusters.setdefault(
            key, {"orders": [], "sharers": set(), "address": f"{region} {detail}"}
        )
        cluster["orders"].append(order_id)
        cluster["sharers"].add(sharer_id)
    period = china_day(now).strftime("%Y-%m")
    flags = []
    for key, cluster in sorted(clusters.items()):
        sharers = sorted(cluster["sharers"])
        if len(sharers) < t.address_min_sharers:
            continue
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        flags.append(
            {
                "kind": FlagKind.ADDRESS_CLUSTER,
                "subject_key": f"addr:{digest}",
                "period_key": period,
                "sharer_id": None,
                "evidence": {
                    "orders": len(cluster["orders"]),
                    "sharers": len(sharers),
                    "threshold": t.address_min_sharers,
                    "days": t.window_days,
                    "address": cluster["address"],
                    "order_ids": cluster["orders"][:MAX_IDS],
                    "sharer_ids": sharers[:MAX_IDS],
                },
            }
        )
    return flags
