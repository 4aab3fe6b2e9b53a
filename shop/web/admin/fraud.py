"""Fraud flags: the list, one flag with its evidence, and the decisions (dismiss, hold the
sharer's rebates, release them). The services audit every decision."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from shop.accounts.models import User
from shop.insights import queues as admin_queries
from shop.money import fraud
from shop.money.models import FlagStatus, FraudFlag
from shop.orders.models import Order
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.platform.inputs import parse_id
from shop.sharing.models import ShareLink
from shop.web.admin import bp
from shop.web.admin.forms import FlagDecisionForm
from shop.web.common import now


def load_flag(flag_id: int) -> FraudFlag:
    flag = db.session.get(FraudFlag, flag_id)
    if flag is None:
        abort(404)
    return flag


@bp.route("/flags")
def flag_list():
    try:
        status = FlagStatus(request.args.get("status", FlagStatus.OPEN))
    except ValueError:
        status = FlagStatus.OPEN
    sharer_id = parse_id(request.args.get("sharer"))
    sharer = db.session.get(User, sharer_id) if sharer_id else None
    page = request.args.get("page", 1, type=int)
    flags, pages = fraud.flag_page(page, status=status, sharer_id=sharer.id if sharer else None)
    return render_template(
        "admin/flags.html",
        flags=flags,
        status=status,
        sharer=sharer,
        held=fraud.active_hold(sharer.id) if sharer else None,
        counts=fraud.status_counts(),
        page=min(max(page, 1), pages),
        pages=pages,
        explain=fraud.explain,
        kind_labels=fraud.KIND_LABELS,
        status_labels=fraud.STATUS_LABELS,
    )


def _evidence(flag: FraudFlag) -> dict:
    """The rows a flag's evidence names, loaded for the detail page."""
    e = flag.evidence or {}
    order_ids = list(e.get("order_ids", []))
    if e.get("order_id"):
        order_ids.append(e["order_id"])
    orders = list(
        db.session.execute(
            select(Order)
            .options(selectinload(Order.items), selectinload(Order.merchant))
            .where(Order.id.in_(order_ids))
            .order_by(Order.id)
        ).scalars()
    )
    sharer_ids = set(e.get("sharer_ids", []))
    sharer_ids.update(o.sharer_id for o in orders if o.sharer_id)
    if flag.sharer_id:
        sharer_ids.add(flag.sharer_id)
    sharers = list(
        db.session.execute(select(User).where(User.id.in_(sharer_ids)).order_by(User.id)).scalars()
    )
    link_ids = set(e.get("link_ids", []))
    if flag.link_id:
        link_ids.add(flag.link_id)
    links = list(
        db.session.execute(
            select(ShareLink)
            .options(selectinload(ShareLink.product), selectinload(ShareLink.sharer))
            .where(ShareLink.id.in_(link_ids))
            .order_by(ShareLink.id)
        ).scalars()
    )
    return {"orders": orders, "sharers": sharers, "links": links}


@bp.route("/flags/<int:flag_id>")
def flag_detail(flag_id: int):
    flag = load_flag(flag_id)
    history, _pages = admin_queries.audit_page(1, object_type="fraud_flag", object_id=flag.id)
    return render_template(
        "admin/flag_detail.html",
        flag=flag,
        explanation=fraud.explain(flag),
        evidence=_evidence(flag),
        hold=fraud.active_hold(flag.sharer_id) if flag.sharer_id else None,
        history=history,
        form=FlagDecisionForm(),
        kind_labels=fraud.KIND_LABELS,
        status_labels=fraud.STATUS_LABELS,
    )


def _decide(flag_id: int, action: str):
    flag = load_flag(flag_id)
    form = FlagDecisionForm()
    form.validate_on_submit()
    actor = current_user._get_current_object()
    reason = form.reason.data or ""
    try:
        if action == "dismiss":
            fraud.dismiss_flag(flag, actor=actor, reason=reason, now=now())
            message = _("Flag dismissed.")
        elif action == "hold":
            fraud.hold_rebates(flag, actor=actor, reason=reason, now=now())
            message = _("The sharer's rebates are on hold: payouts are refused until released.")
        else:
            sharer = db.session.get(User, flag.sharer_id) if flag.sharer_id else None
            if sharer is None:
                abort(404)
            fraud.release_rebates(sharer, actor=actor, reason=reason, now=now())
            message = _("The sharer's rebates are released.")
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("admin.flag_detail", flag_id=flag_id), code=303)
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("admin.flag_detail", flag_id=flag_id), code=303)


@bp.route("/flags/<int:flag_id>/dismiss", methods=["POST"])
def flag_dismiss(flag_id: int):
    return _decide(flag_id, "dismiss")


@bp.route("/flags/<int:flag_id>/hold", methods=["POST"])
def flag_hold(flag_id: int):
    return _decide(flag_id, "hold")


@bp.route("/flags/<int:flag_id>/release", methods=["POST"])
def flag_release(flag_id: int):
    return _decide(flag_id, "release")
