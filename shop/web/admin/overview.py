"""The admin overview's daily chart: a hand-written SVG (two bar panels, paid orders and
sales) drawn on the server and shown as ``<img>``, so the strict CSP needs no exception and a
phone downloads a few kilobytes. The page beside it has the same numbers as a table."""

from dataclasses import dataclass

from flask import make_response, render_template
from flask_babel import format_date
from flask_babel import gettext as _

from shop.insights import overview
from shop.web.admin import bp
from shop.web.common import money, now

WIDTH = 360
LEFT = 8
RIGHT = 8
PANEL_HEIGHT = 90
DAYS = 30


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  #: the day and value, for the bar's <title>


@dataclass(frozen=True)
class Panel:
    title: str
    top: int
    height: int
    bars: list[Bar]
    max_label: str


def _panel(values: list[int], labels: list[str], *, title: str, top: int, max_label: str):
    slot = (WIDTH - LEFT - RIGHT) / max(len(values), 1)
    peak = max(values) if values and max(values) > 0 else 1
    bars = []
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        height = round(PANEL_HEIGHT * value / peak, 1)
        bars.append(
            Bar(
                x=round(LEFT + i * slot + slot * 0.15, 1),
                y=round(top + PANEL_HEIGHT - height, 1),
                width=round(slot * 0.7, 1),
                height=height,
                label=label,
            )
        )
    return Panel(title=title, top=top, height=PANEL_HEIGHT, bars=bars, max_label=max_label)


def chart_context(days: list[overview.Day]) -> dict:
    day_names = [format_date(d.day, "MM-dd") for d in days]
    orders = [d.orders for d in days]
    gmv = [d.gmv_cents for d in days]
    panels = [
        _panel(
            orders,
            [
                _("%(day)s: %(n)d paid orders", day=n, n=v)
                for n, v in zip(day_names, orders, strict=True)
            ],
            title=_("Paid orders per day"),
            top=44,
            max_label=_("max %(n)d", n=max(orders, default=0)),
        ),
        _panel(
            gmv,
            [
                _("%(day)s: ¥%(amount)s", day=n, amount=money(v))
                for n, v in zip(day_names, gmv, strict=True)
            ],
            title=_("Sales per day (¥)"),
            top=44 + PANEL_HEIGHT + 48,
            max_label=_("max ¥%(amount)s", amount=money(max(gmv, default=0))),
        ),
    ]
    ticks = [(i, day_names[i]) for i in (0, len(days) // 2, len(days) - 1)] if days else []
    ticks = ticks if len(ticks) == 3 else []
    slot = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    return {
        "panels": panels,
        "width": WIDTH,
        "height": 44 + 2 * PANEL_HEIGHT + 48 + 40,
        # First and last labels align to their edge so neither is cut off on a phone.
        "ticks": [
            (round(LEFT + (i + 0.5) * slot, 1), anchor, label)
            for (i, label), anchor in zip(ticks, ("start", "middle", "end"), strict=True)
        ],
        "summary": _(
            "%(days)d days to %(last)s: %(orders)d paid orders, sales ¥%(amount)s.",
            days=len(days),
            last=day_names[-1] if day_names else "",
            orders=sum(orders),
            amount=money(sum(gmv)),
        ),
    }


@bp.route("/overview/chart.svg")
def overview_chart():
    days = overview.daily(now=now(), days=DAYS)
    body = render_template("admin/overview_chart.svg", **chart_context(days))
    response = make_response(body)
    response.mimetype = "image/svg+xml"
    return response
