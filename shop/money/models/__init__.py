"""Money's tables: the rebate ledger and payouts, fraud flags and holds, sales rollups."""

from shop.money.models.appeals import Appeal, AppealStatus
from shop.money.models.fraud import (
    FlagKind,
    FlagStatus,
    FraudFlag,
    RebateHold,
)
from shop.money.models.ledger import (
    EFFECTS,
    TIERS,
    EntryKind,
    LedgerEntry,
    Payout,
    PayoutAccount,
    PayoutMethod,
    PayoutStatus,
)
from shop.money.models.merchant import (
    MERCHANT_EFFECTS,
    MerchantEntry,
    MerchantEntryKind,
    MerchantWithdrawal,
    OrderSplit,
    ProfitReturn,
    ProfitShare,
    WithdrawalStatus,
)
from shop.money.models.refunds import RefundCap, RefundLine, RefundRequest, RefundStatus
from shop.money.models.sales import (
    LedgerDay,
    OrderDay,
    ProductDay,
    SaleDay,
)

__all__ = [
    "Appeal",
    "AppealStatus",
    "EntryKind",
    "EFFECTS",
    "TIERS",
    "LedgerEntry",
    "PayoutStatus",
    "PayoutMethod",
    "PayoutAccount",
    "Payout",
    "FlagKind",
    "FlagStatus",
    "FraudFlag",
    "RebateHold",
    "OrderDay",
    "SaleDay",
    "ProductDay",
    "LedgerDay",
    "MERCHANT_EFFECTS",
    "MerchantEntry",
    "MerchantEntryKind",
    "MerchantWithdrawal",
    "OrderSplit",
    "ProfitReturn",
    "ProfitShare",
    "WithdrawalStatus",
    "RefundCap",
    "RefundLine",
    "RefundRequest",
    "RefundStatus",
]
