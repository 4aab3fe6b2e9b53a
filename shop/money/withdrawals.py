"""One withdrawal state machine for everyone the platform pays: requested -> paid | rejected.

A sharer's payout of settled rebates (shop.money.payouts, funded by the rebate ledger) and a
merchant's withdrawal of its settled share (shop.money.merchant_payouts, funded by the
merchant ledger) are the same workflow, written once here:

- a minimum, one open request per payee (a partial unique index), never more than the
  available balance, read under the requesting user's row lock (FOR UPDATE on PostgreSQL;
  SQLite's write transaction holds the database), so the balance read and the ledger entry
  cannot interleave with another request;
- the form's idempotency key is unique: a replayed key returns the first request;
- an administrator pays it (with the transfer's reference) or rejects it (with a reason; a
  returning ledger entry gives the amount back) by a guarded UPDATE, with an audit row in the
  same transaction.

A ``Flow`` names what differs: who is paid (the owner column), which ledger funds it, the
words, the audit names and the extra checks (a sharer on a fraud hold).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from shop.accounts import accounts
from shop.accounts.models import User
from shop.money.models import PayoutAccount
from shop.platform import audit, faults
from shop.platform.errors import Conflict, InvalidTransition, PermissionDenied, ValidationError
from shop.platform.extensions import db


def account_of(user: User) -> PayoutAccount | None:
    """Where a user's money goes (a sharer's payouts and a merchant user's withdrawals)."""
    return db.session.execute(
        select(PayoutAccount).where(PayoutAccount.user_id == user.id)
    ).scalar_one_or_none()


@dataclass(frozen=True)
class Texts:
    """What a payee reads (each audience says "payout" or "withdrawal", "sharer" or
    "merchant")."""

    already_open: Any  # Conflict: one is waiting already
    minimum: Callable[[str], Any]  # the smallest request, given in yuan
    only_admin: Any
    reason_needed: Any  # a rejection needs a reason the payee sees
    decided_already: Any


