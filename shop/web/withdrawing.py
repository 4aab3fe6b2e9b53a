"""Asking for money, as the sharer's earnings page (/me/earnings/payout) and the merchant's money
page (/merchant/money/withdraw) both do: the request form (the amount and the form's
idempotency key, so the same form sent twice is one request), what the page shows around it,
and handling its post. Each page passes its service (a shop.money.withdrawals flow) and its
words; the page's section uses the macros of templates/_macros/money.html."""

from collections.abc import Callable
from typing import Any

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import HiddenField, StringField

from shop.accounts.models import User
from shop.catalog.products import parse_yuan
from shop.money import payouts
from shop.orders import checkout
from shop.platform.errors import DomainError, ValidationError
from shop.platform.extensions import db
from shop.web.common import money, now, show_domain_error
from shop.web.forms import FlaskForm


class RequestForm(FlaskForm):
    idempotency_key = HiddenField()
    amount = StringField(_l("Amount (yuan)"), render_kw={"inputmode": "decimal"})


def fresh_form() -> RequestForm:
    form = RequestForm()
    form.idempotency_key.data = checkout.new_checkout_key()
    return form


def account_context(user: User) -> dict:
    """Where the money goes, as the page's request section shows it."""
    return {
        "account": payouts.account_of(user),
        "method_labels": payouts.METHOD_LABELS,
        "masked": payouts.masked,
    }


def handle_request(
    *,
    ask: Callable[..., Any],
    minimum_cents: int,
    page_endpoint: str,
    render: Callable[[RequestForm, int], Any],
    requested: Callable[[str], str],
):
    """The request form's post: ``ask`` (the service) for the amount typed, then back to the
    page with ``requested(amount)`` flashed; a refusal shows the page again (``render``) with
    the message at its field, what was typed and a fresh key."""
    form = RequestForm()
    if not form.validate_on_submit():
        flash(_("This form has expired. Please try again."), "error")
        return redirect(url_for(page_endpoint))
    key = (form.idempotency_key.data or "")[:40]
    try:
        if len(key) < 16:
            raise ValidationError(_("This form has expired. Please try again."))
        if not (form.amount.data or "").strip():
            raise ValidationError(_("Enter an amount."), "amount")
        amount = parse_yuan(form.amount.data, "amount")
        row = ask(
            current_user._get_current_object(),
            amount,
            idempotency_key=key,
            minimum_cents=minimum_cents,
            now=now(),
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        show_domain_error(form, error)
        form.idempotency_key.data = checkout.new_checkout_key()
        return render(form, 422)
    flash(requested(money(row.amount_cents)), "success")
    return redirect(url_for(page_endpoint), code=303)
