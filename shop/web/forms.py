"""The project's form base: Flask-WTF's ``FlaskForm``, plus a message at any field whose value
had NUL characters.

The request parser has already taken the NUL characters out (``shop.platform.inputs``), so
nothing can store them; a form built on this class also refuses the submission once, with the
message at the field and the rest of the text kept, so the person sees what they send.
"""

from flask import has_request_context, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm as _FlaskForm

NUL_MESSAGE = _l(
    "This field contained invisible control characters. They have been removed: check the "
    "text and send it again."
)


class FlaskForm(_FlaskForm):
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
