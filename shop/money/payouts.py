"""Payouts of settled rebates: one open request per sharer, never more than the balance."""

import re
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from shop.accounts import accounts
from shop.accounts.models import User
from shop.money import fraud, ledger, notices
from shop.money.models import EntryKind, Payout, PayoutAccount, PayoutMethod, PayoutStatus
from shop.platform import audit, faults
from shop.platform.errors import Conflict, InvalidTransition, PermissionDenied, ValidationError
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


def account_of(user: User) -> PayoutAccount | None:
    return db.session.execute(
        select(PayoutAccount).where(PayoutAccount.user_id == user.id)
    ).scalar_one_or_none()


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


def open_request(user: User) -> Payout | None:
    return db.session.execute(
        select(Payout).where(Payout.user_id == user.id, Payout.status == PayoutStatus.REQUESTED)
    ).scalar_one_or_none()


def _by_key(user: User, idempotency_key: str) -> Payout | None:
    return db.session.execute(
        select(Payout).where(Payout.user_id == user.id, Payout.idempotency_key == idempotency_key)
    ).scalar_one_or_none()


def request_payout(
    user: User, amount_cents: int, *, idempotency_key: str, minimum_cents: int, now: datetime
) -> Payout:
    """Ask for ``amount_cents`` of the available balance.

    The sharer's row is locked first (FOR UPDATE on PostgreSQL; SQLite's write transaction
    holds the database), so the balance read and the payout entry cannot interleave with
    another request; the partial unique index on open requests and the unique idempotency
    key stop the rest. A replayed key returns the first request.
    """
    again = _by_key(user, idempotency_key)
    if again is not None:
        return again
    accounts.lock_account(user.id)
    # Look again under the lock: the same form sent twice at once waited here for the first
    # (on PostgreSQL), which is now committed; the repeat gets the first request, not an error.
    again = _by_key(user, idempotency_key)
    if again is not None:
        return again
    if open_request(user) is not None:
        raise Conflict(_l("You already have a payout waiting for approval."))
    if fraud.is_held(user.id):
        raise PermissionDenied(
            _l("Your rebates are on hold while we check your recent orders; contact support.")
        )
    account = account_of(user)
    if account is None:
        raise ValidationError(_l("Add a payout account first."), "amount")
    if amount_cents < minimum_cents:
        raise ValidationError(
            _l("The smallest payout is ¥%(yuan)s.", yuan=f"{minimum_cents / 100:.2f}"), "amount"
        )
    available = ledger.balances(user.id).available_cents
    if amount_cents > available:
        raise ValidationError(
            _l("You can take out at most ¥%(yuan)s.", yuan=f"{max(available, 0) / 100:.2f}"),
            "amount",
        )
    payout = Payout(
        user_id=user.id,
        idempotency_key=idempotency_key,
        amount_cents=amount_cents,
        status=PayoutStatus.REQUESTED,
        method=str(account.method),
        account_name=account.account_name,
        account_number=account.account_number,
        bank_name=account.bank_name,
        requested_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(payout)
            db.session.flush()
    except IntegrityError:
        again = _by_key(user, idempotency_key)
        if again is not None:
            return again
        raise Conflict(_l("You already have a payout waiting for approval.")) from None
    ledger.post(
        sharer_id=user.id,
        kind=EntryKind.PAYOUT,
        amount_cents=amount_cents,
        payout_id=payout.id,
        now=now,
    )
    faults.hit("payout_request.after_ledger")  # payout row and its entry written, not committed
    return payout


def snapshot(payout: Payout) -> dict:
    return {
        "status": str(payout.status),
        "amount_cents": payout.amount_cents,
        "reference": payout.reference,
        "reject_reason": payout.reject_reason,
    }


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
    if not actor.is_admin:
        raise PermissionDenied(_l("Only an administrator can decide on payouts."))
    reference = (reference or "").strip()
    reason = " ".join((reason or "").split())
    if approve and not (1 <= len(reference) <= 64):
        raise ValidationError(_l("Enter the transfer's reference number."), "reference")
    if not approve and not (1 <= len(reason) <= 200):
        raise ValidationError(_l("Give a reason; the sharer will see it."), "reason")
    if approve and fraud.is_held(payout.user_id):
        # A request made before the hold waits too; rejecting it (money back) stays possible.
        raise PermissionDenied(
            _l("This sharer's rebates are on hold; release the hold before paying.")
        )
    before = snapshot(payout)
    target = PayoutStatus.PAID if approve else PayoutStatus.REJECTED
    result = db.session.execute(
        update(Payout)
        .where(Payout.id == payout.id, Payout.status == PayoutStatus.REQUESTED)
        .values(
            status=target,
            decided_at=now,
            decided_by_id=actor.id,
            reference=reference if approve else "",
            reject_reason=reason if not approve else "",
        )
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(payout)
    if result.rowcount != 1:
        raise InvalidTransition(_l("This payout has been decided already."))
    if not approve:
        ledger.post(
            sharer_id=payout.user_id,
            kind=EntryKind.PAYOUT_RETURNED,
            amount_cents=payout.amount_cents,
            payout_id=payout.id,
            now=now,
        )
    audit.record(
        actor=actor,
        action="payout.pay" if approve else "payout.reject",
        object_type="payout",
        object_id=payout.id,
        before=before,
        after=snapshot(payout),
        reason=reason or None,
        now=now,
    )
    notices.payout_decided(payout, now=now)
    faults.hit("payout_decide.after_update")  # decided, returned entry and audit row written
    return payout


def history(user: User) -> list[Payout]:
    return list(
        db.session.execute(
            select(Payout).where(Payout.user_id == user.id).order_by(Payout.id.desc())
        ).scalars()
    )


def queue() -> list[Payout]:
    return list(
        db.session.execute(
            select(Payout)
            .where(Payout.status == PayoutStatus.REQUESTED)
            .order_by(Payout.requested_at)
        ).scalars()
    )
