"""The invariants of partial refunds (shop.money.refunds), run by tests/invariants.check."""

from collections import defaultdict

from sqlalchemy import text


def check(run) -> None:
    _caps(run)
    _ledger(run)
    _merchant(run)


def _caps(run) -> None:
    # The caps of an order add up to what the buyer paid; each line's held and done are its
    # open and refunded requests' lines; nothing is refunded past what was paid.
    off = run(
        text(
            "SELECT c.order_id FROM refund_caps c JOIN orders o ON o.id = c.order_id "
            "GROUP BY c.order_id, o.total_cents HAVING sum(c.cap_cents) <> o.total_cents"
        )
    ).all()
    assert not off, f"refund caps not adding up to the order's total: {off}"
    lines = defaultdict(lambda: [0, 0, 0, 0])  # (order, line) -> held c, held q, done c, q
    for order_id, line, status, cents, quantity in run(
        text(
            "SELECT q.order_id, l.order_item_id, q.status, l.amount_cents, l.quantity "
            "FROM refund_lines l JOIN refund_requests q ON q.id = l.refund_id "
            "UNION ALL SELECT q.order_id, 0, q.status, q.shipping_cents, 0 FROM refund_requests q"
        )
    ):
        at = 0 if status == "requested" else 2 if status == "refunded" else None
        if at is not None:
            lines[(order_id, line)][at] += cents
            lines[(order_id, line)][at + 1] += quantity
    for order_id, line, held_c, held_q, done_c, done_q in run(
        text(
            "SELECT order_id, line, held_cents, held_quantity, done_cents, done_quantity "
            "FROM refund_caps"
        )
    ):
        expected = lines.pop((order_id, line), [0, 0, 0, 0])
        assert [held_c, held_q, done_c, done_q] == expected, (
            f"cap ({order_id}, {line}) holds {[held_c, held_q, done_c, done_q]}, "
            f"its requests {expected}"
        )
    assert not {k: v for k, v in lines.items() if any(v)}, f"requests without caps: {lines}"
    over = run(
        text(
            "SELECT o.id FROM orders o JOIN refund_requests q ON q.order_id = o.id "
            "WHERE q.status IN ('requested', 'refunded') GROUP BY o.id, o.total_cents, o.status "
            "HAVING sum(q.amount_cents) > o.total_cents OR (o.status = 'refunded') <> "
            "(sum(CASE WHEN q.status = 'refunded' THEN q.amount_cents ELSE 0 END) = o.total_cents "
            "OR EXISTS (SELECT 1 FROM order_events v WHERE v.order_id = o.id "
            "AND v.to_status = 'refunded' AND v.source <> 'partial'))"
        )
    ).all()
    assert not over, f"orders refunded past their total, or refunded in parts but not: {over}"
    opened = run(
        text(
            "SELECT order_id FROM refund_requests WHERE status = 'requested' "
            "GROUP BY order_id HAVING count(*) > 1"
        )
    ).all()
    assert not opened, f"several open partial refunds: {opened}"