@dataclass(frozen=True)
class Flow:
    model: type  # the request's table: Payout, MerchantWithdrawal
    owner: str  # its column naming the payee: "user_id", "merchant_id"
    reason: str  # its column keeping the rejection's reason
    status: Any  # its status enum (REQUESTED, PAID, REJECTED)
    audit_action: str  # "<audit_action>.pay" / ".reject"
    audit_object: str
    texts: Texts
    available_cents: Callable[[int], int]  # the payee's available balance, by owner id
    account_columns: Callable[[PayoutAccount], dict]  # the account, copied onto the request
    post: Callable[[Any, bool, datetime], None]  # the ledger entry (returned=True: money back)
    check_request: Callable[[int], None] | None = None  # raises to refuse a payee
    check_pay: Callable[[Any], None] | None = None  # raises to refuse paying a request
    decided: Callable[[Any, datetime], None] | None = None  # after the decision (a notice)
    request_fault: str | None = None  # crash points for the fault tests
    decide_fault: str | None = None

    def _column(self):
        return getattr(self.model, self.owner)

    def open_request(self, owner_id: int):
        return db.session.execute(
            select(self.model).where(
                self._column() == owner_id, self.model.status == self.status.REQUESTED
            )
        ).scalar_one_or_none()

    def _by_key(self, owner_id: int, idempotency_key: str):
        return db.session.execute(
            select(self.model).where(
                self._column() == owner_id, self.model.idempotency_key == idempotency_key
            )
        ).scalar_one_or_none()

    def request(
        self,
        user: User,
        owner_id: int,
        amount_cents: int,
        *,
        idempotency_key: str,
        minimum_cents: int,
        now: datetime,
    ):
        """``user`` (the payee's person) asks for ``amount_cents`` of ``owner_id``'s available
        balance. A replayed key returns the first request."""
        again = self._by_key(owner_id, idempotency_key)
        if again is not None:
            return again
        accounts.lock_account(user.id)
        # Look again under the lock: the same form sent twice at once waited here for the
        # first (on PostgreSQL), which is now committed; the repeat gets the first request.
        again = self._by_key(owner_id, idempotency_key)
        if again is not None:
            return again
        if self.open_request(owner_id) is not None:
            raise Conflict(self.texts.already_open)
        if self.check_request is not None:
            self.check_request(owner_id)
        account = account_of(user)
        if account is None:
            raise ValidationError(_l("Add a payout account first."), "amount")
        if amount_cents < minimum_cents:
            raise ValidationError(self.texts.minimum(f"{minimum_cents / 100:.2f}"), "amount")
        available = self.available_cents(owner_id)
        if amount_cents > available:
            raise ValidationError(
                _l("You can take out at most ¥%(yuan)s.", yuan=f"{max(available, 0) / 100:.2f}"),
                "amount",
            )
        row = self.model(
            **{self.owner: owner_id},
            idempotency_key=idempotency_key,
            amount_cents=amount_cents,
            status=self.status.REQUESTED,
            requested_at=now,
            **self.account_columns(account),
        )
        try:
            with db.session.begin_nested():
                db.session.add(row)
                db.session.flush()
        except IntegrityError:
            again = self._by_key(owner_id, idempotency_key)
            if again is not None:
                return again
            raise Conflict(self.texts.already_open) from None
        self.post(row, False, now)
        if self.request_fault:
            faults.hit(self.request_fault)  # the request and its entry written, not committed
        return row

    def snapshot(self, row) -> dict:
        return {
            "status": str(row.status),
            "amount_cents": row.amount_cents,
            "reference": row.reference,
            self.reason: getattr(row, self.reason),
        }

    def decide(
        self,
        row,
        approve: bool,
        *,
        actor: User,
        reference: str = "",
        reason: str = "",
        now: datetime,
    ):
        """An admin marks a request paid (with the transfer's reference) or rejects it (with a
        reason; the amount returns to the balance). Guarded UPDATE; audited in the same
        transaction."""
        if not actor.is_admin:
            raise PermissionDenied(self.texts.only_admin)
        reference = (reference or "").strip()
        reason = " ".join((reason or "").split())
        if approve and not 1 <= len(reference) <= 64:
            raise ValidationError(_l("Enter the transfer's reference number."), "reference")
        if not approve and not 1 <= len(reason) <= 200:
            raise ValidationError(self.texts.reason_needed, "reason")
        if approve and self.check_pay is not None:
            self.check_pay(row)
        before = self.snapshot(row)
        result = db.session.execute(
            update(self.model)
            .where(self.model.id == row.id, self.model.status == self.status.REQUESTED)
            .values(
                status=self.status.PAID if approve else self.status.REJECTED,
                decided_at=now,
                decided_by_id=actor.id,
                reference=reference if approve else "",
                **{self.reason: "" if approve else reason},
            )
            .execution_options(synchronize_session=False)
        )
        db.session.refresh(row)
        if result.rowcount != 1:
            raise InvalidTransition(self.texts.decided_already)
        if not approve:
            self.post(row, True, now)
        audit.record(
            actor=actor,
            action=f"{self.audit_action}.{'pay' if approve else 'reject'}",
            object_type=self.audit_object,
            object_id=row.id,
            before=before,
            after=self.snapshot(row),
            reason=reason or None,
            now=now,
        )
        if self.decided is not None:
            self.decided(row, now)
        if self.decide_fault:
            faults.hit(self.decide_fault)  # decided, returned entry and audit row written
        return row

    def history(self, owner_id: int) -> list:
        return list(
            db.session.execute(
                select(self.model).where(self._column() == owner_id).order_by(self.model.id.desc())
            ).scalars()
        )

    def queue(self) -> list:
        return list(
            db.session.execute(
                select(self.model)
                .where(self.model.status == self.status.REQUESTED)
                .order_by(self.model.requested_at)
            ).scalars()
        )
