"""The arithmetic of partial refunds, in integer fen, with one rounding rule everywhere:

**cumulative floor.** A part that is refunded over several steps is worked out on the running
total, ``part_so_far = whole * refunded_so_far // paid``, and each step takes the difference
from the previous running total. Rounding down never gives back more than the whole; the
differences are never negative (the running totals only grow); and when everything has been
refunded the running total is exactly the whole, so the parts of all refunds of a line add up
to the line's part, never a fen more or less.

For one item line of value ``V`` (what was paid for it, after its share of the coupon) whose
split is rebate ``R`` (funded by the merchant), fee ``F`` and merchant share ``M = V - R - F``,
and override ``O`` (paid by the platform on top), after ``A`` fen of it have been refunded:

- rebate reversed ``r(A) = R * A // V``
- the rest, ``B(A) = A - r(A)``, splits between fee and merchant: ``f(A) = F * B // (F + M)``,
  ``m(A) = B - f(A)``
- override reversed ``o(A) = O * A // V``

Each is non-decreasing in ``A`` (so every step's part is >= 0), ``r + f + m = A`` at every
step, and at ``A = V`` they are exactly ``R``, ``F``, ``M``, ``O``. Shipping is all the
merchant's: refunding it reverses only the merchant share.

A request's amount below the chosen lines' full value is spread over the lines (and the
shipping) in proportion to each one's full value, by the same rule, so no line takes more than
its value and the pieces add up to the amount.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Parts:
    rebate_cents: int
    override_cents: int
    fee_cents: int
    merchant_cents: int


def parts_so_far(refunded: int, *, value: int, rebate: int, override: int, fee: int) -> Parts:
    """The running total of each part after ``refunded`` fen of a line of ``value`` fen."""
    if value <= 0 or refunded <= 0:
        return Parts(0, 0, 0, 0)
    refunded = min(refunded, value)
    r = rebate * refunded // value
    rest = refunded - r
    merchant = value - rebate - fee
    f = fee * rest // (fee + merchant) if fee + merchant > 0 else 0
    return Parts(r, override * refunded // value, f, rest - f)


def step(before: int, amount: int, **line) -> Parts:
    """The parts of one refund of ``amount`` fen of a line of which ``before`` fen were
    refunded already: the difference of the running totals."""
    a = parts_so_far(before, **line)
    b = parts_so_far(before + amount, **line)
    return Parts(
        b.rebate_cents - a.rebate_cents,
        b.override_cents - a.override_cents,
        b.fee_cents - a.fee_cents,
        b.merchant_cents - a.merchant_cents,
    )


def units_value(value: int, quantity: int, before_units: int, units: int) -> int:
    """What ``units`` more units of a line of ``quantity`` units and ``value`` fen are worth,
    after ``before_units`` were taken: cumulative floor, so all units add up to ``value``."""
    return value * (before_units + units) // quantity - value * before_units // quantity


def spread(amount: int, fulls: list[int]) -> list[int]:
    """``amount`` (at most ``sum(fulls)``) spread over pieces in proportion to ``fulls``:
    each piece at most its full value, the pieces adding up to ``amount``."""
    total = sum(fulls)
    if total <= 0:
        return [0] * len(fulls)
    pieces, running = [], 0
    for full in fulls:
        before = amount * running // total
        running += full
        pieces.append(amount * running // total - before)
    return pieces


def fee_by_item(fee_total: int, weights: list[int], capacities: list[int]) -> list[int]:
    """The order's stored fee over its items: by each item's own fee at today's rates
    (``weights``) when they add up to the stored fee and none is above what its item leaves
    after its rebate (``capacities``), the usual case; otherwise in proportion to those
    capacities (the rates changed since). Never above a capacity, always adding up to the
    fee (the fee never exceeds the capacities' sum: the split guarantees it)."""
    if sum(weights) == fee_total and all(w <= c for w, c in zip(weights, capacities, strict=True)):
        return list(weights)
    return spread(min(fee_total, sum(capacities)), capacities)
