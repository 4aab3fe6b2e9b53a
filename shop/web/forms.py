"""The project's form base: Flask-WTF's ``FlaskForm``, plus a message at any field whose value
had NUL characters.

The request parser has already taken the NUL characters out (``shop.platform.inputs``), so
nothing can store them; a form built on this class also refuses the submission once, with the
message at the field and the rest of the text kept, so the person sees what they send.
"""

from babel import support
from flask import current_app, g, has_request_context, request, session
from flask_babel import get_locale, get_translations
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm as _FlaskForm
from flask_wtf.csrf import _FlaskFormCSRF, generate_csrf
from markupsafe import Markup, escape
from wtforms.i18n import messages_path
from wtforms.widgets import HiddenInput

from shop.web.common import page_translations

NUL_MESSAGE = _l(
    "This field contained invisible control characters. They have been removed: check the "
    "text and send it again."
)


class _WTFormsMessages:
    """WTForms' own messages ("This field is required.") in the request's language, each
    language's catalogue read once per process (Flask-WTF reads and parses the file again in
    every request that builds a form)."""

    def __init__(self):
        self._by_locale: dict[str, support.Translations] = {}

    def _catalogue(self) -> support.Translations:
        locale = str(get_locale())
        found = self._by_locale.get(locale)
        if found is None:
            found = support.Translations.load(messages_path(), [locale], domain="wtforms")
            self._by_locale[locale] = found
        return found

    def gettext(self, string):
        return self._catalogue().ugettext(string)

    def ngettext(self, singular, plural, n):
        return self._catalogue().ungettext(singular, plural, n)


_MESSAGES = _WTFormsMessages()

#: (catalogue, lazy string) -> its text (``choice_label``), per process.
_LABELS: dict[tuple[int, int], tuple] = {}
_LABELS_MAX = 512


def choice_label(text) -> str:
    """``str(text)`` for a lazily translated string made once per process (a payment
    provider's name, a form field's label or placeholder: templates call it ``lazy_text``),
    kept per catalogue: resolving a lazy string goes through Flask-Babel's domain and locale
    lookups each time."""
    translations = page_translations()
    key = (id(translations), id(text))
    found = _LABELS.get(key)
    if found is None:
        text_now = str(text)
        if get_translations() is not translations:
            return text_now  # another language for now (force_locale): not filed under this
        if len(_LABELS) >= _LABELS_MAX:
            _LABELS.clear()
        # The catalogue and the string are kept with the text: their ids stay theirs.
        found = _LABELS[key] = (translations, text, text_now)
    return found[2]


#: (secret, session's raw token) -> the signed form token (``csrf_token``), per process.
_SIGNED: dict[tuple[str, str], str] = {}
_SIGNED_MAX = 4096


def csrf_token() -> str:
    """Flask-WTF's ``generate_csrf()`` (the form token of the session's raw token, signed),
    the signed token kept per raw token when tokens do not expire (WTF_CSRF_TIME_LIMIT None,
    as configured: a token lives as long as the session): signing it again on every page
    that shows a form was most of what the token cost. A token is valid for as long either way
    (only the raw token in the session is compared; the signature only proves it is ours)."""
    config = current_app.config
    name = config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    found = g.get(name)
    if found is not None:
        return found
    if config.get("WTF_CSRF_TIME_LIMIT", 3600) is not None:
        return generate_csrf()
    raw = session.get(name)
    found = _SIGNED.get((_csrf_secret(), raw)) if raw else None
    if found is not None:
        setattr(g, name, found)
        return found
    found = generate_csrf()  # signs (and makes the session's raw token when it has none)
    raw = session.get(name)
    if raw:
        if len(_SIGNED) >= _SIGNED_MAX:
            _SIGNED.clear()
        _SIGNED[(_csrf_secret(), raw)] = found
    return found


def _csrf_secret() -> str:
    return current_app.config.get("WTF_CSRF_SECRET_KEY", current_app.secret_key)


class _FormCSRF(_FlaskFormCSRF):
    """Flask-WTF's form token, through ``csrf_token`` for a form with the app's settings."""

    def generate_csrf_token(self, csrf_token_field):
        meta, config = self.meta, current_app.config
        if (
            meta.csrf_secret == _csrf_secret()
            and meta.csrf_field_name == config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
            and meta.csrf_time_limit == config.get("WTF_CSRF_TIME_LIMIT", 3600)
        ):  # the settings' secret, field name and time limit (a form's Meta, or the options
            # it was made with, may set its own), as csrf_token reads them
            return csrf_token()
        return super().generate_csrf_token(csrf_token_field)


class FlaskForm(_FlaskForm):
    class Meta(_FlaskForm.Meta):
        csrf_class = _FormCSRF

        def get_translations(self, form):
            if not has_request_context() or not current_app.config.get("WTF_I18N_ENABLED", True):
                return super().get_translations(form)
            # The request's catalogue, looked up once per form (not once per field: WTForms
            # translates the default label of every field without one).
            return _MESSAGES._catalogue()

    def hidden_tag(self, *fields):
        """Flask-WTF's ``hidden_tag`` (the form's hidden fields, or those of ``fields``), the
        same markup written directly: a plain hidden field's attributes are known (WTForms
        builds them through its general attribute writer, a tenth of the checkout page's
        render). A field with anything more (render_kw, flags) is rendered by WTForms."""
        out = []
        for field in fields or self:
            if isinstance(field, str):
                field = getattr(self, field, None)
            if field is None or not isinstance(field.widget, HiddenInput):
                continue
            if type(field.widget) is not HiddenInput or field.render_kw or field.flags.disabled:
                out.append(str(field))
                continue
            out.append(
                f'<input id="{escape(field.id)}" name="{escape(field.name)}" type="hidden" '
                f'value="{escape(field._value())}">'
            )
        return Markup("\n".join(out))

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in self._nul_fields():
            field.errors = [*field.errors, NUL_MESSAGE]
            valid = False
        return valid

    def _nul_fields(self):
        if not has_request_context() or not self.is_submitted():
            return []
        names = getattr(request.form, "nul_keys", ())
        # Hidden fields are the page's own values, never typed: taken out without a word.
        return [
            f for f in self if f.name in names and f.type not in ("HiddenField", "CSRFTokenField")
        ]
