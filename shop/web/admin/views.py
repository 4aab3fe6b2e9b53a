"""Admin pages. Every decision goes through a service that writes its audit row."""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_login import current_user

from shop.catalog import merchants
from shop.catalog.models import Merchant, MerchantStatus
from shop.insights import overview
from shop.insights import queues as admin_queries
from shop.money import fraud
from shop.platform import outbox_review
from shop.platform.errors import DomainError
from shop.platform.extensions import db, login_manager
from shop.web.admin import bp
from shop.web.admin.forms import DecisionForm
from shop.web.common import now

#: The overview's period, in China days ending today.
OVERVIEW_DAYS = 30


@bp.before_request
def _guard():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403)
    return None


def load_merchant(merchant_id: int) -> Merchant:
    merchant = db.session.get(Merchant, merchant_id)
    if merchant is None:
        abort(404)
    return merchant


@bp.route("/")
def home():
    current = now()
    window = overview.summary(now=current, days=OVERVIEW_DAYS)
    work = admin_queries.work_counts()
    days = window.days
    return render_template(
        "admin/home.html",
        merchant_counts=work["merchants"],
        money_counts=work["money"],
        review_counts=work["reviews"],
        days=days,
        period_days=OVERVIEW_DAYS,
        paid_orders=sum(d.orders for d in days),
        gmv_cents=sum(d.gmv_cents for d in days),
        clicks=sum(d.clicks for d in days),
        refunded=window.refunded,
        rebates=window.rebates,
        top_sharers=window.top_sharers,
        top_products=window.top_products,
        flag_counts=work["flags"],
        outbox_given_up=outbox_review.given_up_count(),
        open_flags=fraud.newest_open(5),
        explain=fraud.explain,
        kind_labels=fraud.KIND_LABELS,
        refresh_minutes=int(current_app.config["OVERVIEW_PAST_DAYS_SECONDS"]) // 60,
    )


@bp.route("/merchants")
def merchant_list():
    try:
        status = MerchantStatus(request.args.get("status", MerchantStatus.PENDING))
    except ValueError:
        status = MerchantStatus.PENDING
    rows = admin_queries.merchant_queue(status)
    current = now()
    waits = {m.id: format_timedelta(current - m.submitted_at, granularity="minute") for m in rows}
    return render_template(
        "admin/merchants.html",
        merchants=rows,
        status=status,
        counts=admin_queries.merchant_counts(),
        waits=waits,
        status_label=merchants.status_label,
    )


@bp.route("/merchants/<int:merchant_id>")
def merchant_detail(merchant_id: int):
    merchant = load_merchant(merchant_id)
    history, _pages = admin_queries.audit_page(1, object_type="merchant", object_id=merchant.id)
    actions = [
        action
        for (status, action) in merchants.TRANSITIONS
        if status == merchant.status and action in merchants.ADMIN_ACTIONS
    ]
    return render_template(
        "admin/merchant_detail.html",
        merchant=merchant,
        history=history,
        actions=actions,
        form=DecisionForm(),
        status_label=merchants.status_label,
        waiting=format_timedelta(now() - merchant.submitted_at, granularity="minute"),
    )


@bp.route("/merchants/<int:merchant_id>/decide", methods=["POST"])
def merchant_decide(merchant_id: int):
    merchant = load_merchant(merchant_id)
    form = DecisionForm()
    form.validate_on_submit()
    try:
        expected = MerchantStatus(form.expected_status.data) if form.expected_status.data else None
    except ValueError:
        expected = None
    try:
        merchants.decide(
            merchant,
            form.action.data or "",
            actor=current_user._get_current_object(),
            reason=form.reason.data,
            expected_status=expected,
            now=now(),
        )
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("admin.merchant_detail", merchant_id=merchant_id))
    db.session.commit()
    flash(
        _(
            "%(name)s is now %(status)s.",
            name=merchant.name,
            status=merchants.status_label(merchant.status),
        ),
        "success",
    )
    return redirect(url_for("admin.merchant_list", status=MerchantStatus.PENDING.value))


@bp.route("/audit")
def audit_log():
    page = request.args.get("page", 1, type=int)
    rows, pages = admin_queries.audit_page(page)
    return render_template(
        "admin/audit.html", entries=rows, page=min(max(page, 1), pages), pages=pages
    )
