"""What a sharer's funnel answers: ``Stats`` with its steps, breakdown rows, daily points and
time from click to order. Rates are integer basis points, rounded down; money is integer fen."""

from dataclasses import dataclass, field
from datetime import date

from flask_babel import lazy_gettext as _l


def rate_bps(part: int, whole: int) -> int | None:
    """``part`` as basis points of ``whole``, rounded down; None when ``whole`` is 0."""
    return part * 10_000 // whole if whole else None


@dataclass(frozen=True)
class Step:
    """One step of the funnel and its rate against an earlier step (``of``).

    Each rate compares a step with one it is a part of (visitors of clicks, paid of orders,
    refunded and settled of paid), so it cannot pass 100 %, except orders of visitors: one
    visitor may order twice, so that one is "orders per 100 visitors" (``per_hundred``) and
    is never shown as a percentage."""

    key: str  #: clicks, visitors, orders, paid, refunded, settled
    count: int
    rate_bps: int | None  #: of the step ``of``; None for the first step or after a zero
    of: str | None = None
    per_hundred: bool = False

    @property
    def per_hundred_text(self) -> str:
        """``rate_bps`` as a number per hundred, one decimal, rounded down ("150.0")."""
        if self.rate_bps is None:
            return "–"
        tenths = self.rate_bps // 10
        return f"{tenths // 10}.{tenths % 10}"


#: (step, the step its rate is of, whether that rate is per hundred rather than a percent).
STEPS = (
    ("clicks", None, False),
    ("visitors", "clicks", False),
    ("orders", "visitors", True),
    ("paid", "orders", False),
    ("refunded", "paid", False),
    ("settled", "paid", False),
)


@dataclass
class Row:
    """One line of a breakdown (a product, a channel or a link)."""

    key: str
    label: str
    clicks: int = 0  #: counted
    scans: int = 0
    not_counted: int = 0  #: bots and repeats
    orders: int = 0
    paid: int = 0
    estimated_cents: int = 0  #: estimated when paid, refunded ones included
    refunded: int = 0  #: paid orders refunded since
    refunded_cents: int = 0  #: their rebate, voided or clawed back
    settled_cents: int = 0  #: settled and not clawed back

    @property
    def estimated_net_cents(self) -> int:
        """Estimated (not refunded): the estimate less the refunded orders' rebate."""
        return self.estimated_cents - self.refunded_cents

    @property
    def conversion_bps(self) -> int | None:
        """Paid orders per counted click, in basis points; the page shows it as paid orders
        per 100 clicks (``conversion_text``), never as a percentage: a visitor who clicked
        once may pay for two orders."""
        return rate_bps(self.paid, self.clicks)

    @property
    def conversion_text(self) -> str:
        return Step("", 0, self.conversion_bps, per_hundred=True).per_hundred_text


@dataclass(frozen=True)
class DayPoint:
    day: date
    clicks: int  #: counted
    orders: int
    estimated_cents: int  #: rebate estimated for the orders placed that day, not refunded


#: Buckets of the time from the earning click to the order: (key, upper bound in seconds).
LAG_BUCKETS = (
    ("under_1m", 60),
    ("under_10m", 600),
    ("under_1h", 3600),
    ("under_1d", 86_400),
    ("under_7d", 7 * 86_400),
    ("longer", None),
)
LAG_LABELS = {
    "under_1m": _l("Under a minute"),
    "under_10m": _l("1 to 10 minutes"),
    "under_1h": _l("10 to 60 minutes"),
    "under_1d": _l("1 to 24 hours"),
    "under_7d": _l("1 to 7 days"),
    "longer": _l("More than 7 days"),
}


@dataclass(frozen=True)
class Lag:
    """Time from the click that earned an order to the order."""

    median_seconds: int | None
    #: (bucket key, orders), every bucket in LAG_BUCKETS order.
    buckets: list[tuple[str, int]]
    orders: int


@dataclass
class Stats:
    sharer_id: int
    start: date
    end: date
    clicks: int = 0  #: counted clicks
    visitors: int = 0
    orders: int = 0
    paid: int = 0
    settled: int = 0  #: orders whose rebate settled (and was not clawed back)
    settled_cents: int = 0
    estimated_cents: int = 0  #: rebate estimated for the period's paid orders
    refunded: int = 0  #: of the paid orders, those refunded since
    refunded_cents: int = 0  #: their rebate (voided or clawed back)
    scans: int = 0  #: counted clicks that were QR scans
    bots: int = 0  #: not counted: robots, previews, HEAD, prefetch
    repeats: int = 0  #: not counted: duplicates and floods
    by_product: list[Row] = field(default_factory=list)
    by_channel: list[Row] = field(default_factory=list)
    by_link: list[Row] = field(default_factory=list)
    daily: list[DayPoint] = field(default_factory=list)
    lag: Lag = field(default_factory=lambda: Lag(None, [(k, 0) for k, _ in LAG_BUCKETS], 0))

    @property
    def recorded(self) -> int:
        """Every recorded follow, counted or not."""
        return self.clicks + self.bots + self.repeats

    @property
    def estimated_net_cents(self) -> int:
        """Estimated (not refunded): the estimate less the refunded orders' rebate."""
        return self.estimated_cents - self.refunded_cents

    @property
    def steps(self) -> list[Step]:
        counts = {key: getattr(self, key) for key, _, _ in STEPS}
        return [
            Step(
                key,
                counts[key],
                None if of is None else rate_bps(counts[key], counts[of]),
                of,
                per_hundred,
            )  # fmt: skip
            for key, of, per_hundred in STEPS
        ]

    @property
    def conversion_bps(self) -> int | None:
        """Paid orders per counted click over the whole period (as ``Row.conversion_bps``)."""
        return rate_bps(self.paid, self.clicks)

    @property
    def conversion_text(self) -> str:
        return Step("", 0, self.conversion_bps, per_hundred=True).per_hundred_text
