"""A merchant's shipping templates: how the delivery fee of an order is worked out
(shop.orders.shipping computes it)."""

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from shop.platform.base import enum_column, utcnow
from shop.platform.extensions import db


class ShippingKind(enum.StrEnum):
    FREE = "free"  #: 包邮
    FLAT = "flat"  #: a fee: first piece (or kg) and each additional one
    FREE_OVER = "free_over"  #: the fee, free when the goods reach an amount
    REGIONAL = "regional"  #: the fee, with other fees for some provinces


class ShippingBasis(enum.StrEnum):
    PIECE = "piece"
    WEIGHT = "weight"  #: by the kilogram, started kilograms counted whole


class ShippingTemplate(db.Model):
    __tablename__ = "shipping_templates"
    __table_args__ = (
        CheckConstraint(
            "first_fee_cents >= 0 AND extra_fee_cents >= 0 AND free_over_cents >= 0",
            name="fees_not_negative",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(40))
    kind: Mapped[ShippingKind] = enum_column(ShippingKind, default=ShippingKind.FREE)
    basis: Mapped[ShippingBasis] = enum_column(ShippingBasis, default=ShippingBasis.PIECE)
    #: The fee for the first piece (or the first kilogram) and for each one more.
    first_fee_cents: Mapped[int] = mapped_column(default=0)
    extra_fee_cents: Mapped[int] = mapped_column(default=0)
    #: FREE_OVER: goods of at least this amount (in one order) ship free.
    free_over_cents: Mapped[int] = mapped_column(default=0)
    #: Other fees by province code: {"650000": [first, extra], ...} (REGIONAL).
    region_fees: Mapped[dict] = mapped_column(JSON, default=dict)
    #: Province codes not delivered to, whatever the kind: ["540000", ...].
    unreachable: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
