"""A sharer's funnel for a period: clicks -> unique visitors -> orders -> paid -> settled rebate.

``funnel`` reads only the rollups (``click_days``, ``sharer_visitors``, ``order_days``) and,
for the time from click to order, the seconds kept on each order (``ix_orders_sharer_placed``
alone): never the clicks table, nor the orders' items or ledger entries.
``funnel_from_raw`` computes the same numbers from the raw clicks, orders and ledger entries,
for the tests and the benchmark.

Definitions (the page says the same in plain words):

- Periods are whole China days (Beijing time, UTC+8), start and end included.
- Clicks are counted clicks only: robots, link previews, HEAD and prefetch requests
  ("bots"), and repeats of the same visitor on the same link within 10 minutes or floods from
  one address ("repeats") are shown apart as not counted. Scans are counted clicks that were
  scans of a poster's QR code (part of the clicks, not in addition to them).
- Unique visitors (rollup): visitors of the sharer whose first counted click was before the
  period's end and whose last counted click was at or after its start. For a period ending
  today that is exactly the visitors with a counted click in the period (computed as those of
  the ended days plus those new today, from each visitor's last click on an earlier day,
  ``prior_seen_at``, so the ended days' count can be kept). For a past custom
  period it also counts a visitor who clicked before and again after the period but not
  within it, so it can be higher than the raw count (``funnel_from_raw``: distinct visitor
  ids of counted clicks in the period); the per-sharer visitor table keeps only the first
  and last click, which is what makes it cheap.
- Orders: orders attributed to the sharer with an earning reason (``attribution.EARNING``),
  placed in the period. Paid: those of them that were paid (also if refunded later).
  Settled: those whose rebate settled and was not clawed back, with the settled amount.
- Rebate estimated: the ESTIMATED ledger entries of the period's orders (posted when paid).
- Breakdowns and the time from click to order follow the link that earned each order.
- Rates are integer basis points, rounded down; money is integer fen.

Modules:

- ``periods``: the period asked for (``Period``, ``last_days``, ``custom_period``,
  ``parse_period``, ``PRESETS``, ``MAX_DAYS``).
- ``results``: what a funnel answers (``Stats`` with its ``Step``, ``Row``, ``DayPoint`` and
  ``Lag``; ``rate_bps``, ``LAG_BUCKETS``, ``LAG_LABELS``).
- ``queries``: the reads from the database, rollups and raw tables, summed per link and per
  day (``_Sums``), and a period's sums from the rollups (``_PeriodSums``).
- ``computing``: sums into a ``Stats`` (breakdowns, daily points, time to order) and the
  public ``funnel``, ``funnel_cached`` and ``funnel_from_raw``.

This package re-exports the names its callers use (``stats.parse_period``, ``stats.funnel``, ...).
"""

from shop.insights.stats.computing import funnel, funnel_cached, funnel_from_raw
from shop.insights.stats.periods import (
    PRESETS,
    Period,
    custom_period,
    last_days,
    parse_period,
)
from shop.insights.stats.results import LAG_LABELS, rate_bps

__all__ = [
    "PRESETS",
    "Period",
    "last_days",
    "custom_period",
    "parse_period",
    "rate_bps",
    "LAG_LABELS",
    "funnel",
    "funnel_cached",
    "funnel_from_raw",
]
