"""The stock numbers of a kept product page, filled in per request.

A product page shows its stock ("Only 7 left", the spec sheet's "Stock 7", each SKU's number in
the sheet's data). A checkout moves it, so a page kept whole (shop.web.storefront.landing)
would go stale at every order. Instead, a page rendered to be kept is rendered with a stand-in
number for each of those (``shown_stock``), which is then cut out: the kept page is its text between
the numbers (``StockPage``), and each request fills them in from the product's stock and its
SKUs' as they are now (``numbers``: one light query, ``shop.catalog.stockmoves.stocks``, kept per
process while the product's own stamp and its stock stamp are unchanged; a stock move bumps
only the latter, ``shop.platform.stamps.stock_moved``).

What the numbers decide besides themselves is the page's state (``state_of``): sold out (no buy
buttons), few left ("Only N left" rather than "In stock"), which specs are sold out (greyed
out). A kept page is filled in only while the numbers now give the state it was rendered with;
otherwise it is rendered again. Crossing sold out also bumps the product's stamps (a shop page
shows it), so the state check is the second guard, and the one for "few left".
"""

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, g

from shop.catalog import stockmoves
from shop.platform import stamps
from shop.platform.extensions import db
from shop.web.storefront import bp

#: At or below this many, the product page says "only N left" (the template reads it).
LOW_STOCK = 10
#: A stand-in number is a random prefix of this many digits, new for each render, then the
#: slot's index in 4 digits: more than any stock (a 32-bit column), below 2**53 (JSON).
PREFIX_DIGITS = 11
_SLOTS = 10_000
#: Where ``shown`` notes the numbers of the page being rendered to be kept.
_MARKING = "stock_slots"
_STATE = "stock_state"
#: Where ``read_before`` leaves the stamps it read, for ``note_state``.
_READ = "stock_stamps"
#: Products whose numbers a worker keeps; forgotten all at once beyond.
KNOWN = 5_000
_KNOWN = "kept_stock_numbers"

Numbers = tuple[int, dict[int, int]]  #: the product's stock, its active SKUs' by id


@dataclass(frozen=True, slots=True)
class StockPage:
    """A kept page with its stock numbers cut out: ``parts[0]``, the number of ``slots[0]``,
    ``parts[1]``, ...; a slot is a SKU's id, or None for the product's own stock."""

    parts: tuple[str, ...]
    slots: tuple[int | None, ...]
    state: tuple


def state_of(stock: int, sku_stocks: dict[int, int]) -> tuple:
    """What the numbers decide on a product page besides themselves."""
    sold_out = frozenset(sku for sku, left in sku_stocks.items() if left <= 0)
    return stock <= 0, stock <= LOW_STOCK, frozenset(sku_stocks), sold_out


bp.add_app_template_global(LOW_STOCK, "low_stock")


@bp.app_template_global()
def shown_stock(value: int, sku_id: int | None = None) -> int:
    """A stock number the product page shows (``sku_id``: a SKU's; None: the product's): the
    number itself, or while a page to be kept is rendered, a stand-in cut out afterwards."""
    marking = g.get(_MARKING)
    if marking is None:
        return value
    prefix, slots = marking
    slots.append((sku_id, value))
    return int(f"{prefix}{len(slots) - 1:04d}")


def read_before(product_id: int) -> tuple:
    """The product's own and stock stamps, now. Read before the render's first query, a
    render keeps the numbers it read under them too (not when the request's transaction has
    begun: on SQLite it sees the database as of its first read, so its numbers may be older
    than stamps read now)."""
    read = stamps.current().read_stock(product_id)
    if not (db.session.registry.has() and db.session().in_transaction()):
        g.setdefault(_READ, {})[product_id] = read
    return read


def note_state(product) -> None:
    """While a page to be kept is rendered: the state its numbers give (``state_of``); the
    numbers are kept for the next visits too, under the stamps read before the render."""
    if g.get(_MARKING) is None:
        return
    found = product.stock, {sku.id: sku.stock for sku in product.active_skus}
    g.setdefault(_STATE, state_of(*found))
    read = g.get(_READ, {}).get(product.id)
    if read is not None:
        _known()[product.id] = (read, found)


