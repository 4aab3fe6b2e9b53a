"""Accounts: sign-up rules, sign-in, sessions that can really end, password changes."""

import re
import secrets
import unicodedata
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from shop.accounts.models import User, UserSession
from shop.accounts.session_users import load_session_user as load_session_user
from shop.accounts.session_users import token_hash
from shop.accounts.session_users import touch_session as touch_session
from shop.platform.errors import ValidationError
from shop.platform.extensions import db, passwords

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
MIN_PASSWORD_LENGTH = 8
# The most common passwords in Chinese and English leak lists; refused outright.
COMMON_PASSWORDS = frozenset(
    {
        "password",
        "password1",
        "passw0rd",
        "12345678",
        "123456789",
        "1234567890",
        "11111111",
        "88888888",
        "66666666",
        "00000000",
        "87654321",
        "qwertyui",
        "qwerty123",
        "abc12345",
        "abcd1234",
        "a1234567",
        "1qaz2wsx",
        "iloveyou",
        "woaini1314",
        "woaini520",
        "5201314520",
        "aa123456",
        "zxcvbnm1",
        "admin123",
        "letmein1",
        "welcome1",
        "11223344",
        "asdfghjk",
        "q1w2e3r4",
        "12341234",
    }
)


def normalize_account(raw: str) -> tuple[str, str]:
    """Classify what a person typed as their account: ``("phone", "13800138000")`` or
    ``("email", "a@b.cn")``. Raises ValidationError with a message for the ``account`` field."""
    value = (raw or "").strip()
    if not value:
        raise ValidationError(_l("Enter a mobile number or an email address."), "account")
    if "@" in value:
        try:
            info = validate_email(value, check_deliverability=False)
        except EmailNotValidError:
            raise ValidationError(_l("This email address is not valid."), "account") from None
        return "email", info.normalized.lower()
    digits = re.sub(r"[\s\-()]", "", value)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not PHONE_RE.match(digits):
        raise ValidationError(
            _l("Enter an 11-digit mainland mobile number, e.g. 13800138000."), "account"
        )
    return "phone", digits


