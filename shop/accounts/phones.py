"""Mobile numbers as people type them: "+86 138-0013-8000", "１３８ ００１３ ８０００", and the
numbers codes cannot go to (landlines, short numbers), each with its own field message."""

import re
import unicodedata

from flask_babel import lazy_gettext as _l

from shop.platform.errors import ValidationError

MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
_SEPARATORS = re.compile(r"[\s\-()._/]")


def normalize_phone(raw: str, *, field: str = "phone") -> str:
    """The 11-digit mainland mobile number in ``raw``. Accepts +86 / 0086 / 86 in front, spaces,
    dashes, brackets and full-width digits (NFKC). ValidationError on ``field`` otherwise."""
    value = unicodedata.normalize("NFKC", raw or "").strip()
    if not value:
        raise ValidationError(_l("Enter your mobile number."), field)
    digits = _SEPARATORS.sub("", value)
    if digits.startswith("+"):
        digits = digits[1:]
        if not digits.startswith("86"):
            raise ValidationError(
                _l("Only mainland China mobile numbers (+86) can receive codes here."), field
            )
        digits = digits[2:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not (digits.isascii() and digits.isdigit()):  # NFKC made full-width digits ASCII
        raise ValidationError(_l("A mobile number has digits only, e.g. 13800138000."), field)
    if digits.startswith("0") or (len(digits) in (7, 8) and not digits.startswith("1")):
        raise ValidationError(
            _l(
                "This looks like a landline number. Codes are sent by text message: "
                "enter a mobile number starting with 1."
            ),
            field,
        )
    if len(digits) < 11:
        raise ValidationError(
            _l("A mobile number has 11 digits; this one has %(n)d.", n=len(digits)), field
        )
    if not MOBILE_RE.match(digits):
        raise ValidationError(
            _l("Enter an 11-digit mainland mobile number, e.g. 13800138000."), field
        )
    return digits


def mask(phone: str) -> str:
    """138****8000, for pages and messages that need not show the whole number."""
    return f"{phone[:3]}****{phone[-4:]}" if phone and len(phone) == 11 else phone or ""
