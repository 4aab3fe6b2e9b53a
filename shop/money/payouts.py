"""Payouts of settled rebates: one open request per sharer, never more than the balance."""

import re
from datetime import datetime

from flask_babel import lazy_gettext as _l

from shop.accounts.models import User
from shop.money import fraud, ledger, notices, withdrawals
from shop.money.models import EntryKind, Payout, PayoutAccount, PayoutMethod, PayoutStatus
from shop.money.withdrawals import account_of
from shop.platform.errors import PermissionDenied, ValidationError
from shop.platform.extensions import db

METHOD_LABELS = {
    PayoutMethod.WECHAT: _l("WeChat Pay"),
    PayoutMethod.ALIPAY: _l("Alipay"),
    PayoutMethod.BANK: _l("Bank account"),
}
STATUS_LABELS = {
    PayoutStatus.REQUESTED: _l("awaiting approval"),
    PayoutStatus.PAID: _l("paid"),
    PayoutStatus.REJECTED: _l("rejected"),
}


def save_account(
    user: User, method: str, name: str, number: str, bank: str, *, now: datetime
) -> PayoutAccount:
    """Set where payouts go. The view re-checks the password before calling this."""
    try:
        method = PayoutMethod(method)
    except ValueError:
        raise ValidationError(_l("Choose how to be paid."), "method") from None
    name = " ".join((name or "").split())
    number = re.sub(r"\s", "", number or "")
    bank = " ".join((bank or "").split())
    if not name or len(name) > 40:
        raise ValidationError(_l("Enter the account holder's name."), "account_name")
    if method == PayoutMethod.BANK:
        if not re.fullmatch(r"\d{12,19}", number):
            raise ValidationError(_l("A bank card number has 12 to 19 digits."), "account_number")
        if not bank:
            raise ValidationError(_l("Name the bank."), "bank_name")
    elif not re.fullmatch(r"[A-Za-z0-9_@.+-]{5,40}", number):
        raise ValidationError(
            _l("Enter the account: a phone number, an email or an ID (5 to 40 characters)."),
            "account_number",
        )
    account = account_of(user)
    if account is None:
        account = PayoutAccount(user_id=user.id)
        db.session.add(account)
    account.method = method
    account.account_name = name
    account.account_number = number
    account.bank_name = bank if method == PayoutMethod.BANK else ""
    account.updated_at = now
    db.session.flush()
    return account


def masked(number: str) -> str:
    """Enough to recognise the account, not enough to use it: "•••• 7890", "x•••@qq.com"."""
    name, at, domain = number.partition("@")
    if at:
        return f"{name[:1]}•••@{domain}"
    return number if len(number) <= 4 else "•••• " + number[-4:]


def _refuse_held(user_id: int) -> None:
    if fraud.is_held(user_id):
        raise PermissionDenied(
            _l("Your rebates are on hold while we check your recent orders; contact support.")
        )


def _refuse_paying_held(payout: Payout) -> None:
    if fraud.is_held(payout.user_id):
        # A request made before the hold waits too; rejecting it (money back) stays possible.
        raise PermissionDenied(
            _l("This sharer's rebates are on hold; release the hold before paying.")
        )


def _post(payout: Payout, returned: bool, now: datetime) -> None:
    ledger.post(
        sharer_id=payout.user_id,
        kind=EntryKind.PAYOUT_RETURNED if returned else EntryKind.PAYOUT,
        amount_cents=payout.amount_cents,
        payout_id=payout.id,
        now=now,
    )


def _account_columns(account: PayoutAccount) -> dict:
    return {
        "method": str(account.method),
        "account_name": account.account_name,
        "account_number": account.account_number,
        "bank_name": account.bank_name,
    }


#: The sharer's payout: the shared withdrawal workflow (shop.money.withdrawals), funded by the
#: rebate ledger, refused while the sharer is on a fraud hold, with a notice when decided.
FLOW = withdrawals.Flow(
    model=Payout,
    owner="user_id",
    reason="reject_reason",
    status=PayoutStatus,
    audit_action="payout",
    audit_object="payout",
    texts=withdrawals.Texts(
        already_open=_l("You already have a payout waiting for approval."),
        minimum=lambda yuan: _l("The smallest payout is ¥%(yuan)s.", yuan=yuan),
        only_admin=_l("Only an administrator can decide on payouts."),
        reason_needed=_l("Give a reason; the sharer will see it."),
        decided_already=_l("This payout has been decided already."),
    ),
    available_cents=lambda user_id: ledger.balances(user_id).available_cents,
    account_columns=_account_columns,
    post=_post,
    check_request=_refuse_held,
    check_pay=_refuse_paying_held,
    decided=lambda payout, now: notices.payout_decided(payout, now=now),
    request_fault="payout_request.after_ledger",
    decide_fault="payout_decide.after_update",
)


def open_request(user: User) -> Payout | None:
    return FLOW.open_request(user.id)


def request_payout(
    user: User, amount_cents: int, *, idempotency_key: str, minimum_cents: int, now: datetime
) -> Payout:
    """Ask for ``amount_cents`` of the available balance (the sharer's row locked first; the
    partial unique index on open requests and the unique idempotency key stop the rest). A
    replayed key returns the first request."""
    return FLOW.request(
        user,
        user.id,
        amount_cents,
        idempotency_key=idempotency_key,
        minimum_cents=minimum_cents,
        now=now,
    )


def snapshot(payout: Payout) -> dict:
    return FLOW.snapshot(payout)


def decide(
    payout: Payout,
    approve: bool,
    *,
    actor: User,
    reference: str = "",
    reason: str = "",
    now: datetime,
) -> Payout:
    """An admin marks a request paid (with the transfer's reference) or rejects it (with a
    reason; the amount returns to the balance). Audited in the same transaction."""
    return FLOW.decide(payout, approve, actor=actor, reference=reference, reason=reason, now=now)


def history(user: User) -> list[Payout]:
    return FLOW.history(user.id)


def queue() -> list[Payout]:
    return FLOW.queue()