def check_password_strength(password: str, *, account: str = "", field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(_l("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH), field)
    if len(password) > 128:
        raise ValidationError(_l("Use at most 128 characters."), field)
    lowered = password.lower()
    if password.isdigit() or lowered in COMMON_PASSWORDS or len(set(password)) < 4:
        raise ValidationError(
            _l("This password is too easy to guess. Mix letters and digits."), field
        )
    if account and account.lower() in lowered:
        raise ValidationError(_l("Do not use your account in your password."), field)


def check_display_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError(_l("Enter a display name."), "display_name")
    if len(name) > 20:
        raise ValidationError(_l("Use at most 20 characters."), "display_name")
    return name


#: Words that make a display name or a shop name read as the platform or its staff speaking;
#: only administrators may use a name containing one. ``check_public_name`` compares them
#: NFKC-normalized, lower-case, without spaces or punctuation, on both sides.
RESERVED_NAME_WORDS = (
    "平台管理员",
    "官方客服",
    "分享小店官方",
    "管理员",
    "管理員",
    "客服",
    "官方",
    "Administrator",
    "admin",
    "Fenxiang official",
)


def _folded(text: str) -> str:
    """``text`` as reserved words are compared: NFKC (full-width "ａｄｍｉｎ" is "admin"),
    lower-case, letters and digits only (so "官 方", "官·方" and "ad-min" match too)."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


def _inside_latin_word(folded: str, start: int, end: int) -> bool:
    """A Latin reserved word with Latin letters on both sides is part of another word
    ("badminton"), not the word itself."""

    def latin(index: int) -> bool:
        return 0 <= index < len(folded) and folded[index].isascii() and folded[index].isalpha()

    return latin(start - 1) and latin(end)


def check_public_name(name: str, *, field: str, by_admin: bool) -> None:
    """Refuse a display or shop name that contains a reserved word (RESERVED_NAME_WORDS)
    unless an administrator chooses it. ValidationError on ``field``."""
    if by_admin:
        return
    folded = _folded(name)
    for word in RESERVED_NAME_WORDS:
        key = _folded(word)
        start = folded.find(key)
        while start != -1:
            if not (key.isascii() and _inside_latin_word(folded, start, start + len(key))):
                raise ValidationError(
                    _l(
                        "Names containing “%(word)s” are kept for the platform's staff. "
                        "Choose another name.",
                        word=word,
                    ),
                    field,
                )
            start = folded.find(key, start + 1)


def find_user_by_account(kind: str, value: str) -> User | None:
    column = User.phone if kind == "phone" else User.email
    return db.session.execute(select(User).where(column == value)).scalar_one_or_none()


def register_user(
    *, account: str, display_name: str, password: str, now: datetime, is_admin: bool = False
) -> User:
    """Create a user (an administrator with ``is_admin``). Raises ValidationError (with the
    field) for any rule broken."""
    kind, value = normalize_account(account)
    display_name = check_display_name(display_name)
    check_public_name(display_name, field="display_name", by_admin=is_admin)
    check_password_strength(password, account=value)
    # Hashed before the first query: on SQLite a POST's first query takes the write lock
    # (shop.web.common), which Argon2's tenth of a second would otherwise hold.
    password_hash = passwords.hash(password)
    if find_user_by_account(kind, value) is not None:
        message = (
            _l("This mobile number is already registered. Sign in instead?")
            if kind == "phone"
            else _l("This email address is already registered. Sign in instead?")
        )
        raise ValidationError(message, "account")
    user = User(
        display_name=display_name,
        password_hash=password_hash,
        is_admin=is_admin,
        created_at=now,
        password_changed_at=now,
        **{kind: value},
    )
    db.session.add(user)
    db.session.flush()
    return user


def authenticate(*, account: str, password: str) -> User | None:
    """The user whose account and password match, or None. Same answer for an unknown
    account and a wrong password, so sign-in does not reveal who is registered.

    Only reads: the sign-in checks the password (Argon2, a tenth of a second or more) in a
    read transaction and writes afterwards in another, with ``rehash`` computed before and
    ``store_rehash`` after, so that on SQLite no writer waits for the check."""
    try:
        kind, value = normalize_account(account)
    except ValidationError:
        return None
    user = find_user_by_account(kind, value)
    if user is None or user.password_hash is None:
        # Spend the same time as a real check. An account made by an SMS code has no password
        # until one is set: no password, whatever is typed, signs it in.
        passwords.hash(password)
        return None
    if not passwords.verify(user.password_hash, password):
        return None
    return user


def rehash(user: User, password: str) -> str | None:
    """For a password just checked: a new hash when the stored one was made with other Argon2
    parameters, else None."""
    return passwords.hash(password) if passwords.needs_rehash(user.password_hash) else None


def store_rehash(user: User, *, checked_hash: str, new_hash: str | None) -> bool:
    """Put ``new_hash`` (from ``rehash``) in place of the hash a sign-in checked. False when
    that hash is no longer the user's (the password changed since the check): the sign-in must
    not go on."""
    if user.password_hash != checked_hash:
        return False
    if new_hash is not None:
        user.password_hash = new_hash
    return True


def confirm_password(user: User, password: str, *, field: str = "password") -> None:
    """Re-authentication before a sensitive change (where payouts go): the signed-in user
    types the password again. ValidationError on ``field`` when it is wrong."""
    if (
        not password
        or user.password_hash is None
        or not passwords.verify(user.password_hash, password)
    ):
        raise ValidationError(_l("The password is wrong."), field)


_token_hash = token_hash


def start_session(
    user: User,
    *,
    now: datetime,
    device: str | None = None,
    address_hash: str | None = None,
) -> str:
    """Open a server-side session for ``user``; returns the token for the cookie. ``device``
    is the family read from the User-Agent (shop.accounts.devices), ``address_hash`` a keyed
    hash of the address (never the address itself)."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        UserSession(
            user_id=user.id,
            token_hash=_token_hash(token),
            created_at=now,
            last_seen_at=now,
            device=device,
            address_hash=address_hash,
        )
    )
    db.session.flush()
    user.session_token = token
    return token


def live_sessions(user: User) -> list[UserSession]:
    return list(
        db.session.execute(
            select(UserSession)
            .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
            .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
        ).scalars()
    )


def end_session(token: str, *, now: datetime) -> None:
    db.session.execute(
        update(UserSession)
        .where(UserSession.token_hash == _token_hash(token), UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def change_password(
    user: User, *, current_password: str | None, new_password: str, now: datetime
) -> None:
    """Set a new password and end every session of the user (the caller signs the device that
    made the change in again, through the one sign-in step). An account without a password
    (made by an SMS code) sets its first one without ``current_password``."""
    if user.password_hash is not None and not passwords.verify(
        user.password_hash, current_password or ""
    ):
        raise ValidationError(_l("The current password is wrong."), "current_password")
    check_password_strength(new_password, account=user.account_label, field="new_password")
    if user.password_hash is not None and passwords.verify(user.password_hash, new_password):
        raise ValidationError(
            _l("The new password must differ from the current one."), "new_password"
        )
    user.password_hash = passwords.hash(new_password)
    user.password_changed_at = now
    db.session.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def set_locale(user: User, locale: str | None) -> None:
    user.locale = locale


def create_admin(*, account: str, display_name: str, password: str, now: datetime) -> User:
    """Make an admin, or raise an existing user to admin when the account already exists."""
    kind, value = normalize_account(account)
    user = find_user_by_account(kind, value)
    if user is None:
        user = register_user(
            account=account, display_name=display_name, password=password, now=now, is_admin=True
        )
    user.is_admin = True
    return user


def lock_account(user_id: int) -> None:
    """Serialize this account's writes that first count or check its own rows (a payout
    against the balance and the hold, the review burst rule, the report limit, a rebate
    hold), so simultaneous requests are ordered instead of all passing the check. SQLite
    already runs one writer at a time (BEGIN IMMEDIATE); PostgreSQL locks the user's row."""
    db.session.execute(select(User.id).where(User.id == user_id).with_for_update())
