"""Fee rates (set by admins, audited) and merchant withdrawals of their settled share: a
minimum, one open request per merchant, never more than the available balance, an admin
pays it (with the transfer's reference) or rejects it (with a reason), audited."""

import re
import unicodedata
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from shop.accounts.models import User
from shop.catalog.models import Category, Merchant
from shop.money import fee_rules, merchant_ledger, withdrawals
from shop.money.models import MerchantEntry, MerchantEntryKind, MerchantWithdrawal
from shop.money.models import WithdrawalStatus as W
from shop.platform import audit
from shop.platform import db as dbsetup
from shop.platform.errors import PermissionDenied, ValidationError
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


def _post(withdrawal: MerchantWithdrawal, returned: bool, now: datetime) -> None:
    kind = MerchantEntryKind.WITHDRAWAL_RETURNED if returned else MerchantEntryKind.WITHDRAWAL
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


#: The merchant's withdrawal: the shared withdrawal workflow (shop.money.withdrawals), funded
#: by the merchant ledger.
FLOW = withdrawals.Flow(
    model=MerchantWithdrawal,
    owner="merchant_id",
    reason="reason",
    status=W,
    audit_action="withdrawal",
    audit_object="merchant_withdrawal",
    texts=withdrawals.Texts(
        already_open=_l("You already have a withdrawal waiting for approval."),
        minimum=lambda yuan: _l("The smallest withdrawal is ¥%(yuan)s.", yuan=yuan),
        only_admin=_l("Only an administrator can decide on withdrawals."),
        reason_needed=_l("Give a reason; the merchant will see it."),
        decided_already=_l("This withdrawal has been decided already."),
    ),
    available_cents=lambda merchant_id: merchant_ledger.balances(merchant_id).available_cents,
    account_columns=lambda account: {"account": account_snapshot(account)},
    post=_post,
)


def open_withdrawal(merchant_id: int) -> MerchantWithdrawal | None:
    return FLOW.open_request(merchant_id)


def request_withdrawal(
    user: User, amount_cents: int, *, idempotency_key: str, minimum_cents: int, now: datetime
) -> MerchantWithdrawal:
    """The merchant's user asks for ``amount_cents`` of the available share. The merchant
    user's row is locked first (as sharer payouts do), the partial unique index on open
    requests and the unique key stop the rest; a replayed key returns the first request."""
    merchant = merchant_of(user)
    if merchant is None:
        raise PermissionDenied(_l("Only a merchant can withdraw."))
    return FLOW.request(
        user,
        merchant.id,
        amount_cents,
        idempotency_key=idempotency_key,
        minimum_cents=minimum_cents,
        now=now,
    )


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
    return FLOW.decide(
        withdrawal, approve, actor=actor, reference=reference, reason=reason, now=now
    )


def history(merchant_id: int) -> list[MerchantWithdrawal]:
    return FLOW.history(merchant_id)


def queue() -> list[MerchantWithdrawal]:
    return FLOW.queue()
