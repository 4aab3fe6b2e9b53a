"""Fraud flags: a scan that raises them from the data, and an admin's decisions on them.

- ``scan``: the ``Thresholds`` (from the app config) and ``scan``, which runs the detectors
  (click floods, self-purchase and refund shares, fast orders, address clusters) and
  inserts the flags they call for, at most once per kind, subject and period.
- ``explain``: reading flags: ``explain`` (why one was raised, in words), the kind and
  status labels, the admin's page of flags, the newest open ones and the counts per status.
- ``decisions``: an admin dismissing a flag or holding the sharer's rebates, releasing a
  hold, and the holds themselves (``active_hold``, ``is_held``) that stop payouts.

The names callers use are re-exported here, so ``fraud.scan(...)``, ``fraud.is_held(...)``
and ``fraud.explain(...)`` read as before.
"""

from shop.money.fraud.decisions import (
    active_hold,
    dismiss_flag,
    hold_rebates,
    is_held,
    release_rebates,
)
from shop.money.fraud.explain import (
    KIND_LABELS,
    STATUS_LABELS,
    explain,
    flag_page,
    newest_open,
    status_counts,
    status_counts_query,
)
from shop.money.fraud.scan import Thresholds, normalise_address, scan

__all__ = [
    "KIND_LABELS",
    "STATUS_LABELS",
    "Thresholds",
    "active_hold",
    "dismiss_flag",
    "explain",
    "flag_page",
    "hold_rebates",
    "is_held",
    "newest_open",
    "normalise_address",
    "release_rebates",
    "scan",
    "status_counts",
    "status_counts_query",
]
