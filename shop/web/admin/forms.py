from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from shop.web.forms import FlaskForm


class DecisionForm(FlaskForm):
    action = HiddenField()
    #: The status the admin saw; a decision on a changed merchant is refused.
    expected_status = HiddenField()
    reason = TextAreaField(
        _l("Reason (shown to the merchant)"),
        validators=[Optional(), Length(max=500)],
        render_kw={"rows": 3},
    )


class PayoutDecisionForm(FlaskForm):
    reference = StringField(
        _l("Transfer reference"), validators=[Optional(), Length(max=64)],
        render_kw={"autocomplete": "off"},
    )  # fmt: skip
    reason = StringField(
        _l("Reason (shown to the sharer)"), validators=[Optional(), Length(max=200)]
    )


class RefundOverrideForm(FlaskForm):
    reason = StringField(
        _l("Reason (kept in the audit log)"), validators=[Optional(), Length(max=200)]
    )


class FlagDecisionForm(FlaskForm):
    reason = StringField(
        _l("Reason (kept in the audit log)"), validators=[Optional(), Length(max=200)]
    )


class TeamOverridesForm(FlaskForm):
    reason = StringField(
        _l("Reason (shown to the sharer)"), validators=[Optional(), Length(max=200)]
    )


class AppealDecisionForm(FlaskForm):
    amount = StringField(
        _l("Adjustment (yuan)"),
        validators=[Optional(), Length(max=12)],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    reason = StringField(
        _l("Reason (shown to the sharer)"), validators=[Optional(), Length(max=200)]
    )
