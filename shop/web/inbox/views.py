"""The inbox (消息): every signed-in user's messages, newest first, with the unread badge in
the header of every page."""

from flask import Flask, abort, redirect, render_template, request, url_for
from flask_login import current_user

from shop.notify import inbox, kinds
from shop.platform import inputs
from shop.platform.extensions import db, login_manager
from shop.web.common import now, unread_badge
from shop.web.inbox import bp
from shop.web.inbox.forms import EmptyForm


@bp.before_request
def _guard():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


@bp.record_once
def _badge(state) -> None:
    app: Flask = state.app

    def unread_count() -> int:
        """For the header: one indexed count for a signed-in user, nothing for a visitor."""
        if not current_user.is_authenticated:
            return 0
        return unread_badge(current_user.id)

    app.jinja_env.globals["unread_count"] = unread_count


#: Where a message leads: (endpoint, the data key of its id argument, the argument's name).
TARGETS = {
    "order_attributed": ("sharer.earnings_page", None, None),
    "rebate_settled": ("sharer.earnings_page", None, None),
    "rebate_voided": ("sharer.earnings_page", None, None),
    "payout_decided": ("sharer.earnings_page", None, None),
    "order_paid": ("merchant.order_detail", "order_id", "order_id"),
    "refund_requested": ("merchant.order_detail", "order_id", "order_id"),
    "review_posted": ("merchant.review_list", None, None),
    "order_shipped": ("storefront.order_detail", "order_id", "order_id"),
    "refund_decided": ("storefront.order_detail", "order_id", "order_id"),
}


def link_for(message) -> str | None:
    target = TARGETS.get(message.kind)
    if target is None:
        return None
    endpoint, key, argument = target
    if key is None:
        return url_for(endpoint)
    value = (message.data or {}).get(key)
    return url_for(endpoint, **{argument: value}) if isinstance(value, int) else None


@bp.route("/")
def message_list():
    before = inputs.parse_id(request.args.get("before"))  # None unless 1 .. 2**31-1
    rows = inbox.messages(current_user.id, before_id=before)
    return render_template(
        "inbox/messages.html",
        rows=[(row, kinds.text(row.kind, row.data), link_for(row)) for row in rows],
        unread=inbox.unread_count(current_user.id),
        older=rows[-1].id if len(rows) == inbox.PER_PAGE else None,
        form=EmptyForm(),
    )


@bp.route("/<int:message_id>/read", methods=["POST"])
def message_read(message_id: int):
    """Mark one message read (only one of the signed-in user's; another id changes nothing)
    and open what it is about."""
    form = EmptyForm()
    if form.validate_on_submit():
        inbox.mark_read(current_user.id, now=now(), message_id=message_id)
        db.session.commit()
    message = db.session.get(inbox.Notification, message_id)
    if message is None or message.user_id != current_user.id:
        abort(404)
    return redirect(link_for(message) or url_for("inbox.message_list"))


@bp.route("/read-all", methods=["POST"])
def message_read_all():
    if EmptyForm().validate_on_submit():
        inbox.mark_read(current_user.id, now=now())
        db.session.commit()
    return redirect(url_for("inbox.message_list"))
