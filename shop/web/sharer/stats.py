"""/me/stats: the sharer's own funnel for a period, with a server-drawn SVG chart."""

from flask import abort, current_app, make_response, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from shop.insights import charts, stats
from shop.platform.errors import ValidationError
from shop.web.common import money, now
from shop.web.sharer import bp


def _step_labels() -> dict[str, str]:
    return {
        "clicks": _("Clicks"),
        "visitors": _("Unique visitors"),
        "orders": _("Orders"),
        "paid": _("Paid"),
        "refunded": _("Refunded"),
        "settled": _("Rebate settled"),
    }


def _period_args(period: stats.Period) -> dict[str, str]:
    if period.key in stats.PRESETS:
        return {"period": period.key}
    return {"start": period.start.isoformat(), "end": period.end.isoformat()}


@bp.route("/stats")
def stats_page():
    error = None
    try:
        period = stats.parse_period(request.args, now=now())
    except ValidationError as caught:
        error = caught.message
        period = stats.last_days(7, now=now())
    result = stats.funnel_cached(current_user.id, period.start, period.end, now=now())
    return render_template(
        "sharer/stats.html",
        period=period,
        stats=result,
        step_labels=_step_labels(),
        lag_labels=stats.LAG_LABELS,
        error=error,
        start_value=request.args.get("start") or period.start.isoformat(),
        end_value=request.args.get("end") or period.end.isoformat(),
        chart_url=url_for("sharer.stats_chart", **_period_args(period)),
        max_date=stats.last_days(1, now=now()).end.isoformat(),
        refresh_minutes=int(current_app.config["STATS_PAST_DAYS_SECONDS"]) // 60,
    )


@bp.route("/stats/chart.svg")
def stats_chart():
    try:
        period = stats.parse_period(request.args, now=now())
    except ValidationError:
        abort(400)
    result = stats.funnel_cached(current_user.id, period.start, period.end, now=now())
    days = [point.day for point in result.daily]
    svg = charts.bar_panels_svg(
        title=_("Clicks, orders and rebate per day"),
        desc=_(
            "%(start)s to %(end)s. Counted clicks: %(clicks)d. Orders: %(orders)d. "
            "Estimated (not refunded): ¥%(rebate)s.",
            start=period.start.isoformat(),
            end=period.end.isoformat(),
            clicks=result.clicks,
            orders=result.orders,
            rebate=money(result.estimated_net_cents),
        ),
        days=days,
        panels=[
            charts.Panel(_("Clicks"), [p.clicks for p in result.daily], color="#d9001b"),
            charts.Panel(_("Orders"), [p.orders for p in result.daily], color="#ff9800"),
            charts.Panel(
                _("Estimated (not refunded)"),
                [p.estimated_cents for p in result.daily],
                display=lambda cents: "¥" + money(cents),
                color="#07a35a",
            ),
        ],
        highest_label=lambda value: _("highest %(value)s", value=value),
    )
    response = make_response(svg)
    response.mimetype = "image/svg+xml"
    response.headers["Cache-Control"] = "private, max-age=60"
    return response
