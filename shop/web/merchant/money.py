"""The merchant's money: the statement of a month (orders, gross, refunds, the rebates it
funded, the platform fee, its net share) with a CSV of the month's entries, its balances and
withdrawals of the settled share."""

import csv
import io
from datetime import datetime, timedelta

from flask import Response, current_app, g, render_template, request, stream_with_context
from flask_babel import gettext as _
from flask_login import current_user

from shop.insights import exports
from shop.money import merchant_ledger, merchant_payouts, merchant_statement
from shop.web import withdrawing
from shop.web.common import money, now
from shop.web.merchant import bp

BOM = "\ufeff"
CHUNK = 16_384


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


def _render(form: withdrawing.RequestForm | None = None, status: int = 200):
    month, since, until = month_bounds(request.args.get("month"))
    before, after = _months_around(month)
    return render_template(
        "merchant/money.html",
        month=month,
        before=before,
        after=after,
        statement=merchant_statement.statement(g.merchant.id, since=since, until=until),
        balances=merchant_ledger.balances(g.merchant.id),
        open_withdrawal=merchant_payouts.open_withdrawal(g.merchant.id),
        history=merchant_payouts.history(g.merchant.id),
        form=withdrawing.fresh_form() if form is None else form,
        minimum_cents=current_app.config["MERCHANT_WITHDRAWAL_MIN_CENTS"],
        status_labels=merchant_payouts.STATUS_LABELS,
        **withdrawing.account_context(current_user),
    ), status


@bp.route("/money")
def money_page():
    return _render()


@bp.route("/money/withdraw", methods=["POST"])
def withdraw():
    return withdrawing.handle_request(
        ask=merchant_payouts.request_withdrawal,
        minimum_cents=current_app.config["MERCHANT_WITHDRAWAL_MIN_CENTS"],
        page_endpoint="merchant.money_page",
        render=_render,
        requested=lambda amount: _(
            "Withdrawal of ¥%(amount)s requested. An administrator will transfer it.",
            amount=amount,
        ),
    )


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
