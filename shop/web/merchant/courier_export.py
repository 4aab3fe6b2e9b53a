"""快递单导出: the orders waiting to ship, as a CSV file for the merchant's courier software.

UTF-8 with a byte order mark, so Excel opens the Chinese correctly. The first three columns are
order number, carrier and tracking number: the merchant fills in the last two and uploads the
same file to bulk shipping (shop.orders.bulk_ship reads those three and skips the heading).
A cell a spreadsheet would run as a formula is neutralised with a leading apostrophe.
"""

import csv
import io

from flask import Response, g, redirect, request, url_for
from flask_babel import lazy_gettext as _l

from shop.orders import merchant_orders
from shop.sharing.rollup import CHINA
from shop.web.common import now
from shop.web.merchant import bp, order_filters

BOM = "\ufeff"
#: A cell starting with one of these is read by Excel as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = (
    _l("Order number"),
    _l("Carrier"),
    _l("Tracking number"),
    _l("Receiver"),
    _l("Phone"),
    _l("Address"),
    _l("Items"),
    _l("Buyer's note"),
    _l("Weight (kg)"),
)


def safe_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _kilograms(grams: int) -> str:
    return f"{grams / 1000:.3f}".rstrip("0").rstrip(".") if grams else ""


def courier_csv(rows: list[merchant_orders.ExportRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([str(c) for c in COLUMNS])
    for row in rows:
        writer.writerow(
            [
                # A trailing tab keeps Excel from turning the 18 digits into 1.8E+17; the
                # bulk-ship upload strips it.
                row.number + "\t",
                "",
                "",
                safe_cell(row.name),
                safe_cell(row.phone),
                safe_cell(row.address),
                safe_cell(row.items),
                safe_cell(row.note),
                _kilograms(row.weight_grams),
            ]
        )
    return BOM + out.getvalue()


@bp.route("/orders/export.csv")
def orders_export():
    form, where, _tab = order_filters.parse(request.args, g.merchant.id)
    if order_filters.has_errors(form):
        # The list shows what is wrong with the filters; nothing is exported on a guess.
        return redirect(url_for("merchant.order_list", **request.args.to_dict()), code=303)
    rows = merchant_orders.export_rows(g.merchant.id, where)
    filename = f"courier-orders-{(now() + CHINA).strftime('%Y%m%d-%H%M')}.csv"
    return Response(
        courier_csv(rows),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f"attachment; filename={filename}",
            "Cache-Control": "no-store",
        },
    )
