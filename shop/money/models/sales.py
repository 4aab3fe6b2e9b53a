"""Daily rollups of orders and rebates, kept in the same transactions as the order and
ledger changes they count (shop.money.sales), so the stats page and the admin overview
never group the orders, items and ledger tables. ``flask rollup`` recounts them from those
tables; both give the same numbers (tested).

Every amount is integer fen; every day is a China day (UTC+8).
"""

from datetime import date

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shop.platform.extensions import db


class OrderDay(db.Model):
    """A sharer's earning orders placed through one link on one day, and what became of
    them: paid, the estimated rebate, settled (and not clawed back) with its amount. A row
    keeps changing after its day: payment, settlement and clawback add to the row of the day
    the order was placed, as the funnel counts them."""

    __tablename__ = "order_days"
    __table_args__ = (
        UniqueConstraint("day", "link_id"),
        Index("ix_order_days_sharer_day", "sharer_id", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column()
    link_id: Mapped[int] = mapped_column(ForeignKey("share_links.id", ondelete="CASCADE"))
    sharer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    orders: Mapped[int] = mapped_column(default=0)
    paid: Mapped[int] = mapped_column(default=0)
    estimated_cents: Mapped[int] = mapped_column(default=0)
    #: Orders whose rebate settled and was not clawed back since.
    settled: Mapped[int] = mapped_column(default=0)
    settled_cents: Mapped[int] = mapped_column(default=0)
    #: Paid orders refunded since (their rebate voided or clawed back), and that rebate: the
    #: estimate less this is what the funnel calls "estimated (not refunded)".
    refunded: Mapped[int] = mapped_column(default=0, server_default="0")
    refunded_cents: Mapped[int] = mapped_column(default=0, server_default="0")


class SaleDay(db.Model):
    """Orders paid on one day through one sharer (``sharer_id`` 0: no sharer), their totals,
    and how many of them were refunded later (counted on the day they were paid)."""

    __tablename__ = "sale_days"
    __table_args__ = (
        UniqueConstraint("day", "sharer_id"),
        # The admin overview's "of them refunded" sums this index alone.
        Index("ix_sale_days_day_refunded", "day", "refunded"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column()
    #: Not a foreign key: 0 stands for orders without a sharer.
    sharer_id: Mapped[int] = mapped_column()
    orders: Mapped[int] = mapped_column(default=0)
    gmv_cents: Mapped[int] = mapped_column(default=0)
    refunded: Mapped[int] = mapped_column(default=0)
    #: The money given back to buyers of those orders, whole or partial refunds.
    refunded_cents: Mapped[int] = mapped_column(default=0, server_default="0")


class ProductDay(db.Model):
    """Units of one product in orders paid on one day, and their value at the paid price."""

    __tablename__ = "product_days"
    __table_args__ = (UniqueConstraint("day", "product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column()
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    units: Mapped[int] = mapped_column(default=0)
    gmv_cents: Mapped[int] = mapped_column(default=0)


class LedgerDay(db.Model):
    """The sum of the ledger entries of one kind posted on one day."""

    __tablename__ = "ledger_days"
    __table_args__ = (UniqueConstraint("day", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column()
    kind: Mapped[str] = mapped_column(String(20))
    entries: Mapped[int] = mapped_column(default=0)
    amount_cents: Mapped[int] = mapped_column(default=0)
