import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.accounts.models import User
from shop.catalog.models import Product
from shop.platform.base import enum_column, utcnow
from shop.platform.extensions import db
from shop.sharing.models.shops import Shop


class Channel(enum.StrEnum):
    WECHAT_FRIEND = "wechat_friend"
    WECHAT_GROUP = "wechat_group"
    MOMENTS = "moments"
    #: Links made before posters were a button on every link; no longer offered for new ones.
    POSTER = "poster"
    #: A label the sharer names ("同事群"); the label column holds it.
    CUSTOM = "custom"


class PosterTemplate(enum.StrEnum):
    PRODUCT = "product"  #: the photo first, then price and title
    PRICE = "price"  #: the price large at the top
    REVIEW = "review"  #: a buyer's review quoted large


class ShareLink(db.Model):
    """A sharer's short link /r/<code> to one product in their shop (or to the shop itself),
    for one channel. The code never carries a URL: the target is resolved on the server."""

    __tablename__ = "share_links"
    __table_args__ = (UniqueConstraint("shop_id", "target_key", "channel", "label"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: 8 characters from an alphabet without look-alikes (~46 bits), random.
    code: Mapped[str] = mapped_column(String(12), unique=True)
    sharer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    #: None for a link to the whole shop.
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"), index=True)
    #: "shop" or "p<product id>": one link per target and channel, enforced by the database.
    target_key: Mapped[str] = mapped_column(String(24))
    channel: Mapped[Channel] = enum_column(Channel)
    #: The sharer's own name for a custom channel; "" for the built-in ones.
    label: Mapped[str] = mapped_column(String(20), default="")
    #: The poster design this link's poster uses.
    poster_template: Mapped[PosterTemplate] = enum_column(
        PosterTemplate, default=PosterTemplate.PRODUCT, server_default="product"
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    sharer: Mapped[User] = relationship()
    shop: Mapped[Shop] = relationship()
    product: Mapped[Product | None] = relationship()


class Click(db.Model):
    """One follow of a share link, kept whether or not it counts (for audit).

    ``uncounted_reason`` is None for a counted click, else why it does not count: "bot"
    (crawler or link-preview fetcher), "head", "prefetch", "duplicate" (same visitor and link
    within 10 minutes) or "flood" (too many clicks from one address).
    """

    __tablename__ = "clicks"
    __table_args__ = (
        Index("ix_clicks_link_time", "link_id", "clicked_at"),
        Index("ix_clicks_visitor_time", "visitor_id", "clicked_at"),
        # Floods of the last day (shop.money.fraud.scan) without reading the other clicks;
        # partial, so ordinary click inserts do not maintain it.
        Index(
            "ix_clicks_flood_time",
            "clicked_at",
            sqlite_where=text("uncounted_reason = 'flood'"),
            postgresql_where=text("uncounted_reason = 'flood'"),
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(db.Integer, "sqlite"), primary_key=True
    )
    link_id: Mapped[int] = mapped_column(ForeignKey("share_links.id", ondelete="CASCADE"))
    clicked_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The random id in the visitor's long-lived cookie (signed there, plain here).
    visitor_id: Mapped[str] = mapped_column(String(32))
    #: HMAC-SHA256 of the IP with a server secret, truncated; never the raw address.
    ip_hash: Mapped[str] = mapped_column(String(32))
    #: "wechat", "qq", "ios", "android", "desktop", "bot", "other".
    ua_family: Mapped[str] = mapped_column(String(16))
    referrer_host: Mapped[str] = mapped_column(String(100), default="")
    #: A scan of a poster's QR code (the poster channel's link) rather than a tap on a link.
    is_scan: Mapped[bool] = mapped_column(default=False)
    uncounted_reason: Mapped[str | None] = mapped_column(String(16))

    link: Mapped[ShareLink] = relationship()

    @property
    def is_counted(self) -> bool:
        return self.uncounted_reason is None

    @property
    def is_bot(self) -> bool:
        return self.uncounted_reason in ("bot", "head", "prefetch")

    @property
    def is_duplicate(self) -> bool:
        return self.uncounted_reason == "duplicate"


class ClickDay(db.Model):
    """Clicks of one share link on one day (China time), kept as clicks are written
    (shop.sharing.rollup) so dashboards never scan the clicks table. ``flask rollup``
    recounts days from the raw rows; both give the same numbers (tested).

    The sharer, product and channel are copied from the link, so a sharer's dashboard groups
    this table alone.
    """

    __tablename__ = "click_days"
    __table_args__ = (
        UniqueConstraint("day", "link_id"),
        Index("ix_click_days_sharer_day", "sharer_id", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column()
    link_id: Mapped[int] = mapped_column(ForeignKey("share_links.id", ondelete="CASCADE"))
    sharer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    channel: Mapped[str] = mapped_column(String(20))
    #: Every recorded follow, counted or not.
    clicks: Mapped[int] = mapped_column(default=0)
    #: Counted follows (not a bot, not a duplicate, not a flood).
    counted: Mapped[int] = mapped_column(default=0)
    #: Counted follows that were scans of a poster's QR code.
    scans: Mapped[int] = mapped_column(default=0)
    #: Bots, link previews, HEAD and prefetch requests.
    bots: Mapped[int] = mapped_column(default=0)
    #: Repeats within the duplicate window, and floods from one address.
    repeats: Mapped[int] = mapped_column(default=0)


class SharerVisitor(db.Model):
    """A visitor (the anonymous cookie id) that followed a sharer's links, with when they were
    first and last counted: the sharer's unique visitors without scanning clicks."""

    __tablename__ = "sharer_visitors"
    __table_args__ = (
        UniqueConstraint("sharer_id", "visitor_id"),
        # Counting a period's visitors reads this index alone, prior_seen_at included.
        Index("ix_sharer_visitors_last_seen", "sharer_id", "last_seen_at", "prior_seen_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sharer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    visitor_id: Mapped[str] = mapped_column(String(32))
    first_seen_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column()
    #: The last counted click on a China day before ``last_seen_at``'s day (None if every
    #: counted click was on that one day). With it, a period ending today splits into the
    #: visitors of the days before today, which no longer change, and those new today.
    prior_seen_at: Mapped[datetime | None] = mapped_column()
    #: Counted clicks from this visitor on this sharer's links.
    clicks: Mapped[int] = mapped_column(default=0)
