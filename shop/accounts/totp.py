"""The staff second factor: a TOTP authenticator app (RFC 6238 through pyotp) and ten one-time
recovery codes.

Who needs it: an administrator when STAFF_TOTP_REQUIRED is on, and anyone who enrolled (a
merchant may choose to). ``required_for`` answers; the web layer asks for a code after the
password. Every enrolment, recovery code used, regeneration and reset writes an audit row in
the same transaction (``shop.platform.audit``).

A code is accepted for the current 30-second step and one step either side (clocks drift),
and never for a step at or before the last one accepted (``last_used_step``, moved by a
guarded UPDATE, so two requests with the same code cannot both pass)."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import secrets
from datetime import UTC, datetime

import pyotp
from flask_babel import lazy_gettext as _l
from pyotp.utils import strings_equal
from sqlalchemy import delete, func, select, update

from shop.accounts.models import User
from shop.accounts.signin_models import RecoveryCode, SecondFactor
from shop.platform import audit
from shop.platform.errors import PermissionDenied, ValidationError
from shop.platform.extensions import db

STEP_SECONDS = 30
#: Steps either side of the current one that are still accepted.
VALID_WINDOW = 1
RECOVERY_CODE_COUNT = 10
#: Recovery codes: 10 characters from an alphabet without look-alikes (~50 bits), shown as
#: two groups of five ("k7m2p-x9c4r").
RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
_NOT_CODE = re.compile(r"[\s\-]")


def factor_of(user: User) -> SecondFactor | None:
    return db.session.execute(
        select(SecondFactor).where(SecondFactor.user_id == user.id)
    ).scalar_one_or_none()


def is_enrolled(user: User) -> bool:
    factor = factor_of(user)
    return factor is not None and factor.confirmed_at is not None


def required_for(user: User, *, admins_required: bool) -> bool:
    """Whether ``user`` must pass the second step to sign in: anyone enrolled, and every
    administrator when ``admins_required`` (STAFF_TOTP_REQUIRED) is on."""
    return is_enrolled(user) or (user.is_admin and admins_required)


def _step(now: datetime) -> int:
    return int(now.replace(tzinfo=UTC).timestamp()) // STEP_SECONDS


def begin_enrolment(user: User, *, now: datetime) -> SecondFactor:
    """A new, unconfirmed secret for ``user`` (or the unconfirmed one already started, so a
    reloaded page shows the same QR). PermissionDenied when a factor is already confirmed:
    it must be reset first."""
    factor = factor_of(user)
    if factor is not None and factor.confirmed_at is not None:
        raise PermissionDenied(_l("Two-step verification is already set up for this account."))
    if factor is None:
        factor = SecondFactor(user_id=user.id, secret=pyotp.random_base32(), created_at=now)
        db.session.add(factor)
        db.session.flush()
    return factor


def provisioning_uri(user: User, factor: SecondFactor, *, issuer: str) -> str:
    return pyotp.TOTP(factor.secret).provisioning_uri(name=user.account_label, issuer_name=issuer)


def qr_data_uri(text: str) -> str:
    """``text`` as a QR code PNG in a ``data:`` URI (the CSP allows ``img-src data:``): the
    secret never goes into a URL or a file another request could fetch."""
    import qrcode  # it loads Pillow: only for the rare page that shows a code

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=6, border=4)
    qr.add_data(text)
    qr.make(fit=True)
    out = io.BytesIO()
    qr.make_image().save(out)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    code = _NOT_CODE.sub("", code or "")
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret)
    current = _step(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if strings_equal(totp.generate_otp(step), code):
            return step
    return None


def _use_step(factor: SecondFactor, step: int) -> bool:
    """Record ``step`` as used unless it (or a later one) already was; False when it was."""
    result = db.session.execute(
        update(SecondFactor)
        .where(
            SecondFactor.id == factor.id,
            (SecondFactor.last_used_step.is_(None)) | (SecondFactor.last_used_step < step),
        )
        .values(last_used_step=step)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    factor.last_used_step = step
    return True


def _check_totp(factor: SecondFactor, code: str, *, now: datetime, field: str) -> None:
    step = _matching_step(factor.secret, code, now)
    if step is None:
        raise ValidationError(
            _l("This code is not right. Enter the 6 digits your app shows now."), field
        )
    if not _use_step(factor, step):
        raise ValidationError(
            _l("This code was already used. Wait for the next code in your app."), field
        )


def new_recovery_codes(user: User, *, now: datetime) -> list[str]:
    """Replace the user's recovery codes by ten new ones; returns them (shown once)."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_recovery_hash(raw), created_at=now))
    db.session.flush()
    return codes


