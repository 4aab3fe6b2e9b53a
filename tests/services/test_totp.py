"""The staff second factor (shop.accounts.totp) with explicit times: codes in the window,
a used step refused, recovery codes once each, audit rows, the reset."""

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select

from shop.accounts import totp
from shop.accounts.signin_models import RecoveryCode, SecondFactor
from shop.platform.errors import PermissionDenied, ValidationError
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from tests.factories import make_user

NOW = datetime(2026, 12, 6, 8, 0, 10)  # 10 s into a 30-second step


def code_at(factor, moment: datetime) -> str:
    return pyotp.TOTP(factor.secret).at(moment.replace(tzinfo=UTC))


def enrolled(user, now=NOW):
    factor = totp.begin_enrolment(user, now=now)
    codes = totp.confirm_enrolment(user, code_at(factor, now), now=now)
    return factor, codes


def audits(action):
    return db.session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars().all()


def test_enrolment_needs_a_right_code_and_gives_ten_hashed_recovery_codes(ctx):
    user = make_user(is_admin=True)
    factor = totp.begin_enrolment(user, now=NOW)
    assert totp.begin_enrolment(user, now=NOW).secret == factor.secret  # a reload: same QR
    assert not totp.is_enrolled(user)
    with pytest.raises(ValidationError) as wrong:
        totp.confirm_enrolment(user, "000000" if code_at(factor, NOW) != "000000" else "111111",
                               now=NOW)  # fmt: skip
    assert wrong.value.field == "code"
    codes = totp.confirm_enrolment(user, code_at(factor, NOW), now=NOW)
    assert totp.is_enrolled(user)
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = db.session.execute(select(RecoveryCode.code_hash)).scalars().all()
    assert len(stored) == 10
    assert not any(code.replace("-", "") in h for code in codes for h in stored)
    (entry,) = audits("second_factor.enrol")
    assert entry.actor_id == user.id and entry.object_id == user.id
    with pytest.raises(PermissionDenied):
        totp.begin_enrolment(user, now=NOW)


def test_code_of_the_step_before_and_after_is_accepted_not_two_steps_away(ctx):
    user = make_user(is_admin=True)
    factor, _codes = enrolled(user, NOW - timedelta(minutes=5))
    later = NOW + timedelta(seconds=30)
    assert totp.verify(user, code_at(factor, later - timedelta(seconds=30)), now=later) == "totp"
    assert totp.verify(user, code_at(factor, later + timedelta(seconds=30)), now=later) == "totp"
    far = code_at(factor, later + timedelta(seconds=90))
    if far not in {code_at(factor, later + timedelta(seconds=s)) for s in (-30, 0, 30)}:
        with pytest.raises(ValidationError):
            totp.verify(user, far, now=later)


def test_a_code_of_a_used_step_is_refused(ctx):
    user = make_user(is_admin=True)
    factor, _codes = enrolled(user, NOW - timedelta(minutes=5))
    code = code_at(factor, NOW)
    assert totp.verify(user, code, now=NOW) == "totp"
    with pytest.raises(ValidationError, match="已使用"):
        totp.verify(user, code, now=NOW)
    # An earlier step than the last one used is refused too (within the window).
    with pytest.raises(ValidationError):
        totp.verify(user, code_at(factor, NOW - timedelta(seconds=30)), now=NOW)
    assert (
        db.session.get(SecondFactor, factor.id).last_used_step
        == int(NOW.replace(tzinfo=UTC).timestamp()) // 30
    )


def test_wrong_code_is_refused_with_a_field_message(ctx):
    user = make_user(is_admin=True)
    factor, _codes = enrolled(user, NOW - timedelta(minutes=5))
    right = code_at(factor, NOW)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    with pytest.raises(ValidationError) as error:
        totp.verify(user, wrong, now=NOW)
    assert error.value.field == "code"
    with pytest.raises(ValidationError):
        totp.verify(user, "12345", now=NOW)


def test_recovery_code_works_once_and_is_audited(ctx):
    user = make_user(is_admin=True)
    _factor, codes = enrolled(user)
    assert totp.verify(user, codes[3].upper().replace("-", " "), now=NOW) == "recovery"
    with pytest.raises(ValidationError, match="已使用"):
        totp.verify(user, codes[3], now=NOW)
    assert totp.unused_recovery_codes(user) == 9
    (entry,) = audits("second_factor.recovery_use")
    assert entry.after == {"recovery_codes": 9}


def test_new_recovery_codes_need_a_current_code_and_replace_the_old(ctx):
    user = make_user(is_admin=True)
    factor, old = enrolled(user, NOW - timedelta(minutes=5))
    with pytest.raises(ValidationError):
        totp.regenerate_recovery_codes(user, old[0], now=NOW)
    new = totp.regenerate_recovery_codes(user, code_at(factor, NOW), now=NOW)
    assert set(new).isdisjoint(old)
    with pytest.raises(ValidationError):
        totp.verify(user, old[1], now=NOW)
    assert totp.verify(user, new[1], now=NOW) == "recovery"
    assert len(audits("second_factor.recovery_new")) == 1


def test_reset_by_another_admin_is_audited_with_the_reason(ctx):
    admin, other = make_user(is_admin=True), make_user(is_admin=True)
    enrolled(other)
    with pytest.raises(ValidationError):
        totp.reset(other, actor=admin, reason=" ", now=NOW)
    with pytest.raises(PermissionDenied):
        totp.reset(other, actor=make_user(), reason="lost phone", now=NOW)
    with pytest.raises(PermissionDenied):
        totp.reset(admin, actor=admin, reason="lost phone", now=NOW)
    totp.reset(other, actor=admin, reason="lost phone, checked by video call", now=NOW)
    assert not totp.is_enrolled(other) and totp.factor_of(other) is None
    assert totp.unused_recovery_codes(other) == 0
    (entry,) = audits("second_factor.reset")
    assert (entry.actor_id, entry.object_id) == (admin.id, other.id)
    assert entry.reason == "lost phone, checked by video call"
    assert entry.before["enrolled"] is True


def test_requirement_covers_admins_when_on_and_anyone_enrolled(ctx):
    admin, merchant_user = make_user(is_admin=True), make_user()
    assert totp.required_for(admin, admins_required=True)
    assert not totp.required_for(admin, admins_required=False)
    assert not totp.required_for(merchant_user, admins_required=True)
    enrolled(merchant_user)
    assert totp.required_for(merchant_user, admins_required=False)


def test_qr_is_a_png_data_uri():
    uri = totp.qr_data_uri("otpauth://totp/x?secret=ABC")
    assert uri.startswith("data:image/png;base64,iVBOR")


def test_two_requests_with_the_same_code_pass_once(app):
    import threading

    from shop.accounts.models import User
    from shop.platform import db as dbsetup

    with app.app_context():
        user = make_user(is_admin=True)
        factor, _codes = enrolled(user, NOW - timedelta(minutes=5))
        code, user_id = code_at(factor, NOW), user.id
        db.session.commit()
    barrier, results = threading.Barrier(2), []

    def attempt():
        with app.app_context(), dbsetup.writing():
            barrier.wait()
            try:
                results.append(totp.verify(db.session.get(User, user_id), code, now=NOW))
                db.session.commit()
            except ValidationError:
                db.session.rollback()
                results.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(results) == ["refused", "totp"]
