"""The money invariants (RELIABILITY.md rule 10), checked with SQL after money tests."""

from sqlalchemy import text


def check(connection) -> None:
    """Raise AssertionError naming the first broken invariant. ``connection``: a SQLAlchemy
    Connection or Session."""
    run = connection.execute
    bad_stock = run(text("SELECT id, stock FROM products WHERE stock < 0")).all()
    assert not bad_stock, f"negative stock: {bad_stock}"
    doubles = run(
        text(
            "SELECT order_item_id, kind, count(*) FROM ledger_entries "
            "WHERE order_item_id IS NOT NULL GROUP BY order_item_id, kind HAVING count(*) > 1"
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
            "FROM ledger_entries WHERE order_item_id IS NOT NULL GROUP BY order_item_id"
        )
    ).all()
    for item_id, est, settled, voided, clawback in items:
        assert est == 1, f"item {item_id}: entries without an estimate"
        assert not (settled and voided), f"item {item_id}: both settled and voided"
        assert clawback <= settled, f"item {item_id}: clawback without settlement"
    # Entries of an order item match the item's rebate and the order's sharer.
    wrong = run(
        text(
            "SELECT e.id FROM ledger_entries e JOIN order_items i ON i.id = e.order_item_id "
            "JOIN orders o ON o.id = i.order_id "
            "WHERE e.amount_cents <> i.rebate_cents OR e.sharer_id <> o.sharer_id "
            "OR e.order_id <> o.id"
        )
    ).all()
    assert not wrong, f"entries not matching their item: {wrong}"
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
    dialect = getattr(connection, "dialect", None) or connection.get_bind().dialect
    if dialect.name == "sqlite":
        assert run(text("PRAGMA integrity_check")).scalar() == "ok"
        assert not run(text("PRAGMA foreign_key_check")).all()
    # The order and rebate rollups kept as orders and entries change equal a recount.
    from shop.services import sales

    kept, expected = sales.kept(connection), sales.expected(connection)
    for model in expected:
        assert kept[model] == expected[model], (
            f"{model.__tablename__} drifted from a recount:\nkept     {kept[model]}\n"
            f"expected {expected[model]}"
        )
