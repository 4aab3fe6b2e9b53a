from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import HiddenField, PasswordField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from shop.web.forms import FlaskForm

REQUIRED = _l("This field is required.")


class ShopSettingsForm(FlaskForm):
    name = StringField(_l("Shop name"), validators=[DataRequired(REQUIRED), Length(max=30)])
    slug = StringField(
        _l("Shop address"),
        validators=[DataRequired(REQUIRED), Length(max=32)],
        description=_l("Letters, digits and hyphens. Your shop is at /s/<address>."),
        render_kw={"autocapitalize": "off", "autocomplete": "off", "spellcheck": "false"},
    )
    intro = TextAreaField(
        _l("Introduction"), validators=[Optional(), Length(max=200)], render_kw={"rows": 3}
    )
    avatar = FileField(_l("Avatar"), render_kw={"accept": "image/jpeg,image/png,image/webp"})


class ItemAddForm(FlaskForm):
    product_id = HiddenField()
    next = HiddenField()


class RecommendationForm(FlaskForm):
    recommendation = TextAreaField(
        _l("Your recommendation"),
        validators=[Optional(), Length(max=300)],
        render_kw={"rows": 2},
    )


class MoveForm(FlaskForm):
    direction = HiddenField()


class LinkForm(FlaskForm):
    channel = SelectField(_l("Channel"), validate_choice=False)
    label = StringField(
        _l("Channel name (for your own channels)"),
        validators=[Optional(), Length(max=20)],
        render_kw={"placeholder": _l("e.g. colleagues' group")},
    )


class EmptyForm(FlaskForm):
    """Only the CSRF token, for buttons that change state."""


class PayoutAccountForm(FlaskForm):
    method = RadioField(_l("Paid to"), choices=[], validate_choice=False)
    account_name = StringField(_l("Account holder's name"), render_kw={"autocomplete": "name"})
    account_number = StringField(
        _l("Account"),
        description=_l("WeChat or Alipay: the phone number, email or ID. Bank: the card number."),
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    bank_name = StringField(_l("Bank (bank accounts only)"))
    password = PasswordField(
        _l("Your password"),
        description=_l("Type your password again to change where your money goes."),
        render_kw={"autocomplete": "current-password"},
    )


class AppealAskForm(FlaskForm):
    number = StringField(
        _l("Order number"),
        validators=[Optional(), Length(max=40)],
        description=_l("The number on the buyer's order page, e.g. 2612061030 12345678."),
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    #: A click picked in the link's audit (one of the sharer's own: checked by the view).
    click = HiddenField()


class AppealSubmitForm(FlaskForm):
    note = TextAreaField(
        _l("Why should this order be yours?"),
        validators=[Optional(), Length(max=500)],
        description=_l("For example when you sent the link and what the buyer told you."),
        render_kw={"rows": 4},
    )
