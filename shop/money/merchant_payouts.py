"""Fee rates (set by admins, audited) and merchant withdrawals of their settled share: a
minimum, one open request per merchant, never more than the available balance, an admin
pays it (with the transfer's reference) or rejects it (with a reason), audited."""

import re
import unicodedata
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from shop.accounts import accounts
from shop.accounts.models import User
from shop.catalog.models import Category, Merchant
from shop.money import fee_rules, merchant_ledger, payouts
from shop.money.models import MerchantEntry, MerchantEntryKind, MerchantWithdrawal
from shop.money.models import WithdrawalStatus as W
from shop.platform import audit
from shop.platform import db as dbsetup
from shop.platform.errors import Conflict, InvalidTransition, PermissionDenied, ValidationError
from shop.platform.extensions import db

STATUS_LABELS = {
    W.REQUESTED: _l("awaiting approval"),
    W.PAID: _l("paid"),
    W.REJECTED: _l("rejected"),
}


def parse_bps(text: str) -> int | None:
    """A rate typed as a percentage ("2.5") in basis points; "" means not set. Full-width
    digits and signs from a Chinese keyboard ("２.５％") read as their ASCII forms; other
    scripts' digits are refused."""
    text = unicodedata.normalize("NFKC", text or "").strip().rstrip("%").strip()
    if not text:
        return None
    # Exactly, never through a float: "2.5" -> 250; at most two decimals (a basis point).
    match = re.fullmatch(r"([0-9]{1,3})(?:\.([0-9]{1,2}))?", text)
    if match is None:
        raise ValidationError(_l("Enter a percentage from 0 to 100."), "fee")
    bps = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if not 0 <= bps <= merchant_ledger.MAX_FEE_BPS:
        raise ValidationError(_l("Enter a percentage from 0 to 100."), "fee")
    return bps


def set_fee(
    target: Merchant | Category,
    bps: int | None,
    *,
    actor: User,
    reason: str,
    now: datetime,
    override_bps: int = 0,
) -> None:
    """An admin sets the platform fee of a merchant or a category (None: not set; a
    merchant's own rate wins over its products' categories'). Orders paid from now on use
    it; paid orders keep their split. Audited. A fee that would not cover the team override
    (``override_bps``, the rate in force) on some product is refused (shop.money.fee_rules)."""
    if not actor.is_admin:
        raise PermissionDenied(_l("Only an administrator can set platform fees."))
    if bps is not None and not 0 <= bps <= merchant_ledger.MAX_FEE_BPS:
        raise ValidationError(_l("Enter a percentage from 0 to 100."), "fee")
    reason = " ".join((reason or "").split())
    if not 1 <= len(reason) <= 200:
        raise ValidationError(_l("Give a reason for the change."), "reason")
    fee_rules.check_fee(target, bps, override_bps=override_bps)
    before = {"fee_bps": target.fee_bps}
    target.fee_bps = bps
    db.session.flush()
    kind = "merchant" if isinstance(target, Merchant) else "category"
    audit.record(
        actor=actor,
        action=f"{kind}.fee",
        object_type=kind,
        object_id=target.id,
        before=before,
        after={"fee_bps": bps},
        reason=reason,
        now=now,
    )


def account_snapshot(account) -> str:
    """Where a withdrawal goes, kept on it: "method|holder|bank|number"."""
    method = str(getattr(account.method, "value", account.method))
    parts = (method, account.account_name, account.bank_name or "", account.account_number)
    return "|".join(part.replace("|", " ") for part in parts)[:120]


def account_parts(withdrawal: MerchantWithdrawal) -> tuple[str, str, str, str]:
    method, name, bank, number = ([*withdrawal.account.split("|"), "", "", ""])[:4]
    return method, name, bank, number


def merchant_of(user: User) -> Merchant | None:
    return db.session.execute(
        select(Merchant).where(Merchant.user_id == user.id)
    ).scalar_one_or_none()


def open_withdrawal(merchant_id: int) -> MerchantWithdrawal | None:
    return db.session.execute(
        select(MerchantWithdrawal).where(
            MerchantWithdrawal.merchant_id == merchant_id,
            MerchantWithdrawal.status == W.REQUESTED,
        )
    ).scalar_one_or_none()


def _by_key(merchant_id: int, key: str) -> MerchantWithdrawal | None:
    return db.session.execute(
        select(MerchantWithdrawal).where(
            MerchantWithdrawal.merchant_id == merchant_id,
            MerchantWithdrawal.idempotency_key == key,
        )
    ).scalar_one_or_none()


def _post(withdrawal: MerchantWithdrawal, kind: MerchantEntryKind, now: datetime) -> None:
    db.session.execute(
        dbsetup.insert_for(db.session, MerchantEntry)
        .values(
            merchant_id=withdrawal.merchant_id,
            kind=kind,
            amount_cents=withdrawal.amount_cents,
            fee_cents=0,
            withdrawal_id=withdrawal.id,
            created_at=now,
        )
        .on_conflict_do_nothing()
    )


