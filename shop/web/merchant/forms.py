from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, MultipleFileField
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from shop.orders import carriers
from shop.web.forms import FlaskForm

REQUIRED = _l("This field is required.")
IMAGE_ACCEPT = "image/jpeg,image/png,image/webp"


class ApplicationForm(FlaskForm):
    name = StringField(_l("Business name"), validators=[DataRequired(REQUIRED), Length(max=60)])
    licence_no = StringField(
        _l("Unified social credit code"),
        validators=[DataRequired(REQUIRED), Length(max=30)],
        description=_l("18 characters, as printed on the business licence."),
        render_kw={"autocapitalize": "characters", "autocomplete": "off"},
    )
    contact_name = StringField(
        _l("Contact person"), validators=[DataRequired(REQUIRED), Length(max=40)]
    )
    contact_phone = StringField(
        _l("Contact mobile number"),
        validators=[DataRequired(REQUIRED), Length(max=20)],
        render_kw={"type": "tel", "autocomplete": "tel"},
    )
    category_id = SelectField(_l("Main category"), coerce=int, validate_choice=False)
    description = TextAreaField(
        _l("About the brand"), validators=[Optional(), Length(max=500)], render_kw={"rows": 4}
    )
    logo = FileField(_l("Logo"), render_kw={"accept": IMAGE_ACCEPT})


class ProductForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(REQUIRED), Length(max=60)])
    category_id = SelectField(_l("Category"), coerce=int, validate_choice=False)
    price = StringField(
        _l("Price (yuan)"),
        render_kw={"inputmode": "decimal", "placeholder": "129.90"},
    )
    original_price = StringField(
        _l("Original price (yuan, optional)"),
        render_kw={"inputmode": "decimal"},
        description=_l("Shown struck through next to the price."),
    )
    stock = StringField(_l("Stock"), render_kw={"inputmode": "numeric"})
    rebate_percent = StringField(
        _l("Sharer rebate (%)"),
        render_kw={"inputmode": "decimal"},
    )
    description = TextAreaField(
        _l("Description"), validators=[Optional(), Length(max=5000)], render_kw={"rows": 6}
    )
    images = MultipleFileField(_l("Images"), render_kw={"accept": IMAGE_ACCEPT})
    # The spec dimensions and the SKU table are read from the request by spec_table.py (their
    # inputs are named by the rows' values); the template draws them.


class ProductEditForm(ProductForm):
    #: The stock the form showed when it was opened: the stock typed is a change against it
    #: (orders placed while the form was open are not undone by saving it).
    stock_shown = HiddenField()


class ImagesForm(FlaskForm):
    images = MultipleFileField(_l("Add images"), render_kw={"accept": IMAGE_ACCEPT})


class EmptyForm(FlaskForm):
    """Only the CSRF token: for buttons that change state."""


class ActionForm(FlaskForm):
    product_image_id = HiddenField()


class ShipForm(FlaskForm):
    carrier = SelectField(
        _l("Carrier"),
        choices=[SelectChoice("", _l("Choose the carrier"))]
        + [SelectChoice(c.code, c.name) for c in carriers.CARRIERS],
        validate_choice=False,  # the domain says which carriers exist, in the user's language
    )
    tracking = StringField(
        _l("Tracking number"),
        render_kw={"autocapitalize": "characters", "autocomplete": "off", "spellcheck": "false"},
    )


class BulkShipForm(FlaskForm):
    file = FileField(
        _l("CSV file: order number, carrier, tracking number"),
        render_kw={"accept": ".csv,text/csv"},
    )


class ReturnAddressForm(FlaskForm):
    return_address = TextAreaField(
        _l("Return address"),
        validators=[Length(max=200)],
        description=_l("Name, phone and full address, as buyers should write it on the parcel."),
        render_kw={"rows": 3, "maxlength": 200},
    )


class RefundDecisionForm(FlaskForm):
    decision = HiddenField()
    note = StringField(_l("Note to the buyer"), validators=[Optional(), Length(max=200)])
