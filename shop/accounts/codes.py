"""SMS verification codes: issuing (with the send limits), checking, and what a checked code
lets a person do (sign in or up, reset the password, change the phone).

A code is 6 digits, valid SMS_CODE_TTL_SECONDS, single use, dead after SMS_CODE_MAX_ATTEMPTS
wrong tries, and bound to one phone and one purpose. Only HMAC-SHA256(secret key, purpose,
phone, code) is stored. A row is written (under the phone's lock, after the limits) before the
message goes out and taken back when the provider fails, so a failed send uses up nothing, and
the rows are what the send limits count."""

import hashlib
import hmac
import secrets
import unicodedata
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update

from shop.accounts import accounts
from shop.accounts.models import SmsCode, User, UserSession
from shop.accounts.phones import normalize_phone
from shop.platform.errors import ValidationError
from shop.platform.extensions import db

PURPOSES = ("signin", "reset", "change_phone")
CODE_LENGTH = 6
_NAME_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


class SendRefused(ValidationError):
    """A send limit: ``retry_after`` seconds until a code may be sent again."""

    def __init__(self, message, field: str, retry_after: int):
        super().__init__(message, field)
        self.retry_after = retry_after


def _setting(name: str):
    return current_app.config[name]


def keyed_hash(*parts: str) -> str:
    """HMAC-SHA256 with the app's secret key: codes and addresses are stored only this way."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, "|".join(parts).encode(), hashlib.sha256).hexdigest()


def address_hash(address: str | None) -> str | None:
    return keyed_hash("address", address) if address else None


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_LENGTH):0{CODE_LENGTH}d}"


def check_send_allowed(phone: str, *, address: str | None, now: datetime) -> None:
    """Raise SendRefused (field "phone") when a code may not be sent to ``phone`` from
    ``address`` now: SMS_SEND_INTERVAL_SECONDS since the last one to this phone, at most
    SMS_SENDS_PER_PHONE_PER_HOUR and SMS_SENDS_PER_PHONE_PER_DAY to it, and at most
    SMS_SENDS_PER_ADDRESS_PER_HOUR from one address."""
    day_ago = now - timedelta(days=1)
    sent = (
        db.session.execute(
            select(SmsCode.sent_at)
            .where(SmsCode.phone == phone, SmsCode.sent_at > day_ago)
            .order_by(SmsCode.sent_at.desc())
        )
        .scalars()
        .all()
    )
    interval = int(_setting("SMS_SEND_INTERVAL_SECONDS"))
    if sent and (now - sent[0]).total_seconds() < interval:
        wait = interval - int((now - sent[0]).total_seconds())
        raise SendRefused(
            _l("A code was just sent. You can ask for another in %(n)d seconds.", n=wait),
            "phone",
            wait,
        )
    hour_ago = now - timedelta(hours=1)
    in_hour = [at for at in sent if at > hour_ago]
    if len(in_hour) >= int(_setting("SMS_SENDS_PER_PHONE_PER_HOUR")):
        wait = int((in_hour[-1] + timedelta(hours=1) - now).total_seconds()) + 1
        raise SendRefused(
            _l(
                "Too many codes were sent to this number. Try again in %(n)d minutes.",
                n=(wait + 59) // 60,
            ),
            "phone",
            wait,
        )
    if len(sent) >= int(_setting("SMS_SENDS_PER_PHONE_PER_DAY")):
        wait = int((sent[-1] + timedelta(days=1) - now).total_seconds()) + 1
        raise SendRefused(
            _l(
                "Too many codes were sent to this number today. Try again tomorrow, "
                "or sign in with your password."
            ),
            "phone",
            wait,
        )
    hashed = address_hash(address)
    if hashed is not None:
        from_address = db.session.execute(
            select(func.count(), func.min(SmsCode.sent_at)).where(
                SmsCode.address_hash == hashed, SmsCode.sent_at > hour_ago
            )
        ).one()
        if from_address[0] >= int(_setting("SMS_SENDS_PER_ADDRESS_PER_HOUR")):
            wait = int((from_address[1] + timedelta(hours=1) - now).total_seconds()) + 1
            raise SendRefused(
                _l(
                    "Too many codes were asked for from this network. Try again in %(n)d minutes.",
                    n=(wait + 59) // 60,
                ),
                "phone",
                wait,
            )


def lock_phone(phone: str) -> None:
    """Serialize the sends of one phone: on PostgreSQL a transaction-scoped advisory lock on
    the number (there may be no row to lock yet); SQLite already runs one writer at a time."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(func.pg_advisory_xact_lock(func.hashtext("sms:" + phone))))


def reserve_code(phone: str, code: str, *, purpose: str, address: str | None, now: datetime):
    """Check the send limits and store the code, under the phone's lock, BEFORE it is sent: two
    sends at once cannot both pass the limits. When the provider then fails, the caller takes
    the row back with ``release_code``, so a failed send uses nothing up. SendRefused when a
    limit says no."""
    lock_phone(phone)
    check_send_allowed(phone, address=address, now=now)
    # This phone's rows older than any limit or code's life count for nothing: keep at most a
    # two days of them (the table holds a few rows per phone, not every send ever).
    db.session.execute(
        delete(SmsCode).where(SmsCode.phone == phone, SmsCode.sent_at < now - timedelta(days=2))
    )
    return record_code(phone, code, purpose=purpose, address=address, now=now)


def release_code(code_id: int) -> None:
    """Take back a reserved code whose message the provider did not accept."""
    db.session.execute(delete(SmsCode).where(SmsCode.id == code_id, SmsCode.used_at.is_(None)))


