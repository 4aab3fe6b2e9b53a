"""The product form's specs: the dimensions typed, the table of combinations generated from
them (each row keeping what was typed in it), bulk "set all", and the rows' field errors.

A row's inputs are named by its values (``skus.row_field``), so adding or removing a value
keeps what was typed in every other row. Without JavaScript the "Update the table" button
posts the form and gets it back with the new rows; nothing typed is lost either way.
"""

from dataclasses import dataclass, field

from flask import Request

from shop.catalog import products, skus
from shop.catalog.models import Product
from shop.platform.errors import ValidationError
from shop.web.common import money


@dataclass
class SpecTable:
    #: [(name, values as typed)] for the two dimension inputs.
    typed: list[tuple[str, str]]
    #: [(name, [values])] of the dimensions filled in.
    dimensions: list[tuple[str, list[str]]]
    rows: list[skus.SkuRow]
    #: Field name -> message, for the dimension inputs and the table's cells.
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def has_specs(self) -> bool:
        return bool(self.dimensions)

    def error(self, name: str) -> str | None:
        return self.errors.get(name)

    def cell(self, row: skus.SkuRow, name: str) -> str:
        return skus.row_field(row.values, name)


def from_product(product: Product | None) -> SpecTable:
    """The table as the product has it now (the form opened)."""
    if product is None or not product.specs:
        return SpecTable([("", ""), ("", "")], [], [])
    dimensions = [(s.name, list(s.values)) for s in product.specs]
    typed = [(name, "，".join(values)) for name, values in dimensions]
    typed += [("", "")] * (2 - len(typed))
    rows = []
    for sku in product.active_skus:
        rows.append(
            skus.SkuRow(
                values=(sku.value1, sku.value2),
                price=money(sku.price_cents),
                stock=str(sku.stock),
                stock_shown=str(sku.stock),
                rebate_percent=""
                if sku.rebate_bps is None
                else products.format_bps(sku.rebate_bps),
                image_id=str(sku.image_id or ""),
            )
        )
    return SpecTable(typed, dimensions, rows)


def from_request(request: Request, *, bulk: bool = False) -> SpecTable:
    """The table as posted: dimensions re-read, one row per combination, each with what was
    typed in its cells (new rows empty); with ``bulk``, the "set all" price and stock (and
    rate) written into every row."""
    form = request.form
    typed = [
        (form.get(f"spec{i}_name", "")[:40], form.get(f"spec{i}_values", "")[:1000])
        for i in range(skus.MAX_DIMENSIONS)
    ]
    dimensions, errors = skus.clean_dimensions(typed)
    table = SpecTable(typed, dimensions, [], {e.field: str(e.message) for e in errors})
    if not dimensions:
        return table
    for values in skus.combinations(dimensions)[:400]:

        def cell(name: str, values=values) -> str:
            return form.get(skus.row_field(values, name), "")[:40]

        shown = form.get(skus.row_field(values, "stock_shown"))
        table.rows.append(
            skus.SkuRow(
                values=values,
                price=cell("price"),
                stock=cell("stock"),
                stock_shown=shown[:12] if shown is not None else None,
                rebate_percent=cell("rebate_percent"),
                image_id=cell("image_id"),
            )
        )
    if bulk:
        price, stock = form.get("bulk_price", "").strip(), form.get("bulk_stock", "").strip()
        for row in table.rows:
            row.price = price[:40] or row.price
            row.stock = stock[:12] or row.stock
    return table


def check(table: SpecTable, product: Product | None) -> list[skus.CleanRow] | None:
    """The clean rows, or None (a product without specs); errors go on ``table.errors``."""
    if not table.has_specs:
        return None
    image_ids = [pi.image_id for pi in product.images] if product else []
    clean, errors = skus.check_rows(table.rows, image_ids)
    for error in errors:
        table.errors.setdefault(error.field, str(error.message))
    return clean


def put_error(table: SpecTable, error: ValidationError) -> bool:
    """An error the table shows (a row's cell); whether it was one of those."""
    if error.field and error.field.startswith(("sku[", "spec")):
        table.errors[error.field] = str(error.message)
        return True
    return False