def render_marked(render: Callable[[], tuple]) -> tuple[str, int, "str | StockPage | None"]:
    """``render()`` (a page and its status) done to be kept: (the page as this visitor gets
    it, its status, the page to keep: a plain page when it shows no number, a StockPage, or
    None when it cannot be kept)."""
    prefix = str(secrets.randbelow(9 * 10 ** (PREFIX_DIGITS - 1)) + 10 ** (PREFIX_DIGITS - 1))
    g.setdefault(_MARKING, (prefix, []))
    try:
        page, status = render()
    finally:
        slots = (g.pop(_MARKING, None) or ("", []))[1]
        state = g.pop(_STATE, None)
    if not slots:
        return page, status, page
    cut = _cut(page, prefix, len(slots))
    if cut is None or state is None:
        # Too many numbers, or what looked like a stand-in where none was asked for: not
        # kept, and the page served is rendered plainly.
        return (*render(), None)
    texts, indexes = cut
    real = [str(slots[i][1]) for i in indexes]
    served = "".join(part for pair in zip(texts, [*real, ""], strict=True) for part in pair)
    kept = StockPage(tuple(texts), tuple(slots[i][0] for i in indexes), state)
    return served, status, kept


def _cut(page: str, prefix: str, count: int) -> tuple[list[str], list[int]] | None:
    """The page's texts between the stand-ins and the slot of each (a slot asked for may not
    be shown, say in a form a sold-out page leaves out; none is shown twice)."""
    if count >= _SLOTS:
        return None
    pieces = page.split(prefix)
    texts, indexes = [pieces[0]], []
    for piece in pieces[1:]:
        digits = piece[:4]
        if (
            len(digits) < 4
            or not (digits.isascii() and digits.isdigit())
            or piece[4:5].isdigit()
            or texts[-1][-1:].isdigit()
            or int(digits) >= count
        ):
            return None
        indexes.append(int(digits))
        texts.append(piece[4:])
    if len(set(indexes)) != len(indexes):
        return None
    return texts, indexes


def fill(page: StockPage, product_id: int, read: tuple) -> str | None:
    """The kept page with the numbers as they are now (``read``: ``read_before``'s stamps);
    None when they give another state than the page was rendered with (or the product is
    gone): it must be rendered again."""
    return fill_with(page, numbers(product_id, read))


def fill_with(page: StockPage, found: Numbers | None) -> str | None:
    """The kept page with ``found``, the numbers now (None when they give another state)."""
    if found is None:
        return None
    stock, sku_stocks = found
    if state_of(stock, sku_stocks) != page.state:
        return None
    parts = page.parts
    out = [parts[0]]
    for index, slot in enumerate(page.slots, 1):
        out.append(str(stock if slot is None else sku_stocks[slot]))
        out.append(parts[index])
    return "".join(out)


def numbers(product_id: int, read: tuple | None) -> Numbers | None:
    """The product's stock and its active SKUs', as kept by this worker while its own stamp
    and its stock stamp are ``read``; else read (one light query, in a transaction of its own
    that begins after ``read``), and kept when ``read`` is known."""
    found = kept_numbers(current_app, product_id, read)
    if found is not None:
        return found
    value = stockmoves.stocks(product_id)
    if value is not None and read is not None:
        _known()[product_id] = (read, value)
    return value


def kept_numbers(app, product_id: int, read: tuple | None) -> Numbers | None:
    """The numbers ``app``'s worker keeps for the product under the stamps ``read`` (None:
    none kept, or kept under others); no query, no context needed."""
    found = app.extensions.get(_KNOWN, {}).get(product_id)
    return found[1] if read is not None and found is not None and found[0] == read else None


def _known() -> dict:
    """product id -> (the stamps read before its numbers, the numbers), in this worker."""
    known = current_app.extensions.get(_KNOWN)
    if known is None or len(known) > KNOWN:
        known = current_app.extensions[_KNOWN] = {}
    return known
