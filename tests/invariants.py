"""The money invariants (RELIABILITY.md rule 10), checked with SQL after money tests."""

from sqlalchemy import text

from tests import refund_invariants

#: SQL: item ``i`` had part of it refunded by a partial refund (its later entries are less
#: than the whole; tests/refund_invariants.py checks them).
PARTLY = (
    "EXISTS (SELECT 1 FROM refund_lines rl JOIN refund_requests rq ON rq.id = rl.refund_id "
    "WHERE rl.order_item_id = i.id AND rq.status = 'refunded')"
)


def check(connection) -> None:
    """Raise AssertionError naming the first broken invariant. ``connection``: a SQLAlchemy
    Connection or Session."""
    run = connection.execute
    bad_stock = run(text("SELECT id, stock FROM products WHERE stock < 0")).all()
    assert not bad_stock, f"negative stock: {bad_stock}"
    # What the buyer pays is the goods less the coupon's discount plus the shipping fee; the
    # goods are the items, and the discount is the items' shares of it, none above its line.
    bad_totals = run(
        text(
            "SELECT o.id FROM orders o WHERE o.total_cents <> o.goods_cents - o.discount_cents "
            "+ o.shipping_cents "
            "OR o.goods_cents <> (SELECT coalesce(sum(i.unit_price_cents * i.quantity), 0) "
            "FROM order_items i WHERE i.order_id = o.id) "
            "OR o.discount_cents <> (SELECT coalesce(sum(i.discount_cents), 0) "
            "FROM order_items i WHERE i.order_id = o.id) "
            "OR o.discount_cents > 0 AND o.coupon_id IS NULL "
            "OR EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id "
            "AND (i.discount_cents < 0 OR i.discount_cents > i.unit_price_cents * i.quantity))"
        )
    ).all()
    assert not bad_totals, f"orders whose total is not goods - discount + shipping: {bad_totals}"
    # A coupon never gives out more than it has; a claim is used by at most one order, and
    # a claimed coupon's claims never exceed its total or a buyer's limit.
    over = run(
        text(
            "SELECT c.id FROM coupons c WHERE c.remaining < 0 OR c.remaining + "
            "(SELECT count(*) FROM coupon_claims k WHERE k.coupon_id = c.id) <> c.total_count "
            "OR EXISTS (SELECT 1 FROM coupon_claims k WHERE k.coupon_id = c.id "
            "GROUP BY k.buyer_id HAVING count(*) > c.per_buyer)"
        )
    ).all()
    assert not over, f"coupons given out past their counts: {over}"
    twice = run(
        text(
            "SELECT coupon_id FROM orders o WHERE o.coupon_id IS NOT NULL AND o.status <> "
            "'cancelled' AND NOT EXISTS (SELECT 1 FROM coupon_claims k WHERE k.order_id = o.id)"
        )
    ).all()
    assert not twice, f"orders with a coupon but no claim used: {twice}"
    doubles = run(
        text(
            "SELECT order_item_id, kind, tier, count(*) FROM ledger_entries "
            "WHERE order_item_id IS NOT NULL GROUP BY order_item_id, kind, tier, "
            "coalesce(refund_id, 0) HAVING count(*) > 1"
        )
    ).all()
    assert not doubles, f"double postings: {doubles}"
    # Each item's entries follow the lifecycle: settled/voided/clawback only after estimated,
    # never both settled and voided, clawback only after settled.
    items = run(
        text(
            "SELECT order_item_id, "
            "sum(CASE WHEN kind='estimated' THEN 1 ELSE 0 END), "
            "sum(CASE WHEN kind='settled' THEN 1 ELSE 0 END), "
            "sum(CASE WHEN kind='voided' THEN 1 ELSE 0 END), "
            "sum(CASE WHEN kind='clawback' THEN 1 ELSE 0 END) "
            "FROM ledger_entries WHERE order_item_id IS NOT NULL AND refund_id IS NULL "
            "GROUP BY order_item_id, tier"
        )
    ).all()
    for item_id, est, settled, voided, clawback in items:
        assert est == 1, f"item {item_id}: entries without an estimate"
        assert not (settled and voided), f"item {item_id}: both settled and voided"
        assert clawback <= settled, f"item {item_id}: clawback without settlement"
    # Entries of an order item match the item's rebate and the order's sharer (tier 1), or
    # the order's leader and its override rate of that rebate (tier 2). Nothing else exists.
    wrong = run(
        text(
            "SELECT e.id FROM ledger_entries e JOIN order_items i ON i.id = e.order_item_id "
            "JOIN orders o ON o.id = i.order_id "
            "WHERE e.order_id <> o.id OR NOT ("
            "(e.tier = 1 AND (e.amount_cents = i.rebate_cents OR e.refund_id IS NOT NULL "
            f"OR {PARTLY}) AND e.sharer_id = o.sharer_id) "
            "OR (e.tier = 2 AND o.leader_id IS NOT NULL AND e.sharer_id = o.leader_id "
            "AND (e.amount_cents = i.rebate_cents * o.override_bps / 10000 "
            f"OR e.refund_id IS NOT NULL OR {PARTLY})))"
        )
    ).all()
    assert not wrong, f"entries not matching their item: {wrong}"
    # An override moves with its rebate: each tier-2 entry has the tier-1 entry of the same
    # item and kind, and each tier-1 entry of an order with an override has its tier 2
    # (unless the override rounds down to 0 fen). No tier above 2, no team leader who is
    # the order's own sharer, and no override for a leader who bought the order.
    alone = run(
        text(
            "SELECT t2.id FROM ledger_entries t2 LEFT JOIN ledger_entries t1 "
            "ON t1.order_item_id = t2.order_item_id AND t1.kind = t2.kind AND t1.tier = 1 "
            "AND t1.refund_id IS NULL "
            "WHERE t2.tier = 2 AND t2.refund_id IS NULL AND t1.id IS NULL"
        )
    ).all()
    assert not alone, f"overrides without their rebate: {alone}"
    missing = run(
        text(
            "SELECT t1.id FROM ledger_entries t1 JOIN order_items i ON i.id = t1.order_item_id "
            "JOIN orders o ON o.id = i.order_id "
            "LEFT JOIN ledger_entries t2 ON t2.order_item_id = t1.order_item_id "
            "AND t2.kind = t1.kind AND t2.tier = 2 AND t2.refund_id IS NULL "
            "WHERE t1.tier = 1 AND t1.refund_id IS NULL AND o.leader_id IS NOT NULL "
            "AND (t1.kind = 'estimated' OR NOT EXISTS (SELECT 1 FROM ledger_entries p "
            "WHERE p.order_item_id = t1.order_item_id AND p.refund_id IS NOT NULL)) "
            "AND i.rebate_cents * o.override_bps / 10000 > 0 AND t2.id IS NULL"
        )
    ).all()
    assert not missing, f"rebates whose override was not posted with them: {missing}"
    assert not run(text("SELECT id FROM ledger_entries WHERE tier NOT IN (1, 2)")).all()
    odd_leaders = run(
        text(
            "SELECT id FROM orders WHERE leader_id IS NOT NULL "
            "AND (leader_id = sharer_id OR leader_id = buyer_id OR override_bps <= 0)"
        )
    ).all()
    assert not odd_leaders, f"orders with an impossible team leader: {odd_leaders}"
    # Estimates exist only for orders that were paid and earn.
    unearned = run(
        text(
            "SELECT e.id FROM ledger_entries e JOIN orders o ON o.id = e.order_id "
            "WHERE e.kind = 'estimated' AND (o.paid_at IS NULL "
            "OR o.attribution_reason NOT IN ('attributed', 'self_purchase'))"
        )
    ).all()
    assert not unearned, f"estimates for unpaid or unearned orders: {unearned}"
    # Payout entries match payouts; available balances never below zero.
    payouts = run(
        text(
            "SELECT p.id FROM payouts p LEFT JOIN ledger_entries e "
            "ON e.payout_id = p.id AND e.kind = 'payout' "
            "WHERE e.id IS NULL OR e.amount_cents <> p.amount_cents"
        )
    ).all()
    assert not payouts, f"payouts without their entry: {payouts}"
    returned = run(
        text(
            "SELECT p.id FROM payouts p LEFT JOIN ledger_entries e "
            "ON e.payout_id = p.id AND e.kind = 'payout_returned' "
            "WHERE (p.status = 'rejected') <> (e.id IS NOT NULL)"
        )
    ).all()
    assert not returned, (
        f"rejected payouts not returned (or returned without rejection): {returned}"
    )
    open_twice = run(
        text(
            "SELECT user_id FROM payouts WHERE status = 'requested' "
            "GROUP BY user_id HAVING count(*) > 1"
        )
    ).all()
    assert not open_twice, f"several open payouts: {open_twice}"
    # An upheld appeal has its one adjustment (its amount, to its sharer); nothing else has one.
    adjusted = run(
        text(
            "SELECT a.id FROM appeals a LEFT JOIN ledger_entries e "
            "ON e.appeal_id = a.id AND e.kind = 'adjustment' "
            "WHERE (a.status = 'upheld') <> (e.id IS NOT NULL) "
            "OR (e.id IS NOT NULL AND (e.amount_cents <> a.adjustment_cents "
            "OR e.sharer_id <> a.sharer_id))"
        )
    ).all()
    assert not adjusted, f"appeals and their adjustments disagree: {adjusted}"
    stray = run(
        text("SELECT id FROM ledger_entries WHERE (kind = 'adjustment') <> (appeal_id IS NOT NULL)")
    ).all()
    assert not stray, f"adjustments without an appeal, or appeals' entries of another kind: {stray}"
    paid = run(
        text(
            "SELECT o.id FROM orders o WHERE o.status IN ('paid','shipped','completed') "
            "AND NOT EXISTS (SELECT 1 FROM order_events v WHERE v.order_id = o.id "
            "AND v.to_status = 'paid')"
        )
    ).all()
    assert not paid, f"orders paid without a paid event: {paid}"
    twice_paid = run(
        text(
            "SELECT order_id FROM order_events WHERE to_status = 'paid' "
            "GROUP BY order_id HAVING count(*) > 1"
        )
    ).all()
    assert not twice_paid, f"orders paid twice: {twice_paid}"
    _merchant_money(run)
    refund_invariants.check(run)
    dialect = getattr(connection, "dialect", None) or connection.get_bind().dialect
    if dialect.name == "sqlite":
        assert run(text("PRAGMA integrity_check")).scalar() == "ok"
        assert not run(text("PRAGMA foreign_key_check")).all()
    # The order and rebate rollups kept as orders and entries change equal a recount.
    from shop.money import sales

    kept, expected = sales.kept(connection), sales.expected(connection)
    for model in expected:
        assert kept[model] == expected[model], (
            f"{model.__tablename__} drifted from a recount:\nkept     {kept[model]}\n"
            f"expected {expected[model]}"
        )


