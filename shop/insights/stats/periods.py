"""The period a sharer's funnel covers: whole China days (Beijing time, UTC+8), start and end
included, from a preset (7 or 30 days ending today) or two dates typed by the sharer."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l

from shop.platform.errors import ValidationError
from shop.sharing.rollup import china_day, day_start

MAX_DAYS = 366
PRESETS = {"7d": 7, "30d": 30}
#: Typed dates are refused before this day (no shop has numbers earlier) and more than a year
#: after today: far dates overflow when turned into UTC moments (year 1, year 9999).
EARLIEST = date(2020, 1, 1)


@dataclass(frozen=True)
class Period:
    """Whole China days from ``start`` to ``end``, both included."""

    start: date
    end: date
    #: "7d", "30d" or "custom".
    key: str = "custom"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def starts_at(self) -> datetime:
        """The UTC moment the period begins."""
        return day_start(self.start)

    @property
    def ends_at(self) -> datetime:
        """The UTC moment after the period (exclusive)."""
        return day_start(self.end + timedelta(days=1))

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range(self.days)]


def last_days(days: int, *, now: datetime) -> Period:
    """The ``days`` China days ending today (today included)."""
    today = china_day(now)
    key = next((k for k, n in PRESETS.items() if n == days), "custom")
    return Period(today - timedelta(days=days - 1), today, key)


def _parse_date(raw: str | None, field_name: str, today: date) -> date:
    try:
        day = date.fromisoformat((raw or "").strip())
    except ValueError:
        raise ValidationError(_l("Enter a date like 2026-11-24."), field_name) from None
    last = today + timedelta(days=366)
    if not EARLIEST <= day <= last:
        raise ValidationError(
            _l(
                "Enter a date from %(first)s to %(last)s.",
                first=EARLIEST.isoformat(),
                last=last.isoformat(),
            ),
            field_name,
        )
    return day


def custom_period(start_raw: str | None, end_raw: str | None, *, now: datetime) -> Period:
    """A period from two ISO dates typed by the sharer.

    Raises ValidationError (with the field) for a date that does not parse or lies outside
    ``EARLIEST`` to a year after today, a start after the end, an end after today (China time)
    or more than ``MAX_DAYS`` days.
    """
    today = china_day(now)
    start = _parse_date(start_raw, "start", today)
    end = _parse_date(end_raw, "end", today)
    if end > today:
        raise ValidationError(_l("The end date cannot be in the future."), "end")
    if start > end:
        raise ValidationError(_l("The start date must be on or before the end date."), "start")
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationError(
            _l("Choose at most %(days)d days.", days=MAX_DAYS),
            "start",
        )
    return Period(start, end, "custom")


def parse_period(args, *, now: datetime) -> Period:
    """The period a query string asks for: ``period=7d`` / ``30d``, or ``start`` and ``end``
    dates (a custom period); 7 days when nothing is given. Raises ValidationError for a bad
    custom period."""
    preset = args.get("period", "")
    if preset in PRESETS:
        return last_days(PRESETS[preset], now=now)
    if args.get("start") or args.get("end") or preset == "custom":
        return custom_period(args.get("start"), args.get("end"), now=now)
    return last_days(7, now=now)
