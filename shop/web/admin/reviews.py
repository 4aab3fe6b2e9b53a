"""Review moderation: the queue of held, reported and hidden reviews, decisions, and the list
of blocked words. Admins decide whether a review is shown; there is no page that edits or
writes one."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import HiddenField, StringField
from wtforms.validators import Optional

from shop.catalog import catalog
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.reviews import moderation
from shop.reviews.models import BlockedWord, Review
from shop.reviews.rules import REPORT_REASONS
from shop.web.admin import bp
from shop.web.common import now
from shop.web.forms import FlaskForm

TAB_LABELS = {
    "held": _l("Held"),
    "reported": _l("Reported"),
    "hidden": _l("Hidden"),
    "published": _l("Published"),
}


class ReviewDecisionForm(FlaskForm):
    action = HiddenField()
    #: The version the admin saw; a decision on a review changed since is refused.
    version = HiddenField()
    reason = StringField(
        # The length is the service's to check: it answers with a message, not a bare 400.
        _l("Reason (shown to the author)"),
        validators=[Optional()],
    )


class BlockedWordForm(FlaskForm):
    word = StringField(_l("Word or phrase"), validators=[Optional()])


def load_review(review_id: int) -> Review:
    review = db.session.get(Review, review_id)
    if review is None:
        abort(404)
    return review


@bp.route("/reviews")
def review_queue():
    tab = request.args.get("tab", "held")
    if tab not in moderation.TABS:
        tab = "held"
    result = moderation.queue(tab, page=catalog.parse_page(request.args.get("page")))
    return render_template(
        "admin/reviews.html",
        tab=tab,
        tabs=TAB_LABELS,
        counts=moderation.queue_counts(),
        result=result,
        can=moderation.can,
        report_reasons=REPORT_REASONS,
        form=ReviewDecisionForm(formdata=None),
    )


@bp.route("/reviews/<int:review_id>/decide", methods=["POST"])
def review_decide(review_id: int):
    review = load_review(review_id)
    form = ReviewDecisionForm()
    if not form.validate_on_submit() or form.action.data not in moderation.ACTION_LABELS:
        abort(400)
    back = url_for("admin.review_queue", tab=request.args.get("tab") or None)
    if form.version.data != str(review.version):
        flash(_("Another administrator decided this review first. Please look again."), "error")
        return redirect(back)
    try:
        moderation.decide(
            review, form.action.data, actor=current_user, reason=form.reason.data, now=now()
        )
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(_("Decision saved and written to the audit log."), "success")
    return redirect(back)


@bp.route("/reviews/words", methods=["GET", "POST"])
def blocked_words():
    form = BlockedWordForm()
    if form.validate_on_submit():
        try:
            moderation.add_blocked_word(form.word.data, actor=current_user, now=now())
        except DomainError as error:
            db.session.rollback()
            form.word.errors = [*form.word.errors, error.message]
        else:
            db.session.commit()
            flash(_("Added. New reviews with it will be held."), "success")
            return redirect(url_for("admin.blocked_words"))
    return render_template(
        "admin/blocked_words.html",
        words=moderation.blocked_words(),
        form=form,
        delete_form=FlaskForm(),
    )


@bp.route("/reviews/words/<int:word_id>/delete", methods=["POST"])
def blocked_word_delete(word_id: int):
    row = db.session.get(BlockedWord, word_id)
    if row is None:
        abort(404)
    if not FlaskForm().validate_on_submit():
        abort(400)
    moderation.remove_blocked_word(row, actor=current_user, now=now())
    db.session.commit()
    flash(_("Removed."), "success")
    return redirect(url_for("admin.blocked_words"))
