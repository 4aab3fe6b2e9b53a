from flask_babel import lazy_gettext as _l
from wtforms import StringField

from shop.web.forms import FlaskForm


class WebhookForm(FlaskForm):
    url = StringField(
        _l("Webhook address"),
        description=_l("An https:// address on the internet. We POST signed JSON to it."),
        render_kw={
            "type": "url",
            "inputmode": "url",
            "autocapitalize": "off",
            "autocomplete": "off",
            "spellcheck": "false",
            "placeholder": "https://example.com/hooks/fenxiang",
        },
    )


class WecomForm(FlaskForm):
    key = StringField(
        _l("WeCom group bot"),
        description=_l("The bot's webhook address from the WeCom group settings, or its key."),
        render_kw={"autocapitalize": "off", "autocomplete": "off", "spellcheck": "false"},
    )


class EmptyForm(FlaskForm):
    """Only the CSRF token, for buttons that change state."""
