"""Reviews on the storefront: a product's reviews, a buyer writing one (and its follow-up),
the buyer's own reviews with their moderation state, and reports from readers."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf.file import MultipleFileField
from wtforms import BooleanField, RadioField, StringField, TextAreaField
from wtforms.validators import Optional

from shop.catalog import catalog
from shop.orders.models import OrderItem
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.reviews import reading, writing
from shop.reviews.models import Review, ReviewKind, ReviewStatus
from shop.reviews.rules import REPORT_REASONS, Rules
from shop.sharing import shops
from shop.web.common import now, show_domain_error, upload_limit
from shop.web.forms import FlaskForm
from shop.web.storefront import bp
from shop.web.storefront.checkout import _own_order

RATING_CHOICES = [
    ("5", _l("5 stars: very good")),
    ("4", _l("4 stars: good")),
    ("3", _l("3 stars: all right")),
    ("2", _l("2 stars: poor")),
    ("1", _l("1 star: very poor")),
]
FILTER_LABELS = {
    "all": _l("All"),
    "photos": _l("With photos"),
    "followups": _l("Follow-ups"),
    "low": _l("Low ratings"),
}


class ReviewForm(FlaskForm):
    # Choices are set per instance: WTForms 3.3 deprecates tuples given at class level.
    # The service checks the value and says "Choose from 1 to 5 stars" (not "Not a valid
    # choice").
    rating = RadioField(_l("Rating"), choices=[], validators=[Optional()], validate_choice=False)
    body = TextAreaField(
        _l("Your review"),
        description=_l("What was it like? At most 500 characters."),
        render_kw={"rows": 5, "maxlength": 500},
    )
    photos = MultipleFileField(
        _l("Photos (up to 6)"),
        render_kw={
            "accept": "image/jpeg,image/png,image/webp",
            "multiple": True,
            "data-photos": True,
            "data-max-count": 6,
            "data-too-many": _l("Choose at most 6 photos."),
        },
    )
    anonymous = BooleanField(_l("Post anonymously (shown as “Anonymous buyer”)"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rating.choices = RATING_CHOICES


class FollowupForm(FlaskForm):
    body = TextAreaField(
        _l("Follow-up"),
        description=_l("How is it after some time? At most 500 characters."),
        render_kw={"rows": 4, "maxlength": 500},
    )


class ReportForm(FlaskForm):
    reason = RadioField(
        _l("What is wrong with this review?"),
        choices=[],
        validators=[Optional()],
        validate_choice=False,  # the service says "Choose a reason."
    )
    details = StringField(
        _l("Details (optional, at most 150 characters)"), render_kw={"maxlength": 150}
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reason.choices = list(REPORT_REASONS.items())


# --- reading ------------------------------------------------------------------------------


def _visible_product(product_id: int):
    product = catalog.product_for_page(product_id)
    if product is None:
        abort(404)
    if shops.is_gone(product):
        abort(410)
    return product


@bp.route("/p/<int:product_id>/reviews")
def product_reviews(product_id: int):
    product = _visible_product(product_id)
    chosen = reading.parse_filter(request.args.get("filter"))
    result = reading.product_reviews(
        product.id, filter=chosen, page=catalog.parse_page(request.args.get("page"))
    )
    return render_template(
        "storefront/reviews.html",
        product=product,
        summary=reading.summary(product.id),
        result=result,
        chosen=chosen,
        counts=reading.filter_counts(product.id),
        filter_labels=FILTER_LABELS,
    )


# --- writing ------------------------------------------------------------------------------


def _own_item(order_id: int, item_id: int) -> OrderItem:
    order = _own_order(order_id)
    item = db.session.get(OrderItem, item_id)
    if item is None or item.order_id != order.id:
        abort(404)
    return item


def _own_review(review_id: int) -> Review:
    review = db.session.get(Review, review_id)
    if review is None or review.author_id != current_user.id:
        abort(404)
    return review


def _uploads(field) -> list[bytes]:
    return [f.read() for f in (field.data or []) if getattr(f, "filename", "")]


@bp.route("/orders/<int:order_id>/items/<int:item_id>/review", methods=["GET", "POST"])
@login_required
@upload_limit
def review_write(order_id: int, item_id: int):
    item = _own_item(order_id, item_id)
    rules = Rules.current()
    existing = writing.reviews_of_order(item.order).get(item.id)
    state = writing.item_state(item, existing, now=now(), rules=rules)
    form = ReviewForm()
    if form.validate_on_submit():
        # A second review (another tab, a double tap) reaches the service, which says why.
        photos = _uploads(form.photos)
        try:
            writing.write_review(
                item,
                actor=current_user,
                rating=catalog.whole_number(form.rating.data),
                body=form.body.data,
                anonymous=form.anonymous.data,
                photos=photos,
                now=now(),
                rules=rules,
            )
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
            if photos and error.field != "photos":
                # Browsers cannot refill a file input; say so rather than drop them silently.
                form.photos.errors = [*form.photos.errors, _("Please choose the photos again.")]
        else:
            db.session.commit()
            flash(_("Thank you for your review!"), "success")
            return redirect(url_for("storefront.review_write", order_id=order_id, item_id=item_id))
    return render_template(
        "storefront/review_form.html",
        item=item,
        order=item.order,
        state=state,
        form=form,
        followup_form=FollowupForm(formdata=None),
    ), (422 if request.method == "POST" else 200)


@bp.route("/reviews/<int:review_id>/followup", methods=["POST"])
@login_required
def review_followup(review_id: int):
    review = _own_review(review_id)
    if review.kind != ReviewKind.INITIAL:
        abort(404)
    form = FollowupForm()
    back = url_for(
        "storefront.review_write", order_id=review.order_id, item_id=review.order_item_id
    )
    if form.validate_on_submit():
        try:
            writing.write_followup(review, actor=current_user, body=form.body.data, now=now())
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
        else:
            db.session.commit()
            flash(_("Follow-up added."), "success")
            return redirect(back)
    item = review.order_item
    rules = Rules.current()
    return render_template(
        "storefront/review_form.html",
        item=item,
        order=item.order,
        state=writing.item_state(item, review, now=now(), rules=rules),
        form=ReviewForm(formdata=None),
        followup_form=form,
    ), 422


@bp.route("/reviews/mine")
@login_required
def my_reviews():
    return render_template(
        "storefront/my_reviews.html", reviews=reading.reviews_by_author(current_user)
    )


@bp.route("/reviews/<int:review_id>/report", methods=["GET", "POST"])
@login_required
def review_report(review_id: int):
    review = db.session.get(Review, review_id)
    if review is None or review.status != ReviewStatus.PUBLISHED:
        abort(404)
    back = url_for("storefront.product_reviews", product_id=review.product_id)
    form = ReportForm()
    if form.validate_on_submit():
        try:
            writing.report_review(
                review,
                reporter=current_user,
                reason=form.reason.data,
                details=form.details.data,
                now=now(),
            )
        except DomainError as error:
            db.session.rollback()
            if error.field:
                show_domain_error(form, error)
            else:
                flash(error.message, "error")
                return redirect(back)
        else:
            db.session.commit()
            flash(_("Thank you. An administrator will look at it."), "success")
            return redirect(back)
    return render_template("storefront/report.html", review=review, form=form)
