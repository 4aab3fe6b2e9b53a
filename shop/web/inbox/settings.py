"""Where notices go: preferences per kind and channel, webhooks (with their secret shown
once, a test button and the delivery log) and WeCom group bots."""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from shop.accounts import sms
from shop.catalog import merchants
from shop.notify import endpoints, inbox, kinds
from shop.notify.models import Channel, Endpoint
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.web.common import now, show_domain_error
from shop.web.inbox import bp
from shop.web.inbox.forms import EmptyForm, WebhookForm, WecomForm


def load_own_endpoint(endpoint_id: int) -> Endpoint:
    endpoint = db.session.get(Endpoint, endpoint_id)
    if endpoint is None or endpoint.user_id != current_user.id:
        abort(404)
    return endpoint


def _audiences() -> list[tuple[str, object, list]]:
    """The kinds grouped by who gets them; merchant notices only for merchants."""
    is_merchant = merchants.merchant_of(current_user) is not None
    groups = []
    for audience, label in kinds.AUDIENCE_LABELS.items():
        if audience == kinds.MERCHANT and not is_merchant:
            continue
        members = [kind for kind in kinds.KINDS.values() if kind.audience == audience]
        groups.append((audience, label, members))
    return groups


@bp.route("/preferences", methods=["GET", "POST"])
def preferences():
    form = EmptyForm()
    if form.validate_on_submit():
        chosen = set()
        for value in request.form.getlist("on"):
            kind, _sep, channel = value.partition(":")
            if kind in kinds.KINDS and channel in inbox.CHANNELS:
                chosen.add((kind, channel))
        inbox.save_preferences(current_user.id, chosen)
        if sms.notices_on(current_app.config):
            endpoints.set_sms(current_user, request.form.get("sms_shipped") == "1", now=now())
        db.session.commit()
        flash(_("Saved."), "success")
        return redirect(url_for("inbox.preferences"))
    mine = endpoints.endpoints_of(current_user)
    return render_template(
        "inbox/preferences.html",
        form=form,
        groups=_audiences(),
        chosen=inbox.preferences_for(current_user.id),
        has_webhook=any(e.channel == Channel.WEBHOOK for e in mine),
        has_wecom=any(e.channel == Channel.WECOM for e in mine),
        sms_offered=sms.notices_on(current_app.config) and bool(current_user.phone),
        sms_on=endpoints.sms_endpoint(current_user) is not None,
    )


def _render_webhooks(webhook_form=None, wecom_form=None, *, new_secret=None, status=200):
    mine = endpoints.endpoints_of(current_user)
    return render_template(
        "inbox/webhooks.html",
        webhook_form=webhook_form or WebhookForm(formdata=None),
        wecom_form=wecom_form or WecomForm(formdata=None),
        form=EmptyForm(),
        rows=[(e, endpoints.masked(e)) for e in mine],
        new_secret=new_secret,
        WEBHOOK=Channel.WEBHOOK,
    ), status


@bp.route("/webhooks")
def webhooks():
    return _render_webhooks()


@bp.route("/webhooks", methods=["POST"])
def webhook_add():
    form = WebhookForm()
    if not form.validate_on_submit():
        return _render_webhooks(webhook_form=form, status=400)
    config = current_app.config
    try:
        endpoint = endpoints.add_webhook(
            current_user,
            form.url.data,
            allow_loopback=config["NOTIFY_ALLOW_LOOPBACK"],
            limit=config["NOTIFY_MAX_ENDPOINTS"],
            now=now(),
        )
    except DomainError as error:
        show_domain_error(form, error)
        return _render_webhooks(webhook_form=form, status=400)
    db.session.commit()
    # The secret is shown in this answer only; it is never shown again.
    return _render_webhooks(new_secret=(endpoint.id, endpoint.secret))


@bp.route("/wecom", methods=["POST"])
def wecom_add():
    form = WecomForm()
    if not form.validate_on_submit():
        return _render_webhooks(wecom_form=form, status=400)
    try:
        endpoints.add_wecom(
            current_user,
            form.key.data,
            limit=current_app.config["NOTIFY_MAX_ENDPOINTS"],
            now=now(),
        )
    except DomainError as error:
        show_domain_error(form, error)
        return _render_webhooks(wecom_form=form, status=400)
    db.session.commit()
    flash(_("The WeCom group bot is added. Send a test to see it work."), "success")
    return redirect(url_for("inbox.webhooks"))


@bp.route("/endpoints/<int:endpoint_id>/delete", methods=["POST"])
def endpoint_delete(endpoint_id: int):
    endpoint = load_own_endpoint(endpoint_id)
    if EmptyForm().validate_on_submit():
        endpoints.remove(endpoint)
        db.session.commit()
        flash(_("Removed."), "success")
    return redirect(url_for("inbox.webhooks"))


@bp.route("/endpoints/<int:endpoint_id>/test", methods=["POST"])
def endpoint_test(endpoint_id: int):
    endpoint = load_own_endpoint(endpoint_id)
    if EmptyForm().validate_on_submit():
        endpoints.send_test(endpoint, now=now(), hours=current_app.config["NOTIFY_RETRY_HOURS"])
        db.session.commit()
        flash(_("A test notice is on its way; its result shows in the log below."), "success")
    return redirect(url_for("inbox.endpoint_log", endpoint_id=endpoint.id))


@bp.route("/endpoints/<int:endpoint_id>")
def endpoint_log(endpoint_id: int):
    endpoint = load_own_endpoint(endpoint_id)
    return render_template(
        "inbox/endpoint_log.html",
        endpoint=endpoint,
        shown=endpoints.masked(endpoint),
        attempts=endpoints.log(endpoint),
        waiting=endpoints.waiting(endpoint),
        form=EmptyForm(),
        WEBHOOK=Channel.WEBHOOK,
        kind_labels={
            kinds.TEST: _("Test notice"),
            **{name: kind.label for name, kind in kinds.KINDS.items()},
        },
    )
