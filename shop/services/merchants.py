"""Merchant rules. The first one: the unified social credit code (统一社会信用代码)."""

from flask_babel import lazy_gettext as _l

from shop.errors import ValidationError

#: GB 32100-2015: 31 characters (no I, O, Z, S, V), weights for the first 17 positions.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def normalize_licence_no(raw: str, field: str = "licence_no") -> str:
    """An 18-character code with a correct check character, upper-cased; else ValidationError."""
    code = "".join((raw or "").split()).upper()
    if len(code) != 18:
        raise ValidationError(_l("The code has 18 characters."), field)
    if any(c not in USCC_ALPHABET for c in code):
        raise ValidationError(
            _l("The code uses digits and capital letters except I, O, Z, S and V."), field
        )
    if uscc_check_char(code[:17]) != code[17]:
        raise ValidationError(
            _l("The check character does not match. Please copy the code from the licence."),
            field,
        )
    return code