def record_code(phone: str, code: str, *, purpose: str, address: str | None, now: datetime):
    """Store a code (its hash only); it replaces nothing: the newest code of a phone and
    purpose is the one checked."""
    assert purpose in PURPOSES
    row = SmsCode(
        phone=phone,
        purpose=purpose,
        code_hash=keyed_hash("code", purpose, phone, code),
        address_hash=address_hash(address),
        sent_at=now,
        expires_at=now + timedelta(seconds=int(_setting("SMS_CODE_TTL_SECONDS"))),
        attempts=0,
    )
    db.session.add(row)
    db.session.flush()
    return row


def use_code(phone: str, code: str, *, purpose: str, now: datetime, field: str = "code") -> None:
    """Check ``code`` against the newest code sent to ``phone`` for ``purpose`` and use it up.

    Raises ValidationError on ``field`` with what is wrong: none sent (or sent to another
    number), expired, used, too many tries, or wrong (counted: the caller commits even then)."""
    code = "".join(ch for ch in unicodedata.normalize("NFKC", code or "") if not ch.isspace())
    if len(code) != CODE_LENGTH or not code.isascii() or not code.isdigit():
        raise ValidationError(_l("Enter the 6-digit code from the text message."), field)
    row = db.session.execute(
        select(SmsCode)
        .where(SmsCode.phone == phone, SmsCode.purpose == purpose)
        .order_by(SmsCode.sent_at.desc(), SmsCode.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    max_attempts = int(_setting("SMS_CODE_MAX_ATTEMPTS"))
    if row is None or row.sent_at < now - timedelta(days=1):
        raise ValidationError(
            _l("No code was sent to this number. Check the number, then tap “Get code”."), field
        )
    if row.used_at is not None:
        raise ValidationError(_l("This code has already been used. Get a new one."), field)
    if row.attempts >= max_attempts:
        raise ValidationError(_l("Too many wrong tries for this code. Get a new one."), field)
    if row.expires_at <= now:
        raise ValidationError(_l("This code has expired. Get a new one."), field)
    if not hmac.compare_digest(row.code_hash, keyed_hash("code", purpose, phone, code)):
        left = max_attempts - row.attempts - 1
        db.session.execute(
            update(SmsCode)
            .where(SmsCode.id == row.id, SmsCode.attempts < max_attempts)
            .values(attempts=SmsCode.attempts + 1)
        )
        if left <= 0:
            raise ValidationError(_l("Too many wrong tries for this code. Get a new one."), field)
        raise ValidationError(
            _l("The code is wrong. %(n)d tries left for this code.", n=left), field
        )
    used = db.session.execute(
        update(SmsCode)
        .where(
            SmsCode.id == row.id,
            SmsCode.used_at.is_(None),
            SmsCode.attempts < max_attempts,
        )
        .values(used_at=now)
    ).rowcount
    if used != 1:  # a simultaneous request used it first
        raise ValidationError(_l("This code has already been used. Get a new one."), field)


def generated_display_name() -> str:
    """用户 + 6 random letters and digits: says nothing about the number; changeable later."""
    return "用户" + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(6))


def sign_in_or_up(phone: str, code: str, *, now: datetime) -> tuple[User, bool]:
    """The account of ``phone`` after its sign-in code checks out, made (without a password,
    with a generated display name) when the number is new. Returns (user, created)."""
    phone = normalize_phone(phone)
    use_code(phone, code, purpose="signin", now=now)
    user = accounts.find_user_by_account("phone", phone)
    if user is not None:
        return user, False
    user = User(
        phone=phone,
        display_name=generated_display_name(),
        password_hash=None,
        created_at=now,
        password_changed_at=now,
    )
    db.session.add(user)
    db.session.flush()
    return user, True


def reset_password(phone: str, code: str, new_password: str, *, now: datetime) -> User:
    """Set a new password after a reset code checks out, and end every session of the account
    (the caller starts the one of this device). ValidationError when the code or the password
    is refused; a number without an account gets the same answer as a wrong code never sent."""
    phone = normalize_phone(phone)
    accounts.check_password_strength(new_password, account=phone, field="new_password")
    password_hash = accounts.passwords.hash(new_password)
    use_code(phone, code, purpose="reset", now=now)
    user = accounts.find_user_by_account("phone", phone)
    if user is None:
        raise ValidationError(_l("No account uses this mobile number."), "phone")
    user.password_hash = password_hash
    user.password_changed_at = now
    end_all_sessions(user, now=now)
    return user


def end_all_sessions(user: User, *, now: datetime, keep_token: str | None = None) -> int:
    """Revoke every live session of ``user`` but the one of ``keep_token``; how many ended."""
    query = update(UserSession).where(
        UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
    )
    if keep_token:
        query = query.where(UserSession.token_hash != accounts.token_hash(keep_token))
    return db.session.execute(query.values(revoked_at=now)).rowcount


def check_new_phone(user: User, raw: str, *, field: str = "phone") -> str:
    """The normalized new number for ``user``, refused when it is the current one or belongs
    to another account (before any code is sent to it)."""
    phone = normalize_phone(raw, field=field)
    if phone == user.phone:
        raise ValidationError(_l("This is already your mobile number."), field)
    owner = accounts.find_user_by_account("phone", phone)
    if owner is not None and owner.id != user.id:
        raise ValidationError(
            _l("This number belongs to another account. Sign in with it, or use another number."),
            field,
        )
    return phone


def change_phone(user: User, raw: str, code: str, *, now: datetime) -> str:
    """Move ``user`` to a new phone after the code sent to the NEW number checks out."""
    phone = check_new_phone(user, raw)
    use_code(phone, code, purpose="change_phone", now=now)
    accounts.lock_account(user.id)
    user.phone = phone
    db.session.flush()
    return phone
