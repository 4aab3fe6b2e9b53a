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
    """One step of the funnel and its conversion from the step before."""

    key: str  #: clicks, visitors, orders, paid, settled
    count: int
    rate_bps: int | None  #: of the previous step; None for the first step or after a zero


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
    estimated_cents: int = 0

    @property
    def conversion_bps(self) -> int | None:
        """Orders per counted click."""
        return rate_bps(self.orders, self.clicks)


@dataclass(frozen=True)
class DayPoint:
    day: date
    clicks: int  #: counted
    orders: int
    estimated_cents: int  #: rebate estimated for the orders placed that day


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
    def steps(self) -> list[Step]:
        counts = [
            ("clicks", self.clicks),
            ("visitors", self.visitors),
            ("orders", self.orders),
            ("paid", self.paid),
            ("settled", self.settled),
        ]
        steps, previous = [], None
        for key, count in counts:
            steps.append(Step(key, count, None if previous is None else rate_bps(count, previous)))
            previous = count
        return steps

    @property
    def conversion_bps(self) -> int | None:
        """Orders per counted click, over the whole period."""
        return rate_bps(self.orders, self.clicks)
