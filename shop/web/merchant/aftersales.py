"""The merchant's after-sales setting: the return address buyers send 退货退款 parcels to."""

from flask import flash, g, redirect, render_template, url_for
from flask_babel import gettext as _

from shop.orders import aftersales
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.web.common import show_domain_error
from shop.web.merchant import bp
from shop.web.merchant.forms import ReturnAddressForm


@bp.route("/return-address", methods=["GET", "POST"])
def return_address():
    form = ReturnAddressForm()
    if not form.is_submitted():
        form.return_address.data = g.merchant.return_address
    elif form.validate_on_submit():
        try:
            aftersales.set_return_address(g.merchant, form.return_address.data or "")
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
        else:
            flash(_("Return address saved. Buyers asking to return goods see it."), "success")
            return redirect(url_for("merchant.return_address"), code=303)
    return render_template("merchant/return_address.html", form=form), 200 if not (
        form.errors
    ) else 422