#: Net effect of an order's entries: what was paid out to someone (estimated, less voided and
#: clawed back; settling only moves money between balances).
NET = (
    "sum(CASE WHEN kind = 'estimated' THEN {col} WHEN kind IN ('voided', 'clawback') "
    "THEN -{col} ELSE 0 END)"
)


def _merchant_money(run) -> None:
    """The split of each paid order and the merchant ledger (shop.money.merchant_ledger)."""
    unsplit = run(
        text(
            "SELECT DISTINCT v.order_id FROM order_events v "
            "LEFT JOIN order_splits s ON s.order_id = v.order_id "
            "WHERE v.to_status = 'paid' AND s.order_id IS NULL"
        )
    ).all()
    assert not unsplit, f"paid orders without a split: {unsplit}"
    wrong_split = run(
        text(
            "SELECT s.order_id FROM order_splits s JOIN orders o ON o.id = s.order_id "
            "WHERE s.paid_cents <> o.total_cents OR s.merchant_id <> o.merchant_id "
            "OR s.shipping_cents <> o.shipping_cents "
            "OR s.merchant_cents + s.rebate_cents + s.override_cents + s.platform_cents "
            "<> s.paid_cents OR s.platform_cents <> s.fee_cents - s.override_cents "
            "OR s.merchant_cents < s.shipping_cents OR s.fee_cents > o.goods_cents"
        )
    ).all()
    assert not wrong_split, f"splits that do not add up: {wrong_split}"
    # The rebates and overrides in the split are the ones the rebate ledger estimated.
    rebates_differ = run(
        text(
            "SELECT s.order_id FROM order_splits s WHERE "
            "s.rebate_cents <> (SELECT coalesce(sum(e.amount_cents), 0) FROM ledger_entries e "
            "WHERE e.order_id = s.order_id AND e.kind = 'estimated' AND e.tier = 1) "
            "OR s.override_cents <> (SELECT coalesce(sum(e.amount_cents), 0) "
            "FROM ledger_entries e "
            "WHERE e.order_id = s.order_id AND e.kind = 'estimated' AND e.tier = 2)"
        )
    ).all()
    assert not rebates_differ, f"splits whose rebates the ledger does not have: {rebates_differ}"
    lifecycle = run(
        text(
            "SELECT e.order_id, "
            "sum(CASE WHEN e.kind = 'estimated' THEN 1 ELSE 0 END), "
            "sum(CASE WHEN e.kind = 'settled' THEN 1 ELSE 0 END), "
            "sum(CASE WHEN e.kind = 'voided' THEN 1 ELSE 0 END), "
            "sum(CASE WHEN e.kind = 'clawback' THEN 1 ELSE 0 END), "
            "sum(CASE WHEN e.merchant_id <> s.merchant_id OR (e.kind = 'estimated' OR NOT EXISTS "
            "(SELECT 1 FROM refund_requests q WHERE q.order_id = e.order_id "
            "AND q.status = 'refunded')) "
            "AND (e.amount_cents <> s.merchant_cents OR e.fee_cents <> s.fee_cents) "
            "THEN 1 ELSE 0 END) "
            "FROM merchant_entries e LEFT JOIN order_splits s ON s.order_id = e.order_id "
            "WHERE e.order_id IS NOT NULL AND e.refund_id IS NULL GROUP BY e.order_id"
        )
    ).all()
    for order_id, est, settled, voided, clawback, off in lifecycle:
        assert est == 1, f"order {order_id}: merchant entries without an estimate"
        assert not (settled and voided), f"order {order_id}: share both settled and voided"
        assert clawback <= settled, f"order {order_id}: share clawed back, never settled"
        assert not off, f"order {order_id}: merchant entries differ from its split"
    # The money identity, per order, from the two ledgers:
    #   paid - refunded = merchant share + rebates + overrides + platform part,
    # the platform's part being the fee less the overrides it pays on top.
    merchant_net = NET.format(col="m.amount_cents")
    fee_net = NET.format(col="m.fee_cents")
    broken = run(
        text(
            "SELECT o.id, o.total_cents, o.status, mm.share, mm.fee, "
            "coalesce(r.rebates, 0), coalesce(r.overrides, 0) FROM orders o "
            "JOIN order_splits s ON s.order_id = o.id "
            f"JOIN (SELECT m.order_id, {merchant_net} AS share, {fee_net} AS fee "
            "FROM merchant_entries m WHERE m.order_id IS NOT NULL GROUP BY m.order_id) mm "
            "ON mm.order_id = o.id "
            "LEFT JOIN (SELECT order_id, "
            + NET.format(col="CASE WHEN tier = 1 THEN amount_cents ELSE 0 END")
            + " AS rebates, "
            + NET.format(col="CASE WHEN tier = 2 THEN amount_cents ELSE 0 END")
            + " AS overrides FROM ledger_entries WHERE order_item_id IS NOT NULL "
            "GROUP BY order_id) r ON r.order_id = o.id "
            "WHERE o.total_cents - CASE WHEN o.status = 'refunded' THEN o.total_cents ELSE "
            "(SELECT coalesce(sum(q.amount_cents), 0) FROM refund_requests q "
            "WHERE q.order_id = o.id AND q.status = 'refunded') END "
            "<> mm.share + coalesce(r.rebates, 0) + coalesce(r.overrides, 0) "
            "+ (mm.fee - coalesce(r.overrides, 0))"
        )
    ).all()
    assert not broken, (
        "paid - refunded <> merchant + rebates + overrides + platform for "
        f"(order, paid, status, share, fee, rebates, overrides): {broken}"
    )
    no_estimate = run(
        text(
            "SELECT s.order_id FROM order_splits s LEFT JOIN merchant_entries m "
            "ON m.order_id = s.order_id AND m.kind = 'estimated' WHERE m.id IS NULL"
        )
    ).all()
    assert not no_estimate, f"splits without the merchant's estimate: {no_estimate}"
    withdrawals = run(
        text(
            "SELECT w.id FROM merchant_withdrawals w LEFT JOIN merchant_entries e "
            "ON e.withdrawal_id = w.id AND e.kind = 'withdrawal' "
            "LEFT JOIN merchant_entries r ON r.withdrawal_id = w.id "
            "AND r.kind = 'withdrawal_returned' "
            "WHERE e.id IS NULL OR e.amount_cents <> w.amount_cents "
            "OR e.merchant_id <> w.merchant_id OR (w.status = 'rejected') <> (r.id IS NOT NULL)"
        )
    ).all()
    assert not withdrawals, f"withdrawals and their entries disagree: {withdrawals}"
    # Profit sharing (partner mode) never sends more than the platform's part of the split,
    # and its returns never take back more than it sent, each for a refund of its own order.
    over_shared = run(
        text(
            "SELECT p.order_id FROM profit_shares p JOIN order_splits s ON s.order_id = p.order_id "
            "WHERE p.amount_cents > s.paid_cents - s.merchant_cents "
            "OR (SELECT coalesce(sum(r.amount_cents), 0) FROM profit_returns r "
            "WHERE r.order_id = p.order_id) > p.amount_cents "
            "OR EXISTS (SELECT 1 FROM profit_returns r JOIN gateway_refunds g "
            "ON g.id = r.refund_id WHERE r.order_id = p.order_id AND g.order_id <> p.order_id)"
        )
    ).all()
    assert not over_shared, f"sharings or returns above what they could be: {over_shared}"
    orphan_returns = run(
        text(
            "SELECT r.id FROM profit_returns r LEFT JOIN profit_shares p "
            "ON p.order_id = r.order_id WHERE p.order_id IS NULL OR p.state <> 'done'"
        )
    ).all()
    assert not orphan_returns, f"returns of no finished sharing: {orphan_returns}"
