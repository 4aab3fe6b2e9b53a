"""A sharer choosing what their shop and posters show of a product's reviews: the rating, and
one published review quoted."""

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.platform.inputs import parse_id
from shop.reviews import reading
from shop.reviews.models import Review
from shop.sharing import shops
from shop.web.common import show_domain_error
from shop.web.sharer import bp
from shop.web.sharer.forms import EmptyForm
from shop.web.sharer.views import load_own_item


@bp.route("/shop/items/<int:item_id>/reviews", methods=["GET", "POST"])
def item_reviews(item_id: int):
    item = load_own_item(item_id)
    choices = reading.quotable(item.product)
    form = EmptyForm()
    if form.validate_on_submit():
        raw = request.form.get("quote", "")
        quote_id = parse_id(raw)
        quote = db.session.get(Review, quote_id) if quote_id is not None else None
        try:
            shops.set_review_display(item, show_rating="show_rating" in request.form, quote=quote)
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
        else:
            db.session.commit()
            flash(_("Saved. Your shop page and posters show it now."), "success")
            return redirect(url_for("sharer.shop_console", _anchor=f"p{item.product_id}"))
    return render_template(
        "sharer/item_reviews.html",
        item=item,
        summary=reading.summary(item.product_id),
        choices=choices,
        current_quote=reading.shown_quote(item.quote_review),
        form=form,
    )
