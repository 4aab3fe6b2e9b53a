import threading
from datetime import datetime, timedelta

import pytest

from shop.catalog import merchants
from shop.catalog.models import Merchant, MerchantStatus
from shop.platform.errors import Conflict, InvalidTransition, PermissionDenied, ValidationError
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from tests.factories import make_category, make_merchant, make_user, png_bytes

NOW = datetime(2026, 11, 24, 9, 0, 0)
ADMIN_ACTIONS = ["approve", "reject", "suspend", "reinstate"]


def application(category_id=None, **overrides):
    fields = {
        "name": "山野茶舍",
        "licence_no": "91350100M000100Y43",
        "contact_name": "陈先生",
        "contact_phone": "13800138000",
        "category_id": category_id,
        "description": "自有茶园",
    }
    fields.update(overrides)
    return merchants.Application(**fields)


def audit_rows():
    return db.session.execute(db.select(AuditEntry).order_by(AuditEntry.id)).scalars().all()


@pytest.mark.parametrize("status", list(MerchantStatus))
@pytest.mark.parametrize("action", ADMIN_ACTIONS)
def test_every_admin_decision_pair(ctx, status, action):
    admin = make_user(is_admin=True)
    merchant = make_merchant(status=status)
    target = merchants.TRANSITIONS.get((status, action))
    if target is None:
        with pytest.raises(InvalidTransition):
            merchants.decide(merchant, action, actor=admin, reason="理由", now=NOW)
        assert merchant.status == status
        assert audit_rows() == []
        return
    merchants.decide(merchant, action, actor=admin, reason="资料不全", now=NOW)
    db.session.expire_all()
    stored = db.session.get(Merchant, merchant.id)
    assert stored.status == target and stored.decided_at == NOW
    assert stored.status_reason == ("资料不全" if action in ("reject", "suspend") else None)
    (entry,) = audit_rows()
    assert (entry.actor_id, entry.action, entry.object_type, entry.object_id) == (
        admin.id,
        f"merchant.{action}",
        "merchant",
        merchant.id,
    )
    assert entry.before["status"] == status.value and entry.after["status"] == target.value
    assert entry.created_at == NOW


@pytest.mark.parametrize("action", ["reject", "suspend"])
@pytest.mark.parametrize("reason", [None, "", "   "])
def test_reject_and_suspend_need_a_reason(ctx, action, reason):
    admin = make_user(is_admin=True)
    status = MerchantStatus.PENDING if action == "reject" else MerchantStatus.APPROVED
    merchant = make_merchant(status=status)
    with pytest.raises(ValidationError) as caught:
        merchants.decide(merchant, action, actor=admin, reason=reason, now=NOW)
    assert caught.value.field == "reason"
    assert merchant.status == status and audit_rows() == []


def test_only_admins_decide(ctx):
    merchant = make_merchant(status=MerchantStatus.PENDING)
    with pytest.raises(PermissionDenied):
        merchants.decide(merchant, "approve", actor=merchant.user, now=NOW)
    with pytest.raises(PermissionDenied):
        merchants.decide(merchant, "resubmit", actor=make_user(is_admin=True), now=NOW)


def test_a_decision_on_a_status_the_admin_did_not_see_is_refused(ctx):
    admin = make_user(is_admin=True)
    merchant = make_merchant(status=MerchantStatus.APPROVED)
    with pytest.raises(Conflict):
        merchants.decide(
            merchant, "approve", actor=admin, expected_status=MerchantStatus.PENDING, now=NOW
        )


