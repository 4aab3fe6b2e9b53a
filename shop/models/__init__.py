"""All models, imported here so Alembic and the app see the whole schema."""

from shop.models.audit import AuditEntry
from shop.models.base import utcnow
from shop.models.catalog import Category, Product, ProductImage, ProductStatus
from shop.models.fraud import FlagKind, FlagStatus, FraudFlag, RebateHold
from shop.models.ledger import (
    EFFECTS,
    EntryKind,
    LedgerEntry,
    Payout,
    PayoutAccount,
    PayoutMethod,
    PayoutStatus,
)
from shop.models.links import Channel, Click, ClickDay, ShareLink, SharerVisitor
from shop.models.media import Image
from shop.models.merchants import Merchant, MerchantStatus
from shop.models.orders import Address, Order, OrderEvent, OrderItem, OrderStatus, PaymentEvent
from shop.models.reviews import (
    BlockedWord,
    Disclosure,
    Review,
    ReviewKind,
    ReviewPhoto,
    ReviewReply,
    ReviewReport,
    ReviewStatus,
)
from shop.models.sales import LedgerDay, OrderDay, ProductDay, SaleDay
from shop.models.shops import Shop, ShopItem
from shop.models.teams import TeamLeader, TeamMember
from shop.models.users import User, UserSession

__all__ = [
    "TeamLeader",
    "TeamMember",
    "LedgerDay",
    "OrderDay",
    "ProductDay",
    "SaleDay",
    "EFFECTS",
    "Address",
    "EntryKind",
    "LedgerEntry",
    "Order",
    "OrderEvent",
    "OrderItem",
    "OrderStatus",
    "PaymentEvent",
    "Payout",
    "PayoutAccount",
    "PayoutMethod",
    "PayoutStatus",
    "AuditEntry",
    "BlockedWord",
    "Disclosure",
    "Review",
    "ReviewKind",
    "ReviewPhoto",
    "ReviewReply",
    "ReviewReport",
    "ReviewStatus",
    "Category",
    "FlagKind",
    "FlagStatus",
    "FraudFlag",
    "RebateHold",
    "Channel",
    "Click",
    "ClickDay",
    "Image",
    "Merchant",
    "MerchantStatus",
    "Product",
    "ProductImage",
    "ProductStatus",
    "ShareLink",
    "SharerVisitor",
    "Shop",
    "ShopItem",
    "User",
    "UserSession",
    "utcnow",
]
