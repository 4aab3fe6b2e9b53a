"""Small charts drawn on the server as SVG, shown with ``<img>``.

Hand-written rather than a library: a few stacked bar panels (one per measure, each on its own
scale, so no chart needs two axes) are a few dozen lines, weigh a few kilobytes, and carry no
script or ``<style>`` (the strict Content-Security-Policy would block inline styles, and an
``<img>`` never runs scripts anyway). Every colour and font is a presentation attribute.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape, quoteattr

WIDTH = 360
PANEL_HEIGHT = 78
BAR_AREA = 50
LEFT, RIGHT = 6, 354
FONT = 'font-family="sans-serif"'


@dataclass(frozen=True)
class Panel:
    label: str
    values: list[int]
    #: How a value is written (e.g. fen as yuan).
    display: Callable[[int], str] = str
    color: str = "#d9001b"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def bar_panels_svg(
    *,
    title: str,
    desc: str,
    days: list[date],
    panels: list[Panel],
    highest_label: Callable[[str], str] = "max {}".format,
) -> str:
    """One bar panel per measure over ``days``, stacked, with the panel's label, its total
    and its highest day written out (``highest_label`` words the latter, translated by the
    caller); the first, middle and last dates below."""
    count = max(1, len(days))
    slot = (RIGHT - LEFT) / count
    bar = max(1.0, slot * 0.72)
    height = PANEL_HEIGHT * len(panels) + 22
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-labelledby="chart-title chart-desc">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(desc)}</desc>',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
    ]
    for index, panel in enumerate(panels):
        top = index * PANEL_HEIGHT
        base = top + 20 + BAR_AREA
        highest = max(panel.values, default=0)
        total = sum(panel.values)
        out.append(
            f'<text x="{LEFT}" y="{top + 14}" font-size="13" font-weight="bold" {FONT} '
            f'fill="#222222">{escape(panel.label)}: {escape(panel.display(total))}</text>'
        )
        out.append(
            f'<text x="{RIGHT}" y="{top + 14}" font-size="11" {FONT} fill="#777777" '
            f'text-anchor="end">{escape(highest_label(panel.display(highest)))}</text>'
        )
        for n, value in enumerate(panel.values):
            if value <= 0 or highest <= 0:
                continue
            bar_height = max(1.5, BAR_AREA * value / highest)
            x = LEFT + n * slot + (slot - bar) / 2
            out.append(
                f'<rect x="{_num(x)}" y="{_num(base - bar_height)}" width="{_num(bar)}" '
                f'height="{_num(bar_height)}" fill={quoteattr(panel.color)}/>'
            )
        out.append(
            f'<line x1="{LEFT}" y1="{base}" x2="{RIGHT}" y2="{base}" '
            f'stroke="#cccccc" stroke-width="1"/>'
        )
    if days:
        y = PANEL_HEIGHT * len(panels) + 12
        marks = [(0, "start"), (len(days) // 2, "middle"), (len(days) - 1, "end")]
        if len(days) < 3:
            marks = [(0, "start"), (len(days) - 1, "end")]
        for n, anchor in marks:
            x = LEFT + n * slot + slot / 2
            x = min(max(x, LEFT), RIGHT)
            out.append(
                f'<text x="{_num(x)}" y="{y}" font-size="11" {FONT} fill="#777777" '
                f'text-anchor="{anchor}">{days[n].strftime("%m-%d")}</text>'
            )
    out.append("</svg>")
    return "\n".join(out)
