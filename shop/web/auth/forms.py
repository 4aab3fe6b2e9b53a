from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from shop.web.forms import FlaskForm

REQUIRED = _l("This field is required.")


class SignUpForm(FlaskForm):
    account = StringField(
        _l("Mobile number or email"),
        validators=[DataRequired(REQUIRED), Length(max=254)],
        render_kw={"autocomplete": "username", "inputmode": "email", "autocapitalize": "off"},
    )
    display_name = StringField(
        _l("Display name"),
        validators=[DataRequired(REQUIRED), Length(max=20)],
        render_kw={"autocomplete": "nickname"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(REQUIRED)],
        render_kw={"autocomplete": "new-password"},
        description=_l("At least 8 characters; mix letters and digits."),
    )
    confirm = PasswordField(
        _l("Repeat password"),
        validators=[
            DataRequired(REQUIRED),
            EqualTo("password", message=_l("The two passwords do not match.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    next = HiddenField()


class SignInForm(FlaskForm):
    account = StringField(
        _l("Mobile number or email"),
        validators=[DataRequired(REQUIRED), Length(max=254)],
        render_kw={"autocomplete": "username", "inputmode": "email", "autocapitalize": "off"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(REQUIRED)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()


def phone_field(label=None):
    return StringField(
        label or _l("Mobile number"),
        validators=[Length(max=40)],
        render_kw={"type": "tel", "inputmode": "tel", "autocomplete": "tel"},
    )


def code_field():
    return StringField(
        _l("Verification code"),
        validators=[Length(max=20)],
        render_kw={
            "inputmode": "numeric",
            "autocomplete": "one-time-code",
            "maxlength": 6,
            "pattern": "[0-9]*",
        },
    )


class CodeSignInForm(FlaskForm):
    """Sign in or up with a phone and a code: one form, two buttons (send, sign in)."""

    phone = phone_field()
    code = code_field()
    next = HiddenField()


class PasswordResetForm(FlaskForm):
    phone = phone_field()
    code = code_field()
    new_password = PasswordField(
        _l("New password"),
        render_kw={"autocomplete": "new-password"},
        description=_l("At least 8 characters; mix letters and digits."),
    )
    confirm = PasswordField(
        _l("Repeat new password"),
        validators=[EqualTo("new_password", message=_l("The two passwords do not match."))],
        render_kw={"autocomplete": "new-password"},
    )


class PhoneChangeForm(FlaskForm):
    phone = phone_field(_l("New mobile number"))
    code = code_field()


class DisplayNameForm(FlaskForm):
    display_name = StringField(
        _l("Display name"),
        validators=[DataRequired(REQUIRED), Length(max=20)],
        render_kw={"autocomplete": "nickname"},
    )


class PasswordChangeForm(FlaskForm):
    #: Not asked of an account that has no password yet (made by an SMS code): the view
    #: removes the field then, and requires it otherwise.
    current_password = PasswordField(
        _l("Current password"),
        validators=[Optional()],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = PasswordField(
        _l("New password"),
        validators=[DataRequired(REQUIRED)],
        render_kw={"autocomplete": "new-password"},
        description=_l("At least 8 characters; mix letters and digits."),
    )
    confirm = PasswordField(
        _l("Repeat new password"),
        validators=[
            DataRequired(REQUIRED),
            EqualTo("new_password", message=_l("The two passwords do not match.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class LanguageForm(FlaskForm):
    language = HiddenField()
    next = HiddenField()


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for buttons that change state."""
