"""Merchants: the unified social credit code (统一社会信用代码), applications, and the
admin decisions that approve, reject, suspend and reinstate them."""

import re
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from shop.accounts.accounts import PHONE_RE
from shop.accounts.models import User
from shop.catalog import images
from shop.catalog.models import Category, Merchant, MerchantStatus
from shop.platform import audit
from shop.platform.errors import Conflict, InvalidTransition, PermissionDenied, ValidationError
from shop.platform.extensions import db
from shop.platform.inputs import is_id
from shop.platform.stamps import mark_stale

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


# --- applications and decisions ------------------------------------------------------------

#: The merchant state table: (from, action) -> to. Anything else is refused.
TRANSITIONS = {
    (MerchantStatus.PENDING, "approve"): MerchantStatus.APPROVED,
    (MerchantStatus.PENDING, "reject"): MerchantStatus.REJECTED,
    (MerchantStatus.APPROVED, "suspend"): MerchantStatus.SUSPENDED,
    (MerchantStatus.SUSPENDED, "reinstate"): MerchantStatus.APPROVED,
    (MerchantStatus.REJECTED, "resubmit"): MerchantStatus.PENDING,
}
ADMIN_ACTIONS = frozenset({"approve", "reject", "suspend", "reinstate"})
REASON_REQUIRED = frozenset({"reject", "suspend"})


@dataclass(frozen=True)
class Application:
    name: str
    licence_no: str
    contact_name: str
    contact_phone: str
    category_id: int | None
    description: str


def normalize_phone(raw: str, field: str = "contact_phone") -> str:
    digits = re.sub(r"[\s\-()]", "", raw or "").removeprefix("+86")
    if not PHONE_RE.match(digits):
        raise ValidationError(
            _l("Enter an 11-digit mainland mobile number, e.g. 13800138000."), field
        )
    return digits


def check_application(data: Application) -> Application:
    """The application with its fields normalized; ValidationError names the first bad field."""
    name = " ".join(data.name.split())
    if not name:
        raise ValidationError(_l("Enter the business name."), "name")
    if len(name) > 60:
        raise ValidationError(_l("Use at most %(n)d characters.", n=60), "name")
    licence_no = normalize_licence_no(data.licence_no)
    contact_name = " ".join(data.contact_name.split())
    if not contact_name:
        raise ValidationError(_l("Enter the contact person's name."), "contact_name")
    contact_phone = normalize_phone(data.contact_phone)
    if not is_id(data.category_id) or db.session.get(Category, data.category_id) is None:
        raise ValidationError(_l("Choose a main category."), "category_id")
    description = data.description.strip()
    if len(description) > 500:
        raise ValidationError(_l("Use at most %(n)d characters.", n=500), "description")
    return Application(
        name, licence_no, contact_name[:40], contact_phone, data.category_id, description
    )


def merchant_of(user: User) -> Merchant | None:
    return db.session.execute(
        select(Merchant).where(Merchant.user_id == user.id)
    ).scalar_one_or_none()


def submit_application(
    user: User, data: Application, *, logo: bytes | None, now: datetime
) -> Merchant:
    """A first application, or the correction of a rejected one (which goes back to pending).

    Raises ValidationError for bad fields, or when the user already has an application that is
    pending, approved or suspended (one open application per user).
    """
    data = check_application(data)
    merchant = merchant_of(user)
    if merchant is not None and merchant.status != MerchantStatus.REJECTED:
        raise ValidationError(
            _l(
                "You already have a merchant application (%(status)s).",
                status=status_label(merchant.status),
            )
        )
    if merchant is None and not logo:
        raise ValidationError(_l("Upload the brand's logo."), "logo")
    logo_image = images.store_image(logo, field="logo", uploaded_by_id=user.id) if logo else None

    if merchant is None:
        merchant = Merchant(user_id=user.id, status=MerchantStatus.PENDING, created_at=now)
        try:
            with db.session.begin_nested():
                _fill(merchant, data, logo_image, now)
                db.session.add(merchant)
        except IntegrityError:
            # The same user submitted twice at once: the unique user_id let one through.
            raise ValidationError(_l("You already have a merchant application.")) from None
        return merchant

    before = snapshot(merchant)
    _transition(
        merchant,
        "resubmit",
        now=now,
        values={
            "name": data.name,
            "licence_no": data.licence_no,
            "contact_name": data.contact_name,
            "contact_phone": data.contact_phone,
            "category_id": data.category_id,
            "description": data.description,
            "submitted_at": now,
            "decided_at": None,
            "status_reason": None,
            **({"logo_image_id": logo_image.id} if logo_image else {}),
        },
    )
    audit.record(
        actor=user,
        action="merchant.resubmit",
        object_type="merchant",
        object_id=merchant.id,
        before=before,
        after=snapshot(merchant),
        reason=None,
        now=now,
    )
    return merchant


