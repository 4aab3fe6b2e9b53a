import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.accounts.models import User
from shop.catalog.models.media import Image
from shop.catalog.models.products import Category
from shop.platform.base import enum_column, utcnow
from shop.platform.extensions import db


class MerchantStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"


class Merchant(db.Model):
    """A brand selling on the platform. The row is also its application: a user has at most
    one, and a rejected one is corrected and resubmitted rather than replaced."""

    __tablename__ = "merchants"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    #: 统一社会信用代码, 18 characters, check digit verified on input.
    licence_no: Mapped[str] = mapped_column(String(18))
    contact_name: Mapped[str] = mapped_column(String(40))
    contact_phone: Mapped[str] = mapped_column(String(11))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    #: The platform fee on this merchant's goods, in basis points; None: the product's
    #: category's rate (shop.money.split). Set by an admin, audited.
    fee_bps: Mapped[int | None] = mapped_column()
    #: The merchant's sub-merchant number (子商户号) under the platform's WeChat Pay partner
    #: account; "" while it has none (its buyers then cannot pay by WeChat Pay in partner mode).
    wechatpay_sub_mchid: Mapped[str] = mapped_column(String(32), default="", server_default="")
    description: Mapped[str] = mapped_column(Text, default="")
    #: Where buyers send 退货退款 parcels (name, phone and address as one line).
    return_address: Mapped[str] = mapped_column(String(200), default="", server_default="")
    logo_image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id"))
    status: Mapped[MerchantStatus] = enum_column(
        MerchantStatus, default=MerchantStatus.PENDING, index=True
    )
    #: The reason given with the latest rejection or suspension, shown to the applicant.
    status_reason: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()
    category: Mapped[Category | None] = relationship()
    logo: Mapped[Image | None] = relationship()

    @property
    def is_approved(self) -> bool:
        return self.status == MerchantStatus.APPROVED
