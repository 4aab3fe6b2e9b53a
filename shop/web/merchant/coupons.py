"""The merchant's coupons (/merchant/coupons): make one (amount off, or off over a threshold;
one product or the whole shop; a count, a per-buyer limit, China days from and to), see how
many are claimed, and stop one."""

from datetime import date, datetime, timedelta

from flask import abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import SelectField, StringField

from shop.catalog.models import Product
from shop.orders import coupons
from shop.orders.models import Coupon
from shop.orders.shipping import parse_fee
from shop.platform.errors import DomainError, ValidationError
from shop.platform.extensions import db
from shop.web.common import now, show_domain_error
from shop.web.forms import FlaskForm
from shop.web.merchant import bp

#: Coupon days are China days (UTC+8); times are stored in UTC.
CHINA = timedelta(hours=8)


class CouponForm(FlaskForm):
    product_id = SelectField(_l("For"), choices=[])
    off = StringField(_l("Amount off (yuan)"), render_kw={"inputmode": "decimal"})
    threshold = StringField(
        _l("For orders from (yuan, empty: any amount)"), render_kw={"inputmode": "decimal"}
    )
    total_count = StringField(_l("How many"), render_kw={"inputmode": "numeric"}, default="100")
    per_buyer = StringField(
        _l("Each buyer may claim"), render_kw={"inputmode": "numeric"}, default="1"
    )
    starts_on = StringField(_l("From (day)"), render_kw={"type": "date"})
    ends_on = StringField(_l("To (day, included)"), render_kw={"type": "date"})


def _whole(raw: str | None, field: str) -> int:
    text = (raw or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 6:
        raise ValidationError(_l("Enter a whole number."), field)
    return int(text)


def _day(raw: str | None, field: str) -> date:
    try:
        return date.fromisoformat((raw or "").strip())
    except ValueError:
        raise ValidationError(_l("Choose a day."), field) from None


def _utc(day: date) -> datetime:
    """The start of a China day, in UTC."""
    return datetime(day.year, day.month, day.day) - CHINA


@bp.route("/coupons", methods=["GET", "POST"])
def coupon_list():
    form = CouponForm()
    products = list(
        db.session.execute(
            select(Product).where(Product.merchant_id == g.merchant.id).order_by(Product.id.desc())
        ).scalars()
    )
    form.product_id.choices = [("", str(_l("The whole shop")))] + [
        (str(p.id), p.title) for p in products
    ]
    today = (now() + CHINA).date()
    if not form.is_submitted():
        form.starts_on.data = today.isoformat()
        form.ends_on.data = (today + timedelta(days=6)).isoformat()
    elif form.validate_on_submit():
        try:
            starts = _day(form.starts_on.data, "starts_on")
            ends = _day(form.ends_on.data, "ends_on")
            if ends < starts:
                raise ValidationError(_l("The end must be after the start."), "ends_on")
            coupons.create_coupon(
                g.merchant,
                product_id=int(form.product_id.data) if form.product_id.data else None,
                off_cents=parse_fee(form.off.data, "off", blank=0),
                threshold_cents=parse_fee(form.threshold.data, "threshold", blank=0),
                total_count=_whole(form.total_count.data, "total_count"),
                per_buyer=_whole(form.per_buyer.data, "per_buyer"),
                starts_at=_utc(starts),
                ends_at=_utc(ends + timedelta(days=1)),
                now=now(),
            )
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            if error.field == "ends_at":
                error.field = "ends_on"
            show_domain_error(form, error)
        else:
            flash(_("Coupon made. Sharers can put it on their links now."), "success")
            return redirect(url_for("merchant.coupon_list"), code=303)
    return render_template(
        "merchant/coupons.html",
        form=form,
        coupons=coupons.coupons_of(g.merchant),
        describe=coupons.describe,
        china=CHINA,
        timedelta_day=timedelta(days=1),
        at=now(),
    )


@bp.route("/coupons/<int:coupon_id>/stop", methods=["POST"])
def coupon_stop(coupon_id: int):
    coupon = db.session.get(Coupon, coupon_id)
    if coupon is None or coupon.merchant_id != g.merchant.id:
        abort(404)
    if not FlaskForm().validate_on_submit():
        abort(400)
    coupons.stop_coupon(coupon, actor=g.merchant)
    db.session.commit()
    flash(_("Coupon stopped: no more claims. Claimed ones stay usable until it ends."), "success")
    return redirect(url_for("merchant.coupon_list"), code=303)
