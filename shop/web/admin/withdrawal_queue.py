"""The one admin queue of money the platform owes: open requests, oldest first, each paid with
the transfer's reference (after a confirmation) or rejected with a reason the payee sees.
Sharers' payouts (/admin/payouts) and merchants' withdrawals (/admin/withdrawals) are this
page and this decision with an ``Audience`` naming what differs; the service (a
shop.money.withdrawals flow) audits every decision in the same transaction."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from shop.money import payouts
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.web.common import confirm_first, money, now, show_domain_error


@dataclass(frozen=True)
class Audience:
    key: str  # "payout", "withdrawal": the cards' ids and the decide URL's id argument
    model: type  # the request's table
    form: type  # the decision form (its reason's label names who reads it)
    list_endpoint: str
    decide_endpoint: str
    queue: Callable[[], list]  # the open requests, oldest first
    decide: Callable[..., Any]  # the service's decision
    name: Callable[[Any], str]  # who is paid
    account: Callable[[Any], tuple[str, str, str, str]]  # method, holder, bank, number
    balances: Callable[[Any], Any]  # the payee's balances (available_cents, ...)
    taken_attr: str  # the balance of what was taken out before
    title: Any
    heading: Any
    empty: Any
    taken_before: Any  # the words after the second balance
    recent: Callable[[], list] | None = None  # recent decisions, when the page lists them
    held: Callable[[Any], bool] | None = None  # a payee on hold (not to be paid)
    hold_url: Callable[[Any], str] | None = None
    reason: str = "reason"  # the request's column with the rejection's reason

    def decide_url(self, row) -> str:
        return url_for(self.decide_endpoint, **{f"{self.key}_id": row.id})


def queue_page(audience: Audience, form=None, failed_id: int | None = None, status: int = 200):
    queue = audience.queue()
    return render_template(
        "admin/withdrawal_queue.html",
        audience=audience,
        queue=queue,
        balances={row.id: audience.balances(row) for row in queue},
        held={row.id for row in queue if audience.held is not None and audience.held(row)},
        recent=audience.recent() if audience.recent is not None else None,
        form=audience.form(),
        failed_form=form,
        failed_id=failed_id,
        method_labels=payouts.METHOD_LABELS,
        status_labels=payouts.STATUS_LABELS,
    ), status


def decide_request(audience: Audience, row_id: int):
    row = db.session.get(audience.model, row_id)
    if row is None:
        abort(404)
    form = audience.form()
    if not form.validate_on_submit():
        return queue_page(audience, form, row.id, 422)
    approve = request.form.get("decision") == "pay"
    name = audience.name(row)
    amount = money(row.amount_cents)
    if approve:
        page = confirm_first(
            _("Mark ¥%(amount)s to %(name)s as paid?", amount=amount, name=name),
            _("Mark as paid"),
            url_for(audience.list_endpoint),
            _("Only after the money has really been sent."),
        )
        if page is not None:
            return page
    try:
        audience.decide(
            row,
            approve,
            actor=current_user._get_current_object(),
            reference=form.reference.data or "",
            reason=form.reason.data or "",
            now=now(),
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        show_domain_error(form, error)
        return queue_page(audience, form, row.id, 422)
    if approve:
        flash(_("Paid ¥%(amount)s to %(name)s.", amount=amount, name=name), "success")
    else:
        flash(_("Rejected; ¥%(amount)s is back in %(name)s's balance.", amount=amount,
                name=name), "success")  # fmt: skip
    return redirect(url_for(audience.list_endpoint), code=303)
