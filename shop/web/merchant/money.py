"""The merchant's money: the statement of a month (orders, gross, refunds, the rebates it
funded, the platform fee, its net share) with a CSV of the month's entries, its balances and
withdrawals of the settled share."""

import csv
import io
from datetime import datetime, timedelta

from flask import (
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import HiddenField, StringField

from shop.catalog.products import parse_yuan
from shop.insights import exports
from shop.money import merchant_ledger, merchant_payouts, merchant_statement, payouts
from shop.orders import checkout
from shop.platform.errors import DomainError, ValidationError
from shop.platform.extensions import db
from shop.web.common import money, now, show_domain_error
from shop.web.forms import FlaskForm
from shop.web.merchant import bp

BOM = "\ufeff"
CHUNK = 16_384


class WithdrawalForm(FlaskForm):
    idempotency_key = HiddenField()
    amount = StringField(_l("Amount (yuan)"), render_kw={"inputmode": "decimal"})


def month_bounds(text: str | None) -> tuple[str, datetime, datetime]:
    """The month named "YYYY-MM" (China time; this month when missing or unreadable) and its
    bounds in UTC."""
    today = now() + exports.CHINA
    try:
        start = datetime.strptime(text or "", "%Y-%m")
    except ValueError:
        start = datetime(today.year, today.month, 1)
    following = datetime(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start.strftime("%Y-%m"), start - exports.CHINA, following - exports.CHINA


def _months_around(month: str) -> tuple[str, str]:
    start = datetime.strptime(month, "%Y-%m")
    before = (start - timedelta(days=1)).strftime("%Y-%m")
    after = (start + timedelta(days=32)).strftime("%Y-%m")
    return before, after


def _render(form: WithdrawalForm | None = None, status: int = 200):
    month, since, until = month_bounds(request.args.get("month"))
    if form is None:
        form = WithdrawalForm()
        form.idempotency_key.data = checkout.new_checkout_key()
    before, after = _months_around(month)
    return render_template(
        "merchant/money.html",
        month=month,
        before=before,
        after=after,
        statement=merchant_statement.statement(g.merchant.id, since=since, until=until),
        balances=merchant_ledger.balances(g.merchant.id),
        account=payouts.account_of(current_user),
        open_withdrawal=merchant_payouts.open_withdrawal(g.merchant.id),
        history=merchant_payouts.history(g.merchant.id),
        form=form,
        minimum_cents=current_app.config["MERCHANT_WITHDRAWAL_MIN_CENTS"],
        method_labels=payouts.METHOD_LABELS,
        status_labels=merchant_payouts.STATUS_LABELS,
        masked=payouts.masked,
    ), status


@bp.route("/money")
def money_page():
    return _render()


@bp.route("/money/withdraw", methods=["POST"])
def withdraw():
    form = WithdrawalForm()
    if not form.validate_on_submit():
        flash(_("This form has expired. Please try again."), "error")
        return redirect(url_for("merchant.money_page"))
    key = (form.idempotency_key.data or "")[:40]
    try:
        if len(key) < 16:
            raise ValidationError(_("This form has expired. Please try again."))
        if not (form.amount.data or "").strip():
            raise ValidationError(_("Enter an amount."), "amount")
        amount = parse_yuan(form.amount.data, "amount")
        withdrawal = merchant_payouts.request_withdrawal(
            current_user._get_current_object(),
            amount,
            idempotency_key=key,
            minimum_cents=current_app.config["MERCHANT_WITHDRAWAL_MIN_CENTS"],
            now=now(),
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        show_domain_error(form, error)
        form.idempotency_key.data = checkout.new_checkout_key()
        return _render(form, 422)
    flash(
        _(
            "Withdrawal of ¥%(amount)s requested. An administrator will transfer it.",
            amount=money(withdrawal.amount_cents),
        ),
        "success",
    )
    return redirect(url_for("merchant.money_page"), code=303)


def _cell(value, kind: str) -> str:
    if kind == "money":
        return money(value)
    if kind == "time":
        return exports.china_time(value)
    return exports.neutralise(str(value))


@bp.route("/money/statement.csv")
def statement_csv():
    month, since, until = month_bounds(request.args.get("month"))
    rows = merchant_statement.lines(g.merchant.id, since=since, until=until)
    columns = merchant_statement.COLUMNS

    def lines():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([exports.neutralise(str(label)) for label, _kind in columns])
        for row in rows:
            writer.writerow(
                [_cell(v, kind) for v, (_label, kind) in zip(row, columns, strict=True)]
            )
            if buffer.tell() >= CHUNK:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    def with_bom():
        yield BOM
        yield from lines()

    response = Response(stream_with_context(with_bom()), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="fenxiang-statement-{month}.csv"'
    )
    return response
