"""A sharer's per-link click audit and CSV exports of their own data."""

import csv
import io

from flask import Response, abort, g, render_template, request, stream_with_context, url_for
from flask_login import current_user

from shop.catalog import catalog
from shop.insights import exports
from shop.sharing import links, shops
from shop.web.common import money, now
from shop.web.sharer import bp
from shop.web.sharer.views import load_own_link

PER_PAGE = 50
#: Excel reads a CSV as the local code page unless it starts with a byte order mark.
BOM = "\ufeff"
#: Characters sent at a time while an export streams.
CHUNK = 16_384


@bp.route("/links/<int:link_id>/clicks")
def link_clicks(link_id: int):
    link = load_own_link(link_id)
    audit = exports.link_audit(
        link, page=catalog.parse_page(request.args.get("page")), per_page=PER_PAGE
    )
    return render_template(
        "sharer/link_clicks.html",
        link=link,
        channel=links.channel_name(link),
        audit=audit,
        china_time=exports.china_time,
        back=_share_page_of(link),
    )


def _share_page_of(link) -> str:
    """Where the link is listed: its product's share page (while in the shop) or the shop's."""
    item = shops.find_item(g.shop, link.product_id) if link.product_id else None
    if item is not None:
        return url_for("sharer.item_share", item_id=item.id, _anchor=f"link-{link.id}")
    return url_for("sharer.shop_share")


def _cell(value, kind: str) -> str:
    if value is None:
        return ""
    if kind == exports.MONEY:
        return money(value)
    if kind == exports.TIME:
        return exports.china_time(value)
    return exports.neutralise(str(value))


def _csv_lines(columns, rows):
    """The file in chunks: the BOM and translated header first, then the rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # excel dialect: quoted as needed, CRLF line ends

    def take() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow([exports.neutralise(str(column.header)) for column in columns])
    yield BOM + take()
    for row in rows:
        writer.writerow(
            [_cell(value, column.kind) for value, column in zip(row, columns, strict=True)]
        )
        if buffer.tell() >= CHUNK:
            yield take()
    yield take()


@bp.route("/export/<kind>.csv")
def export_csv(kind: str):
    if kind not in exports.EXPORTS:
        abort(404)
    columns, rows_of = exports.EXPORTS[kind]
    day = (now() + exports.CHINA).strftime("%Y%m%d")
    lines = _csv_lines(columns, rows_of(current_user.id))
    response = Response(stream_with_context(lines), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="fenxiang-{kind}-{day}.csv"'
    return response
