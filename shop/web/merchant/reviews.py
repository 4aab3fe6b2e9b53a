"""The merchant's reviews: what buyers wrote about its products, and one public reply each."""

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import TextAreaField

from shop.catalog import catalog
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.reviews import credit, reading, writing
from shop.reviews.models import Review
from shop.reviews.rules import Rules
from shop.web.common import now
from shop.web.forms import FlaskForm
from shop.web.merchant import bp


class ReplyForm(FlaskForm):
    body = TextAreaField(_l("Your reply"), render_kw={"rows": 3, "maxlength": 500})


def load_own_review(review_id: int) -> Review:
    """A review of the signed-in merchant's products, or 404."""
    review = db.session.get(Review, review_id)
    if review is None or review.merchant_id != g.merchant.id:
        abort(404)
    return review


@bp.route("/reviews")
def review_list():
    unreplied = request.args.get("show") == "unreplied"
    result = reading.merchant_reviews(
        g.merchant, unreplied=unreplied, page=catalog.parse_page(request.args.get("page"))
    )
    rules = Rules.current()
    at = now()
    return render_template(
        "merchant/reviews.html",
        result=result,
        unreplied=unreplied,
        credit=credit.merchant_credit(g.merchant),
        can_reply={
            r.id: r.reply is None and at <= writing.reply_deadline(r, rules) for r in result.reviews
        },
        form=ReplyForm(formdata=None),
    )


@bp.route("/reviews/<int:review_id>/reply", methods=["POST"])
def review_reply(review_id: int):
    review = load_own_review(review_id)
    form = ReplyForm()
    back = url_for("merchant.review_list", _anchor=f"review-{review.id}")
    if not form.validate_on_submit():
        abort(400)
    try:
        writing.write_reply(
            review, merchant=g.merchant, actor=current_user, body=form.body.data, now=now()
        )
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(_("Reply published."), "success")
    return redirect(back)
