"""CSV downloads of the platform tables for administrators: streamed row by row, UTF-8 with a
byte order mark (so Excel reads Chinese), times in China time, amounts in yuan, and cells a
spreadsheet would run as a formula neutralised."""

import csv
import io
from datetime import datetime

from flask import Response, stream_with_context

from shop.insights import admin_exports
from shop.sharing.rollup import CHINA
from shop.web.admin import bp
from shop.web.common import money, now

BOM = "\ufeff"
#: A cell starting with one of these is read by Excel as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def format_cell(value, kind: str) -> str:
    if value is None:
        return ""
    if kind == "time" and isinstance(value, datetime):
        return (value + CHINA).strftime("%Y-%m-%d %H:%M:%S")
    if kind == "money":
        return money(value)
    if kind == "int":
        return str(value)
    return safe_cell(str(value))


def csv_lines(columns, rows):
    """The file as text chunks: the BOM and headings first, then a chunk per 200 rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(str(column.heading)) for column in columns])
    yield BOM + out.getvalue()
    out.seek(0)
    out.truncate()
    for n, row in enumerate(rows, start=1):
        writer.writerow(
            [format_cell(value, column.kind) for value, column in zip(row, columns, strict=True)]
        )
        if n % 200 == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


@bp.route("/export/<any(orders, payouts, ledger, merchants):table>.csv")
def export_csv(table: str):
    columns, rows = admin_exports.TABLES[table]
    filename = f"{table}-{(now() + CHINA).strftime('%Y%m%d-%H%M')}.csv"
    return Response(
        stream_with_context(csv_lines(columns, rows())),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