def request_withdrawal(
    user: User, amount_cents: int, *, idempotency_key: str, minimum_cents: int, now: datetime
) -> MerchantWithdrawal:
    """The merchant's user asks for ``amount_cents`` of the available share. The merchant
    user's row is locked first (as sharer payouts do), the partial unique index on open
    requests and the unique key stop the rest; a replayed key returns the first request."""
    merchant = merchant_of(user)
    if merchant is None:
        raise PermissionDenied(_l("Only a merchant can withdraw."))
    again = _by_key(merchant.id, idempotency_key)
    if again is not None:
        return again
    accounts.lock_account(user.id)
    again = _by_key(merchant.id, idempotency_key)
    if again is not None:
        return again
    if open_withdrawal(merchant.id) is not None:
        raise Conflict(_l("You already have a withdrawal waiting for approval."))
    account = payouts.account_of(user)
    if account is None:
        raise ValidationError(_l("Add a payout account first."), "amount")
    if amount_cents < minimum_cents:
        raise ValidationError(
            _l("The smallest withdrawal is ¥%(yuan)s.", yuan=f"{minimum_cents / 100:.2f}"),
            "amount",
        )
    available = merchant_ledger.balances(merchant.id).available_cents
    if amount_cents > available:
        raise ValidationError(
            _l("You can take out at most ¥%(yuan)s.", yuan=f"{max(available, 0) / 100:.2f}"),
            "amount",
        )
    withdrawal = MerchantWithdrawal(
        merchant_id=merchant.id,
        idempotency_key=idempotency_key,
        amount_cents=amount_cents,
        account=account_snapshot(account),
        status=W.REQUESTED,
        requested_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(withdrawal)
            db.session.flush()
    except IntegrityError:
        again = _by_key(merchant.id, idempotency_key)
        if again is not None:
            return again
        raise Conflict(_l("You already have a withdrawal waiting for approval.")) from None
    _post(withdrawal, MerchantEntryKind.WITHDRAWAL, now)
    return withdrawal


def _snapshot(withdrawal: MerchantWithdrawal) -> dict:
    return {
        "status": str(withdrawal.status),
        "amount_cents": withdrawal.amount_cents,
        "reference": withdrawal.reference,
        "reason": withdrawal.reason,
    }


def decide(
    withdrawal: MerchantWithdrawal,
    approve: bool,
    *,
    actor: User,
    reference: str = "",
    reason: str = "",
    now: datetime,
) -> MerchantWithdrawal:
    """An admin marks a request paid (with the reference) or rejects it (with a reason; the
    amount returns to the available balance). Guarded UPDATE; audited."""
    if not actor.is_admin:
        raise PermissionDenied(_l("Only an administrator can decide on withdrawals."))
    reference = (reference or "").strip()
    reason = " ".join((reason or "").split())
    if approve and not 1 <= len(reference) <= 64:
        raise ValidationError(_l("Enter the transfer's reference number."), "reference")
    if not approve and not 1 <= len(reason) <= 200:
        raise ValidationError(_l("Give a reason; the merchant will see it."), "reason")
    before = _snapshot(withdrawal)
    result = db.session.execute(
        update(MerchantWithdrawal)
        .where(MerchantWithdrawal.id == withdrawal.id, MerchantWithdrawal.status == W.REQUESTED)
        .values(
            status=W.PAID if approve else W.REJECTED,
            decided_at=now,
            decided_by_id=actor.id,
            reference=reference if approve else "",
            reason="" if approve else reason,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(withdrawal)
    if result.rowcount != 1:
        raise InvalidTransition(_l("This withdrawal has been decided already."))
    if not approve:
        _post(withdrawal, MerchantEntryKind.WITHDRAWAL_RETURNED, now)
    audit.record(
        actor=actor,
        action="withdrawal.pay" if approve else "withdrawal.reject",
        object_type="merchant_withdrawal",
        object_id=withdrawal.id,
        before=before,
        after=_snapshot(withdrawal),
        reason=reason or None,
        now=now,
    )
    return withdrawal


def history(merchant_id: int) -> list[MerchantWithdrawal]:
    return list(
        db.session.execute(
            select(MerchantWithdrawal)
            .where(MerchantWithdrawal.merchant_id == merchant_id)
            .order_by(MerchantWithdrawal.id.desc())
        ).scalars()
    )


def queue() -> list[MerchantWithdrawal]:
    return list(
        db.session.execute(
            select(MerchantWithdrawal)
            .where(MerchantWithdrawal.status == W.REQUESTED)
            .order_by(MerchantWithdrawal.requested_at)
        ).scalars()
    )
