"""A sharer putting one of the merchant's coupons on a shop item: buyers landing on it see
券后价 and claim it in one tap."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from shop.orders import coupons
from shop.orders.models import Coupon, CouponAttachment
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.platform.inputs import parse_id
from shop.web.common import now
from shop.web.sharer import bp
from shop.web.sharer.forms import EmptyForm
from shop.web.sharer.views import load_own_item, load_own_link


def _choose_coupon(*, item, link, product, sharer, attached, back: str, saved: str,
                   removed: str):  # fmt: skip
    """Put one of the product's coupons on ``item`` or ``link`` (whichever is given), or take
    it off (an empty choice); then back to ``back``. The page lists the coupons it may carry."""
    form = EmptyForm()
    if form.validate_on_submit():
        raw = request.form.get("coupon", "")
        try:
            if not raw:
                coupons.detach(sharer=sharer, item=item, link=link)
                message = removed
            else:
                coupon = db.session.get(Coupon, parse_id(raw) or 0)
                if coupon is None:
                    abort(404)
                coupons.attach(coupon, sharer=sharer, item=item, link=link)
                message = saved
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            db.session.commit()
            flash(message, "success")
            return redirect(back)
    current = db.session.execute(
        select(CouponAttachment.coupon_id).where(attached)
    ).scalar_one_or_none()
    price = product.price_cents
    choices = [
        (c, coupons.describe(c), coupons.price_after(c, price))
        for c in coupons.attachable(product, now=now())
    ]
    return render_template(
        "sharer/item_coupon.html",
        item=item,
        product=product,
        back=back,
        choices=choices,
        current=current,
        form=form,
    )


@bp.route("/shop/items/<int:item_id>/coupon", methods=["GET", "POST"])
def item_coupon(item_id: int):
    item = load_own_item(item_id)
    return _choose_coupon(
        item=item,
        link=None,
        product=item.product,
        sharer=item.shop.user,
        attached=CouponAttachment.shop_item_id == item.id,
        back=url_for("sharer.shop_console", _anchor=f"p{item.product_id}"),
        saved=_("Coupon saved on this item."),
        removed=_("Coupon taken off this item."),
    )


@bp.route("/links/<int:link_id>/coupon", methods=["GET", "POST"])
def link_coupon(link_id: int):
    """The same for one share link (its coupon wins over the item's on its landing page)."""
    link = load_own_link(link_id)
    if link.product is None:
        abort(404)
    return _choose_coupon(
        item=None,
        link=link,
        product=link.product,
        sharer=link.sharer,
        attached=CouponAttachment.link_id == link.id,
        back=url_for("sharer.poster_page", link_id=link.id),
        saved=_("Coupon saved on this link."),
        removed=_("Coupon saved on this link."),
    )
