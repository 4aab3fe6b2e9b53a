"""Shipping many orders from one CSV upload, with a result for every line."""

from flask import g, render_template
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from shop.orders import bulk_ship
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.web.common import now, show_domain_error
from shop.web.merchant import bp
from shop.web.merchant.forms import BulkShipForm

RESULT_LABELS = {
    bulk_ship.SHIPPED: _l("Shipped"),
    bulk_ship.ALREADY_SHIPPED: _l("Already shipped"),
    bulk_ship.NOT_YOURS: _l("Not one of your orders"),
    bulk_ship.BAD_CARRIER: _l("Unknown carrier"),
    bulk_ship.BAD_NUMBER: _l("Tracking number does not fit the carrier"),
    bulk_ship.NOT_SHIPPABLE: _l("Cannot be shipped now"),
    bulk_ship.BAD_LINE: _l("Needs three columns"),
}


@bp.route("/orders/ship-bulk", methods=["GET", "POST"])
def orders_ship_bulk():
    form = BulkShipForm()
    results = None
    status = 200
    if form.validate_on_submit():
        upload = form.file.data
        try:
            if not upload or not getattr(upload, "filename", ""):
                raise DomainError(_l("Choose a CSV file."), "file")
            text = bulk_ship.decode(upload.read())
            results = bulk_ship.ship_csv(
                text, merchant_id=g.merchant.id, actor=current_user, now=now()
            )
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
            status = 422
    shipped = sum(1 for r in results or () if r.result == bulk_ship.SHIPPED)
    return render_template(
        "merchant/ship_bulk.html",
        form=form,
        results=results,
        shipped=shipped,
        labels=RESULT_LABELS,
    ), status