def _recovery_hash(code: str) -> str:
    return hashlib.sha256(_NOT_CODE.sub("", code).lower().encode()).hexdigest()


def unused_recovery_codes(user: User) -> int:
    return db.session.execute(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ).scalar_one()


def confirm_enrolment(user: User, code: str, *, now: datetime) -> list[str]:
    """Finish enrolment with the first code from the app; returns the ten recovery codes.
    ValidationError on ``code`` when it is wrong; PermissionDenied when there is nothing to
    confirm."""
    factor = factor_of(user)
    if factor is None or factor.confirmed_at is not None:
        raise PermissionDenied(_l("Start the set-up again: there is nothing to confirm."))
    _check_totp(factor, code, now=now, field="code")
    factor.confirmed_at = now
    codes = new_recovery_codes(user, now=now)
    audit.record(
        actor=user,
        action="second_factor.enrol",
        object_type="user",
        object_id=user.id,
        before={"enrolled": False},
        after={"enrolled": True, "recovery_codes": len(codes)},
        reason=None,
        now=now,
    )
    return codes


def verify(user: User, code: str, *, now: datetime) -> str:
    """The second step of a sign-in: a code from the app (6 digits) or an unused recovery
    code. Returns ``"totp"`` or ``"recovery"``; ValidationError on ``code`` otherwise."""
    factor = factor_of(user)
    if factor is None or factor.confirmed_at is None:
        raise PermissionDenied(_l("Two-step verification is not set up for this account."))
    cleaned = _NOT_CODE.sub("", code or "")
    if cleaned.isdigit():
        _check_totp(factor, cleaned, now=now, field="code")
        return "totp"
    used = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _recovery_hash(cleaned),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:
        raise ValidationError(
            _l("This recovery code is wrong or was already used. Each code works once."), "code"
        )
    left = unused_recovery_codes(user)
    audit.record(
        actor=user,
        action="second_factor.recovery_use",
        object_type="user",
        object_id=user.id,
        before={"recovery_codes": left + 1},
        after={"recovery_codes": left},
        reason=None,
        now=now,
    )
    return "recovery"


def regenerate_recovery_codes(user: User, code: str, *, now: datetime) -> list[str]:
    """Ten new recovery codes (the old ones stop working) after a current code from the
    app. ValidationError on ``code`` when it is wrong or already used."""
    factor = factor_of(user)
    if factor is None or factor.confirmed_at is None:
        raise PermissionDenied(_l("Two-step verification is not set up for this account."))
    _check_totp(factor, code, now=now, field="code")
    before = unused_recovery_codes(user)
    codes = new_recovery_codes(user, now=now)
    audit.record(
        actor=user,
        action="second_factor.recovery_new",
        object_type="user",
        object_id=user.id,
        before={"recovery_codes": before},
        after={"recovery_codes": len(codes)},
        reason=None,
        now=now,
    )
    return codes


def reset(target: User, *, actor: User, reason: str, now: datetime) -> None:
    """An administrator removes another person's second factor (a lost phone and lost
    recovery codes); they enrol again at their next sign-in. Audited with the reason.
    PermissionDenied for a non-admin or for one's own account; ValidationError on ``reason``."""
    if not actor.is_admin:
        raise PermissionDenied(_l("Only an administrator can reset two-step verification."))
    if actor.id == target.id:
        raise PermissionDenied(
            _l("You cannot reset your own two-step verification; ask another administrator.")
        )
    reason = " ".join((reason or "").split())
    if len(reason) < 4:
        raise ValidationError(
            _l("Say why (at least 4 characters); it goes in the audit log."), "reason"
        )
    if len(reason) > 500:
        raise ValidationError(_l("Use at most 500 characters."), "reason")
    factor = factor_of(target)
    if factor is None:
        raise PermissionDenied(_l("This account has no two-step verification to reset."))
    was = {
        "enrolled": factor.confirmed_at is not None,
        "recovery_codes": unused_recovery_codes(target),
    }
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == target.id))
    db.session.delete(factor)
    db.session.flush()
    audit.record(
        actor=actor,
        action="second_factor.reset",
        object_type="user",
        object_id=target.id,
        before=was,
        after={"enrolled": False, "recovery_codes": 0},
        reason=reason,
        now=now,
    )


def enrolled_users() -> list[tuple[User, SecondFactor]]:
    """Everyone with a second factor (confirmed or started), for the admin's list."""
    return list(
        db.session.execute(
            select(User, SecondFactor)
            .join(SecondFactor, SecondFactor.user_id == User.id)
            .order_by(User.id)
        ).all()
    )
