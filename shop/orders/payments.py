"""Payment providers and the one way a payment reaches an order.

A provider turns what a gateway sent (a callback body and its signature, or the signed query
of the browser's return path) into a :class:`PaymentNotice`; :func:`apply_notice` stores the
notice under the unique key (provider, event id) and moves the order placed -> paid through
the guarded transition, once. A replay, a second delivery, or the return path racing the
callback all end in the same place: one paid transition, one estimated rebate.

Adding a real gateway (Alipay, WeChat Pay, Stripe): write one class with ``name``,
``start(order, return_url)`` (where to send the buyer) and ``parse(body, signature)`` (verify
the gateway's signature with its SDK or public key, map its event to a PaymentNotice), and add
it to :func:`providers`, with a callback route like ``/payments/sandbox/notify``. Nothing else
changes.
"""

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Protocol
from urllib.parse import urlencode

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm.attributes import set_committed_value

from shop.accounts.models import User
from shop.catalog.models import Merchant
from shop.orders import states
from shop.orders.models import GatewayPayment, Order, OrderStatus, PaymentEvent
from shop.platform import db as dbsetup
from shop.platform import faults
from shop.platform.errors import Conflict, DomainError, InvalidTransition, ValidationError
from shop.platform.extensions import db
from shop.platform.inputs import secrets_equal


class BadSignature(DomainError):
    """A notice whose signature does not verify: ignored, nothing stored."""


@dataclass(frozen=True)
class PaymentNotice:
    event_id: str
    order_number: str
    amount_cents: int
    kind: str = "paid"
    #: WeChat Pay partner mode: the sub-merchant the gateway says the money went into.
    account: str = ""


class PaymentProvider(Protocol):
    name: str
    label: object

    def start(self, order: Order, return_url: str) -> str | None:
        """Where to send the buyer to pay, or None when the buyer pays outside the shop."""

    def parse(self, body: bytes, signature: str) -> PaymentNotice:
        """The verified notice in ``body``; raises BadSignature."""


class ManualProvider:
    """The buyer transfers the money to the merchant, who confirms it in the console."""

    name = "manual"
    label = _l("Bank or WeChat transfer to the merchant")

    def start(self, order: Order, return_url: str) -> str | None:
        return None

    def parse(self, body: bytes, signature: str) -> PaymentNotice:
        raise BadSignature(_l("Manual payments have no callback."))

    @staticmethod
    def confirmation(order: Order) -> PaymentNotice:
        # One possible confirmation per order: a second click is a replay of the same event.
        return PaymentNotice(f"manual-{order.id}", order.number, order.total_cents)


class SandboxProvider:
    """A simulated gateway. Its page (/pay/sandbox/<token>) plays the gateway's part: on "pay"
    it signs a notice with the gateway key and delivers it to the callback, then sends the
    browser back with the same signed notice, exactly the two roads a real gateway uses."""

    name = "sandbox"
    label = _l("Sandbox payment (test gateway)")

    def __init__(self, key: bytes):
        self.key = key

    def start(self, order: Order, return_url: str) -> str | None:
        token = self.order_token(order.number)
        return f"/pay/sandbox/{order.number}?" + urlencode({"t": token, "return": return_url})

    def order_token(self, number: str) -> str:
        """What opens the gateway page of order ``number``."""
        return self.sign(number.encode())

    def valid_token(self, number: str, token: str) -> bool:
        return secrets_equal(self.order_token(number), token)

    def sign(self, body: bytes) -> str:
        return hmac.new(self.key, body, hashlib.sha256).hexdigest()

    def notice_body(self, order: Order) -> bytes:
        """What the gateway sends when the buyer pays: a fresh event id each payment."""
        return json.dumps(
            {
                "event_id": "sbx_" + secrets.token_hex(12),
                "order": order.number,
                "amount_cents": order.total_cents,
                "kind": "paid",
            },
            separators=(",", ":"),
            sort_keys=True,
        ).encode()

    def parse(self, body: bytes, signature: str) -> PaymentNotice:
        if not secrets_equal(self.sign(body), signature):
            raise BadSignature(_l("The payment notice is not signed by the gateway."))
        try:
            data = json.loads(body)
            return PaymentNotice(
                event_id=str(data["event_id"])[:64],
                order_number=str(data["order"]),
                amount_cents=int(data["amount_cents"]),
                kind=str(data["kind"]),
            )
        except (ValueError, KeyError, TypeError):
            raise BadSignature(_l("The payment notice is malformed.")) from None