def _ledger(run) -> None:
    """Each item's rebate entries (per tier): one estimate; what is estimated less what was
    settled and voided never below zero, what was settled less what was clawed back never
    below zero; and what is left (estimated less voided and clawed back) is the rebate less
    the refunded lines' parts, or nothing once the order is refunded."""
    rows = run(
        text(
            "SELECT e.order_item_id, e.tier, o.status, "
            "sum(CASE WHEN e.kind = 'estimated' THEN e.amount_cents ELSE 0 END), "
            "sum(CASE WHEN e.kind = 'settled' THEN e.amount_cents ELSE 0 END), "
            "sum(CASE WHEN e.kind = 'voided' THEN e.amount_cents ELSE 0 END), "
            "sum(CASE WHEN e.kind = 'clawback' THEN e.amount_cents ELSE 0 END) "
            "FROM ledger_entries e JOIN orders o ON o.id = e.order_id "
            "WHERE e.order_item_id IS NOT NULL GROUP BY e.order_item_id, e.tier, o.status"
        )
    ).all()
    parts = {}
    for item_id, rebate, override in run(
        text(
            "SELECT l.order_item_id, sum(l.rebate_cents), sum(l.override_cents) "
            "FROM refund_lines l JOIN refund_requests q ON q.id = l.refund_id "
            "WHERE q.status = 'refunded' GROUP BY l.order_item_id"
        )
    ):
        parts[(item_id, 1)], parts[(item_id, 2)] = rebate, override
    for item_id, tier, status, est, settled, voided, clawback in rows:
        assert est - settled - voided >= 0, f"item {item_id} tier {tier}: estimated below 0"
        assert settled - clawback >= 0, f"item {item_id} tier {tier}: clawed back past settled"
        left = 0 if status == "refunded" else est - parts.get((item_id, tier), 0)
        assert est - voided - clawback == left, (
            f"item {item_id} tier {tier}: {est - voided - clawback} left, expected {left}"
        )
    # A partial refund's entries are its lines' parts; none for a request not refunded.
    posted = {
        (refund_id, item_id, tier): amount
        for refund_id, item_id, tier, amount in run(
            text(
                "SELECT refund_id, order_item_id, tier, sum(amount_cents) FROM ledger_entries "
                "WHERE refund_id IS NOT NULL GROUP BY refund_id, order_item_id, tier"
            )
        )
    }
    for refund_id, item_id, status, rebate, override, earns in run(
        text(
            "SELECT l.refund_id, l.order_item_id, q.status, l.rebate_cents, l.override_cents, "
            "CASE WHEN EXISTS (SELECT 1 FROM ledger_entries x WHERE x.order_item_id = "
            "l.order_item_id AND x.kind = 'estimated') THEN 1 ELSE 0 END "
            "FROM refund_lines l JOIN refund_requests q ON q.id = l.refund_id"
        )
    ):
        for tier, amount in ((1, rebate), (2, override)):
            want = amount if status == "refunded" and earns else 0
            got = posted.pop((refund_id, item_id, tier), 0)
            assert got == want, f"refund {refund_id} item {item_id} tier {tier}: {got} != {want}"
    assert not posted, f"partial reversals without their refund line: {posted}"


def _merchant(run) -> None:
    """The merchant's entries per order: never below zero pending or available; each agreed
    partial refund reverses its lines' shares (with its shipping) and fees, once."""
    for order_id, est, settled, voided, clawback in run(
        text(
            "SELECT order_id, "
            "sum(CASE WHEN kind = 'estimated' THEN amount_cents ELSE 0 END), "
            "sum(CASE WHEN kind = 'settled' THEN amount_cents ELSE 0 END), "
            "sum(CASE WHEN kind = 'voided' THEN amount_cents ELSE 0 END), "
            "sum(CASE WHEN kind = 'clawback' THEN amount_cents ELSE 0 END) "
            "FROM merchant_entries WHERE order_id IS NOT NULL GROUP BY order_id"
        )
    ):
        assert est - settled - voided >= 0, f"order {order_id}: merchant pending below 0"
        assert settled - clawback >= 0, f"order {order_id}: merchant share clawed past settled"
    wrong = run(
        text(
            "SELECT q.id FROM refund_requests q "
            "LEFT JOIN merchant_entries m ON m.refund_id = q.id "
            "LEFT JOIN (SELECT refund_id, sum(merchant_cents) AS share, sum(fee_cents) AS fee "
            "FROM refund_lines GROUP BY refund_id) l ON l.refund_id = q.id "
            "WHERE (q.status = 'refunded') <> (m.id IS NOT NULL) OR (m.id IS NOT NULL AND "
            "(m.amount_cents <> q.shipping_cents + coalesce(l.share, 0) "
            "OR m.fee_cents <> coalesce(l.fee, 0) OR m.order_id <> q.order_id))"
        )
    ).all()
    assert not wrong, f"partial refunds and their merchant entries disagree: {wrong}"
