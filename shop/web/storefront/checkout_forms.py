"""The checkout's form: the fields of an address typed in only when the order does not go to
an address of the buyer's address book."""

from flask import request
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, IntegerField, RadioField, StringField
from wtforms.validators import Optional

from shop.orders import checkout as order_checkout
from shop.web.forms import FlaskForm, choice_label
from shop.web.storefront.addresses import AddressFields, fill_region_choices, prefill_phone


class SavedAddressCheckoutForm(FlaskForm):
    """The checkout form sending the order to an address of the buyer's address book: without
    the fields of an address typed in (nothing shows or reads them then, and building them
    and their region choices was a good part of the form's cost)."""

    checkout_key = HiddenField()
    ref = HiddenField()
    #: The SKU bought with "Buy now", and the prices the page showed ("SKU id:fen,...").
    sku_id = HiddenField()
    shown = HiddenField()
    quantity = IntegerField(_l("Quantity"), validators=[Optional()], default=1)
    #: The address book's address the order goes to; "" for the new address typed here.
    saved_address = HiddenField()
    note = StringField(
        _l("Note to the merchant"),
        render_kw={"maxlength": 200, "placeholder": _l("Optional")},
    )
    provider = RadioField(_l("Payment"), choices=[])
    #: The orders this submission repeats (RepeatOrder), shown above the form.
    repeat_orders: list | tuple = ()
    #: A message about the chosen address (legacy, or not delivered to).
    address_errors: list | tuple = ()


class CheckoutForm(SavedAddressCheckoutForm, AddressFields):
    """The checkout form with a new address typed in."""


def checkout_form(saved, available) -> SavedAddressCheckoutForm:
    """The form, with the fields of a typed address unless it goes to one of ``saved``."""
    ids = {str(a.id) for a in saved}
    if request.method == "GET":
        wanted = request.args.get("address", "")
        address = wanted if wanted in ids else (str(saved[0].id) if saved else "")
    else:
        address = request.form.get("saved_address") or ""
    typed = address not in ids
    form = CheckoutForm() if typed else SavedAddressCheckoutForm()
    form.provider.choices = [(name, choice_label(p.label)) for name, p in available.items()]
    if request.method == "GET":
        form.checkout_key.data = order_checkout.new_checkout_key()
        form.ref.data = request.args.get("ref", "")
        form.provider.data = next(iter(available), None)
        form.saved_address.data = address
    if typed:
        prefill_phone(form)
        fill_region_choices(form)
    return form