def providers(secret_key: str, enabled: list[str]) -> dict[str, PaymentProvider]:
    key = hmac.new(secret_key.encode(), b"fenxiang sandbox gateway", hashlib.sha256).digest()
    every = {"manual": ManualProvider(), "sandbox": SandboxProvider(key)}
    return {name: every[name] for name in enabled if name in every}


@dataclass(frozen=True)
class Outcome:
    order: Order | None
    #: paid, replay, already_paid, not_payable, amount_mismatch, wrong_account, unknown_order
    outcome: str
    applied: bool


def apply_notice(
    provider: str, notice: PaymentNotice, *, now: datetime, actor: User | None = None
) -> Outcome:
    """Apply a verified notice at most once. The caller commits.

    The event row keeps what applying the notice did: a notice that found the order payable
    but lost the guarded transition to another notice (several taps on the pay button at once)
    is recorded as ``already_paid`` (or ``not_payable``), never as ``paid``; exactly one
    event of an order says ``paid``.

    A notice naming the sub-merchant it was paid into (WeChat Pay partner mode) that is not
    the one the order's payment was created under (``GatewayPayment.sub_mchid``) is
    ``wrong_account``: recorded, never paid (the money is in another merchant's account, and
    refunds and profit sharing would name the order's). Without a recorded number nothing is
    compared.
    """
    found = db.session.execute(_order_by_number(), {"number": notice.order_number}).first()
    if found is None:
        return Outcome(None, "unknown_order", False)
    order, merchant = found
    if "merchant" in sa_inspect(order).unloaded:  # as its lazy load would have set it
        set_committed_value(order, "merchant", merchant)
    if order.payment_provider != provider:
        return Outcome(order, "wrong_provider", False)
    if notice.kind != "paid":
        outcome = "ignored_kind"
    elif notice.account and _paid_into_another(order.id, notice.account):
        outcome = "wrong_account"
    elif notice.amount_cents != order.total_cents:
        outcome = "amount_mismatch"
    elif order.status != OrderStatus.PLACED:
        outcome = "already_paid" if order.paid_at else "not_payable"
    else:
        outcome = "paid"
    inserted = db.session.execute(
        _event_insert(db.session.get_bind().dialect.name),
        {
            "provider": provider,
            "event_id": notice.event_id,
            "order_id": order.id,
            "kind": notice.kind,
            "amount_cents": notice.amount_cents,
            "outcome": outcome,
            "received_at": now,
        },
    )
    event_row = inserted.first()
    if event_row is None:
        return Outcome(order, "replay", False)
    if outcome != "paid":
        return Outcome(order, outcome, False)
    try:
        states.transition(
            order,
            OrderStatus.PAID,
            source="payment",
            actor=actor,
            now=now,
            note=f"{provider} {notice.event_id}",
            values={"paid_at": now},
        )
    except (Conflict, InvalidTransition):
        # Another notice moved it first (or it was cancelled meanwhile): keep the record, with
        # what really happened (our own row, written in this transaction, not yet visible).
        db.session.refresh(order)
        lost = "already_paid" if order.paid_at else "not_payable"
        db.session.execute(
            update(PaymentEvent).where(PaymentEvent.id == event_row[0]).values(outcome=lost)
        )
        return Outcome(order, lost, False)
    faults.hit("pay.after_ledger")  # notice stored, order paid, estimates and rollups written
    return Outcome(order, "paid", True)


@cache
def _order_by_number():
    """The order a notice names, with its merchant (a payment's split and notices read it)."""
    return (
        select(Order, Merchant)
        .join(Merchant, Merchant.id == Order.merchant_id)
        .where(Order.number == bindparam("number"))
    )


@cache
def _event_insert(dialect: str):
    """The notice's row, once per (provider, event id): built once per dialect."""
    table = PaymentEvent.__table__
    return (
        dbsetup.insert_of(dialect, table)
        .on_conflict_do_nothing()
        .returning(table.c.id)  # rowcount is -1 here under psycopg
    )


def _paid_into_another(order_id: int, account: str) -> bool:
    recorded = db.session.execute(
        select(GatewayPayment.sub_mchid).where(GatewayPayment.order_id == order_id)
    ).scalar_one_or_none()
    return bool(recorded) and recorded != account


def confirm_manual(order: Order, *, actor: User, now: datetime) -> Outcome:
    """The merchant confirms a manual transfer arrived (the view checks it is their order)."""
    if order.payment_provider != "manual":
        raise ValidationError(_l("This order is paid through a gateway, not by transfer."))
    result = apply_notice("manual", ManualProvider.confirmation(order), now=now, actor=actor)
    if result.outcome not in ("paid", "replay", "already_paid"):
        raise InvalidTransition(_l("This order can no longer be paid."))
    return result