def test_guarded_update_refuses_a_stale_object(ctx):
    admin = make_user(is_admin=True)
    merchant = make_merchant(status=MerchantStatus.PENDING)
    db.session.flush()
    # Someone else rejects it behind this object's back.
    db.session.execute(
        db.update(Merchant)
        .where(Merchant.id == merchant.id)
        .values(status="rejected")
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(Conflict):
        merchants.decide(merchant, "approve", actor=admin, now=NOW)
    assert audit_rows() == []


def test_two_admins_deciding_at_once_make_exactly_one_decision(app):
    with app.app_context():
        first, second = make_user(is_admin=True), make_user(is_admin=True)
        merchant = make_merchant(status=MerchantStatus.PENDING)
        db.session.commit()
        ids = (first.id, second.id, merchant.id)
    barrier = threading.Barrier(2)
    outcomes = []

    def decide(admin_id, action):
        from shop.platform.db import writing

        with app.app_context(), writing():
            barrier.wait()
            try:
                target = db.session.get(Merchant, ids[2])
                admin = db.session.get(type(target.user), admin_id)
                merchants.decide(
                    target,
                    action,
                    actor=admin,
                    reason="不符合要求",
                    now=NOW,
                    expected_status=MerchantStatus.PENDING,
                )
                db.session.commit()
                outcomes.append(action)
            except (Conflict, InvalidTransition):
                db.session.rollback()
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=decide, args=(ids[0], "approve")),
        threading.Thread(target=decide, args=(ids[1], "reject")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(outcomes) == 2 and outcomes.count("refused") == 1
    with app.app_context():
        stored = db.session.get(Merchant, ids[2])
        entries = audit_rows()
        assert len(entries) == 1
        assert entries[0].after["status"] == stored.status.value


def test_application_is_stored_pending_with_a_logo(ctx):
    user = make_user()
    category = make_category()
    merchant = merchants.submit_application(
        user,
        application(category.id, licence_no=" 91350100m000100y43 "),
        logo=png_bytes(),
        now=NOW,
    )
    assert merchant.status == MerchantStatus.PENDING
    assert merchant.licence_no == "91350100M000100Y43"
    assert merchant.logo is not None and merchant.submitted_at == NOW


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"licence_no": "91350100M000100Y44"}, "licence_no"),
        ({"licence_no": "12345"}, "licence_no"),
        ({"contact_phone": "12345"}, "contact_phone"),
        ({"name": "  "}, "name"),
        ({"category_id": 999999}, "category_id"),
    ],
)
def test_bad_application_fields_store_nothing(ctx, override, field):
    user = make_user()
    category = make_category()
    fields = {"category_id": category.id, **override}
    with pytest.raises(ValidationError) as caught:
        merchants.submit_application(user, application(**fields), logo=png_bytes(), now=NOW)
    assert caught.value.field == field
    assert merchants.merchant_of(user) is None


def test_logo_is_required_and_must_be_an_image(ctx):
    user = make_user()
    category = make_category()
    with pytest.raises(ValidationError) as caught:
        merchants.submit_application(user, application(category.id), logo=None, now=NOW)
    assert caught.value.field == "logo"
    with pytest.raises(ValidationError) as caught:
        merchants.submit_application(user, application(category.id), logo=b"%PDF-1.4", now=NOW)
    assert caught.value.field == "logo"


@pytest.mark.parametrize(
    "status", [MerchantStatus.PENDING, MerchantStatus.APPROVED, MerchantStatus.SUSPENDED]
)
def test_one_open_application_per_user(ctx, status):
    merchant = make_merchant(status=status)
    with pytest.raises(ValidationError):
        merchants.submit_application(
            merchant.user,
            application(merchant.category_id or make_category().id),
            logo=png_bytes(),
            now=NOW,
        )
    assert merchant.status == status


def test_rejected_application_is_corrected_and_resubmitted(ctx):
    admin = make_user(is_admin=True)
    category = make_category()
    user = make_user()
    merchant = merchants.submit_application(
        user, application(category.id), logo=png_bytes(), now=NOW
    )
    logo_id = merchant.logo_image_id
    merchants.decide(merchant, "reject", actor=admin, reason="名称不一致", now=NOW)
    assert merchant.status_reason == "名称不一致"
    later = NOW + timedelta(days=1)
    again = merchants.submit_application(
        user, application(category.id, name="山野茶舍（武夷山）"), logo=None, now=later
    )
    assert again.id == merchant.id
    assert again.status == MerchantStatus.PENDING and again.status_reason is None
    assert again.name == "山野茶舍（武夷山）" and again.submitted_at == later
    assert again.logo_image_id == logo_id  # the earlier logo is kept when none is uploaded
    actions = [entry.action for entry in audit_rows()]
    assert actions == ["merchant.reject", "merchant.resubmit"]
