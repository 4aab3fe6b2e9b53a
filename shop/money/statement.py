"""A sharer's balances as two sums that add up, in fen, read from the ledger alone.

    estimated - voided - settled                                   = awaiting settlement
    settled + adjustments - clawed back - paid out - held          = available to take out

"Estimated", "voided", "settled", "clawed back" and "adjustments" are the sums of the
sharer's entries of those kinds (every tier: a team leader's overrides count with their own
rebates). "Settled" is gross: everything that ever settled, before clawbacks, the same
definition as the admin overview's. "Paid out" is the payouts marked paid. "Held" is what
cannot be taken out now although it is on the balance: payouts requested and not yet decided,
and, while an admin's fraud hold stops the sharer's payouts, the rest of a positive balance.
"""

from dataclasses import dataclass

from shop.money import fraud, ledger
from shop.money.models import EntryKind


@dataclass(frozen=True)
class Statement:
    estimated_cents: int  #: every estimate ever posted (paid orders)
    voided_cents: int  #: estimates voided by a refund before settlement
    settled_cents: int  #: gross: every settlement, before clawbacks
    awaiting_cents: int  #: estimated - voided - settled
    adjustment_cents: int  #: upheld appeals (shop.money.appeals)
    clawed_back_cents: int  #: settled rebates taken back by a refund after settlement
    paid_out_cents: int  #: payouts marked paid
    payout_pending_cents: int  #: payouts requested, not yet decided
    fraud_held_cents: int  #: the positive balance stopped by an active fraud hold
    available_cents: int  #: what a payout request may ask for now (can be below zero)
    is_held: bool

    @property
    def held_cents(self) -> int:
        return self.payout_pending_cents + self.fraud_held_cents

    def adds_up(self) -> bool:
        return (
            self.estimated_cents - self.voided_cents - self.settled_cents == self.awaiting_cents
            and self.settled_cents
            + self.adjustment_cents
            - self.clawed_back_cents
            - self.paid_out_cents
            - self.held_cents
            == self.available_cents
        )


def statement(sharer_id: int) -> Statement:
    """The sharer's two sums. The balance the ledger keeps (``ledger.balances``) is the
    same number as ``available_cents + fraud_held_cents``: payout entries are posted when
    requested and returned when rejected, so they equal paid plus pending."""
    balances = ledger.balances(sharer_id)
    kinds = balances.by_kind
    held = fraud.is_held(sharer_id)
    fraud_held = max(balances.available_cents, 0) if held else 0
    return Statement(
        estimated_cents=kinds[EntryKind.ESTIMATED],
        voided_cents=kinds[EntryKind.VOIDED],
        settled_cents=kinds[EntryKind.SETTLED],
        awaiting_cents=balances.estimated_cents,
        adjustment_cents=kinds[EntryKind.ADJUSTMENT],
        clawed_back_cents=kinds[EntryKind.CLAWBACK],
        paid_out_cents=balances.paid_out_cents,
        payout_pending_cents=balances.pending_payout_cents,
        fraud_held_cents=fraud_held,
        available_cents=balances.available_cents - fraud_held,
        is_held=held,
    )