def _fill(merchant: Merchant, data: Application, logo_image, now: datetime) -> None:
    merchant.name = data.name
    merchant.licence_no = data.licence_no
    merchant.contact_name = data.contact_name
    merchant.contact_phone = data.contact_phone
    merchant.category_id = data.category_id
    merchant.description = data.description
    merchant.submitted_at = now
    if logo_image is not None:
        merchant.logo_image_id = logo_image.id


def snapshot(merchant: Merchant) -> dict:
    return {"status": str(merchant.status), "status_reason": merchant.status_reason}


def decide(
    merchant: Merchant,
    action: str,
    *,
    actor: User,
    reason: str | None = None,
    expected_status: MerchantStatus | None = None,
    now: datetime,
) -> Merchant:
    """An admin's decision on a merchant: approve, reject, suspend or reinstate.

    ``expected_status`` is the status the admin saw; when it is no longer the status, the
    decision is refused (Conflict) instead of being applied to something else. Two admins
    deciding at once produce exactly one decision: the state change is a guarded UPDATE.
    Raises PermissionDenied, ValidationError (missing reason), InvalidTransition, Conflict.
    """
    if action not in ADMIN_ACTIONS or not actor.is_admin:
        raise PermissionDenied(_l("Only an administrator can decide on merchants."))
    reason = (reason or "").strip() or None
    if action in REASON_REQUIRED and not reason:
        raise ValidationError(_l("Give a reason; the merchant will see it."), "reason")
    if reason and len(reason) > 500:
        raise ValidationError(_l("Use at most %(n)d characters.", n=500), "reason")
    if expected_status is not None and merchant.status != expected_status:
        raise Conflict(_l("This merchant was changed by someone else. Please look again."))
    before = snapshot(merchant)
    _transition(
        merchant,
        action,
        now=now,
        values={
            "status_reason": reason if action in REASON_REQUIRED else None,
            "decided_at": now,
        },
    )
    audit.record(
        actor=actor,
        action=f"merchant.{action}",
        object_type="merchant",
        object_id=merchant.id,
        before=before,
        after=snapshot(merchant),
        reason=reason,
        now=now,
    )
    return merchant


def _transition(merchant: Merchant, action: str, *, now: datetime, values: dict) -> None:
    current = merchant.status
    target = TRANSITIONS.get((current, action))
    if target is None:
        raise InvalidTransition(
            _l(
                "A merchant that is %(status)s cannot %(action)s.",
                status=status_label(current),
                action=action_label(action),
            )
        )
    result = db.session.execute(
        update(Merchant)
        .where(Merchant.id == merchant.id, Merchant.status == current)
        .values(status=target, **values)
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount != 1:
        db.session.refresh(merchant)
        raise Conflict(_l("This merchant was changed by someone else. Please look again."))
    mark_stale(None)  # suspended or back: every page of its products (a Core UPDATE)
    db.session.refresh(merchant)


STATUS_LABELS = {
    MerchantStatus.PENDING: _l("pending review"),
    MerchantStatus.APPROVED: _l("approved"),
    MerchantStatus.REJECTED: _l("rejected"),
    MerchantStatus.SUSPENDED: _l("suspended"),
}
ACTION_LABELS = {
    "approve": _l("approve"),
    "reject": _l("reject"),
    "suspend": _l("suspend"),
    "reinstate": _l("reinstate"),
    "resubmit": _l("resubmit"),
}


def status_label(status: MerchantStatus):
    return STATUS_LABELS[MerchantStatus(status)]


def action_label(action: str):
    return ACTION_LABELS.get(action, action)


_SUB_MCHID = re.compile(r"[0-9]{6,32}")


def set_wechatpay_sub_mchid(
    merchant: Merchant, value: str, *, actor: User | None, reason: str, now: datetime
) -> None:
    """An admin (or the `flask wechatpay-sub-mchid` command, ``actor`` None) sets the merchant's
    WeChat Pay sub-merchant number (子商户号, digits; "" clears it) for partner mode. Audited
    with the reason. Raises ValidationError (fields ``sub_mchid``, ``reason``)."""
    if actor is not None and not actor.is_admin:
        raise PermissionDenied(_l("Only an administrator can change this."))
    value = (value or "").strip()
    if value and not _SUB_MCHID.fullmatch(value):
        raise ValidationError(_l("A sub-merchant number is 6 to 32 digits."), "sub_mchid")
    reason = " ".join((reason or "").split())
    if not 1 <= len(reason) <= 200:
        raise ValidationError(_l("Give a reason for the change."), "reason")
    before = {"wechatpay_sub_mchid": merchant.wechatpay_sub_mchid}
    merchant.wechatpay_sub_mchid = value
    db.session.flush()
    audit.record(
        actor=actor,
        action="merchant.wechatpay_sub_mchid",
        object_type="merchant",
        object_id=merchant.id,
        before=before,
        after={"wechatpay_sub_mchid": value},
        reason=reason,
        now=now,
    )
