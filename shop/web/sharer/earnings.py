"""The sharer's money: balances, every order that touched their links and why it earned or
not, where payouts go (changed only after typing the password again) and payout requests."""

from datetime import timedelta

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from shop.accounts import accounts
from shop.catalog import catalog
from shop.insights import exports
from shop.money import appeals, earnings, payouts, statement
from shop.money.models import PayoutMethod
from shop.platform.errors import DomainError, ValidationError
from shop.platform.extensions import db
from shop.web import withdrawing
from shop.web.common import (
    now,
    reauth_limit,
    retry_after_seconds,
    show_domain_error,
    too_many_page,
    wait_text,
)
from shop.web.sharer import bp
from shop.web.sharer.forms import PayoutAccountForm

PER_PAGE = 20


def _render(request_form: withdrawing.RequestForm | None = None, status: int = 200):
    user = current_user._get_current_object()
    listed = earnings.orders_touching(
        user.id,
        page=catalog.parse_page(request.args.get("page")),
        per_page=PER_PAGE,
        return_window=timedelta(days=current_app.config["RETURN_WINDOW_DAYS"]),
    )
    overrides = earnings.team_overrides(
        user.id, page=catalog.parse_page(request.args.get("opage")), per_page=PER_PAGE
    )
    return render_template(
        "sharer/earnings.html",
        statement=statement.statement(user.id),
        appealable=appeals.APPEALABLE,
        rows=listed.rows,
        page=listed.page,
        pages=listed.pages,
        total=listed.total,
        open_payout=payouts.open_request(user),
        history=payouts.history(user),
        request_form=withdrawing.fresh_form() if request_form is None else request_form,
        minimum_cents=current_app.config["PAYOUT_MIN_CENTS"],
        payout_status_labels=payouts.STATUS_LABELS,
        export_labels=exports.EXPORT_LABELS,
        overrides=overrides,
        **withdrawing.account_context(user),
    ), status


@bp.route("/earnings")
def earnings_page():
    return _render()


@bp.route("/earnings/payout", methods=["POST"])
def payout_request():
    return withdrawing.handle_request(
        ask=payouts.request_payout,
        minimum_cents=current_app.config["PAYOUT_MIN_CENTS"],
        page_endpoint="sharer.earnings_page",
        render=_render,
        requested=lambda amount: _(
            "Payout of ¥%(amount)s requested. An administrator will transfer it.",
            amount=amount,
        ),
    )


@bp.route("/earnings/account", methods=["GET", "POST"])
@reauth_limit  # wrong passwords, per user id (shared with the password change)
def payout_account():
    user = current_user._get_current_object()
    account = payouts.account_of(user)
    form = PayoutAccountForm(obj=account if request.method == "GET" else None)
    form.method.choices = [(m.value, str(payouts.METHOD_LABELS[m])) for m in PayoutMethod]
    if request.method == "GET" and account is not None:
        form.method.data = account.method.value
    if form.validate_on_submit():
        try:
            try:
                accounts.confirm_password(user, form.password.data or "")
            except ValidationError:
                g.reauth_failed = True
                raise
            payouts.save_account(
                user,
                form.method.data or "",
                form.account_name.data,
                form.account_number.data,
                form.bank_name.data,
                now=now(),
            )
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
        else:
            flash(_("Payout account saved."), "success")
            return redirect(url_for("sharer.earnings_page"), code=303)
    form.password.data = ""
    return render_template("sharer/payout_account.html", form=form, account=account)


@bp.errorhandler(429)
def _too_many(error):
    """Too many wrong passwords on the payout account form: the same form again, with what was
    typed (never the password) and how long to wait; any other limit here gets the 429 page."""
    if request.endpoint != "sharer.payout_account":
        return too_many_page()
    seconds = retry_after_seconds() or 60
    form = PayoutAccountForm()
    form.method.choices = [(m.value, str(payouts.METHOD_LABELS[m])) for m in PayoutMethod]
    form.password.data = ""
    message = _(
        "Too many wrong passwords. To protect your account, %(wait)s", wait=wait_text(seconds)
    )
    body = render_template(
        "sharer/payout_account.html",
        form=form,
        account=payouts.account_of(current_user._get_current_object()),
        form_error=message,
    )
    return body, 429, {"Retry-After": str(seconds)}
