"""The buyer's address book (/account/addresses), the address picker's data
(/regions/<province>.json) and the address form both share with checkout.

The picker is three dependent <select>s. Without JavaScript the form's "Next" button sends the
form back with the next level's choices filled in (province -> city -> district), keeping what
was typed; with JavaScript (static/js/region-picker.js) a province's cities and districts are
fetched once as a small JSON file cached for a day, and the button is hidden.
"""

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import BooleanField, SelectField, StringField

from shop.orders import addresses, regions, shipping
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.web.common import now, safe_next, show_domain_error
from shop.web.forms import FlaskForm
from shop.web.storefront import bp

ONE_DAY = 24 * 3600


class AddressFields:
    """The address fields, mixed into the address book's form and the checkout form."""

    name = StringField(_l("Recipient"), render_kw={"autocomplete": "name"})
    phone = StringField(_l("Mobile number"), render_kw={"autocomplete": "tel", "inputmode": "tel"})
    province = SelectField(_l("Province"), choices=[], validate_choice=False)
    city = SelectField(_l("City"), choices=[], validate_choice=False)
    district = SelectField(_l("District"), choices=[], validate_choice=False)
    detail = StringField(_l("Street and number"), render_kw={"autocomplete": "street-address"})


class AddressForm(FlaskForm, AddressFields):
    is_default = BooleanField(_l("Use as my default address"))


def fill_region_choices(form) -> None:
    """Each select's options: all provinces; the cities of the chosen province; the districts
    of the chosen city (empty lists where nothing is chosen yet)."""
    placeholder = [("", _("Choose"))]
    form.province.choices = placeholder + [(p.code, p.name) for p in regions.provinces()]
    cities = regions.children(form.province.data)
    form.city.choices = placeholder + [(c.code, c.name) for c in cities]
    if form.city.data not in {c.code for c in cities}:
        form.city.data = ""
    districts = regions.children(form.city.data)
    form.district.choices = placeholder + [(d.code, d.name) for d in districts]
    if form.district.data not in {d.code for d in districts}:
        form.district.data = ""


def picking() -> bool:
    """The no-script "Next" button was pressed: show the next level, save nothing."""
    return request.method == "POST" and request.form.get("pick") == "1"


def checked_address(form) -> addresses.ShippingAddress | None:
    """The form's address checked, or None with the message on its field."""
    try:
        return addresses.check_address(
            form.name.data,
            form.phone.data,
            form.province.data,
            form.city.data,
            form.district.data,
            form.detail.data,
        )
    except DomainError as error:
        show_domain_error(form, error)
        return None


def prefill_phone(form) -> None:
    if request.method == "GET" and not form.phone.data and current_user.phone:
        form.phone.data = current_user.phone


@bp.route("/regions/<string:province>.json")
def region_tree(province: str):
    """A province's cities and districts for the picker (a few KB, cached for a day)."""
    found = regions.get(province)
    if found is None or found.parent is not None:
        abort(404)
    response = {"code": found.code, **regions.subtree(found.code)}

    reply = jsonify(response)
    reply.cache_control.public = True
    reply.cache_control.max_age = ONE_DAY
    return reply


@bp.app_template_global()
def shipping_hint(product) -> shipping.FeeHint:
    """The product page's delivery line: to the signed-in buyer's default address, or the
    template's base fee for anyone else."""
    province = ""
    if current_user.is_authenticated:
        address = addresses.default_address(current_user)
        if address is not None:
            province = shipping.province_of(address.province_code)
    return shipping.product_hint(product, province)


def _own(address_id: int):
    try:
        return addresses.own_address(current_user, address_id)
    except DomainError:
        abort(404)


@bp.route("/account/addresses")
@login_required
def address_book():
    """The address book; with ``next`` (from checkout) each address is a choice for it."""
    back = safe_next(request.args.get("next"))
    return render_template(
        "storefront/addresses.html",
        saved=addresses.addresses_of(current_user),
        back=back,
        form=FlaskForm(),
    )


@bp.route("/account/addresses/new", methods=["GET", "POST"])
@bp.route("/account/addresses/<int:address_id>/edit", methods=["GET", "POST"])
@login_required
def address_edit(address_id: int | None = None):
    address = _own(address_id) if address_id is not None else None
    back = safe_next(request.values.get("next"))
    form = AddressForm(obj=None)
    if request.method == "GET" and address is not None:
        form.name.data, form.phone.data = address.name, address.phone
        form.province.data, form.city.data = address.province_code, address.city_code
        form.district.data, form.detail.data = address.district_code, address.detail
        form.is_default.data = address.is_default
    prefill_phone(form)
    fill_region_choices(form)
    if not picking() and form.validate_on_submit():
        checked = checked_address(form)
        if checked is not None:
            try:
                if address is None:
                    address = addresses.save_address(
                        current_user, checked, now=now(), make_default=form.is_default.data
                    )
                else:
                    addresses.update_address(address, checked, make_default=form.is_default.data)
                db.session.commit()
            except DomainError as error:
                db.session.rollback()
                show_domain_error(form, error)
            else:
                flash(_("Address saved."), "success")
                if back:
                    sep = "&" if "?" in back else "?"
                    return redirect(f"{back}{sep}address={address.id}", code=303)
                return redirect(url_for("storefront.address_book"), code=303)
    return render_template("storefront/address_form.html", form=form, address=address, back=back)


@bp.route("/account/addresses/<int:address_id>/default", methods=["POST"])
@login_required
def address_default(address_id: int):
    address = _own(address_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    addresses.set_default(address)
    db.session.commit()
    flash(_("Default address changed."), "success")
    return redirect(url_for("storefront.address_book"), code=303)


@bp.route("/account/addresses/<int:address_id>/delete", methods=["GET", "POST"])
@login_required
def address_delete(address_id: int):
    """GET asks "delete this address?"; POST deletes it."""
    address = _own(address_id)
    form = FlaskForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        addresses.delete_address(address)
        db.session.commit()
        flash(_("Address deleted."), "success")
        return redirect(url_for("storefront.address_book"), code=303)
    return render_template("storefront/address_delete.html", address=address, form=form)
