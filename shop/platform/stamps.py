"""Change stamps: how every worker process of a host learns at once that what a product's pages
show has changed, so pages kept whole (shop.web.storefront.landing) and the review previews
(shop.reviews.reading) can be kept long and still never show a change late.

A write that changes what a product's public page shows calls ``mark_stale(product_id)``
(``mark_stale(None)``: what every page shows, e.g. a shop, a merchant, a category); one that
changes which items a shop has or how it shows them, ``mark_stale(shop_stamp(shop_id))``; a stock
move that leaves the product and its SKUs on sale, ``mark_stale(stock_stamp(product_id))`` only
(``stock_moved``, ``sku_stock_moved``: its pages are kept, their numbers filled in); the ORM
rows a flush writes are marked by a listener (shop.web.storefront.landing), a Core UPDATE that
the flush never sees (stock, a status transition, a review decision) by its own code. Once the
transaction commits, each marked product's stamp is bumped (and the one for everything).

The stamps are empty files in a folder (LANDING_STAMP_DIR, by default ``stamps`` in the instance
folder), one per product, made when first bumped (a missing file is stamp 0); the stamp is the
file's modification time in nanoseconds (a bump writes a new file with the new time and renames
it over the old one). Reading one is one ``os.stat`` (microseconds, no query). A cache keeps
with each value the stamps read BEFORE computing it and uses it only while they are unchanged,
so a change committed during a render makes the next lookup miss. Stamps are compared for
equality, and a bump always moves a file's time forward (at least one tick past what it was,
checked after, for file systems with coarse times).

Each process also counts its own bumps in memory, so its own changes show at once even when the
folder cannot be written: then the folder is given up (logged once) and other processes see the
change only when what they kept expires (their TTL; landing pages keep a short one then). The
folder is local to a host: across hosts, the TTLs bound how old a page may be.
"""

import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterable

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from shop.platform.extensions import db

#: The file for "everything" (a product's is ``p<id>``, a shop's list of items ``s<id>``).
EVERYTHING = "all"
_STALE = "stale_products"
#: A bump that did not move a file's time (a file system with coarse times) moves it this far.
COARSE_STEP_NS = 2_000_000_000
log = logging.getLogger(__name__)

Stamp = tuple[int, int]  #: (file time in ns, or -1 when the folder is given up; own bumps)


def mark_stale(product_id: int | str | None, session: Session | None = None) -> None:
    """Note that this transaction changes what ``product_id``'s pages show (None: what every
    page shows; a ``shop_stamp``: that shop's list of items); its stamp is bumped once the
    transaction commits (not before: a page rendered in between would keep the old state under
    the new stamp)."""
    (session or db.session).info.setdefault(_STALE, set()).add(product_id)


def stock_moved(product_id: int, *, sold_out_changed: bool, session: Session | None = None):
    """Note that a Core UPDATE moved the product's stock. Its own pages keep the numbers as
    parts filled in per request (shop.web.storefront.stockparts) from values kept under its
    stock stamp (``stock_stamp``), so a move that leaves it on sale bumps only that; one that
    crosses sold out changes what every page of it shows (the buttons, a list's "sold out"):
    its stamp and its listing stamp (the kept numbers follow its stamp too)."""
    mark_stale(product_id if sold_out_changed else stock_stamp(product_id), session)


def sku_stock_moved(product_id: int, *, sold_out_changed: bool, session: Session | None = None):
    """Note that a Core UPDATE moved one of the product's SKUs' stock: its stock stamp, and
    when the SKU crossed sold out the product's own stamp too (its page greys the spec out); a
    list of products shows nothing of a SKU."""
    mark_stale(stock_stamp(product_id), session)
    if sold_out_changed:
        mark_stale(own_stamp(product_id), session)


def own_stamp(product_id: int) -> str:
    """The name of the stamp of the product's own pages alone (``mark_stale(product_id)``
    bumps it and the product's ``listing_stamp``)."""
    return f"p{int(product_id)}"


def listing_stamp(product_id: int) -> str:
    """The name of the stamp of what a list of products shows of one (a shop page): bumped with
    the product's own stamp, except by stock moves that leave it on sale (``stock_moved``)."""
    return f"l{int(product_id)}"


def stock_stamp(product_id: int) -> str:
    """The name of the stamp of the product's stock numbers (its own and its SKUs'): bumped by
    every stock move. The numbers a worker keeps are used while this stamp and the product's
    own stamp are unchanged (the own stamp: an ORM change of a stock, a SKU added)."""
    return f"q{int(product_id)}"


def shop_stamp(shop_id: int) -> str:
    """The name of the stamp of a shop's items (which products, their order, the sharer's
    words): what a shop page shows beyond its products' own stamps and the one for everything."""
    return f"s{int(shop_id)}"


def _name(key: int | str) -> str:
    return key if isinstance(key, str) else f"p{int(key)}"


def _names(key: int | str) -> tuple[str, ...]:
    """The files a bump of ``key`` moves: a product id moves its stamp and its listing stamp."""
    return (key,) if isinstance(key, str) else (f"p{int(key)}", listing_stamp(key))


class Stamps:
    """The stamps of one folder (None: in memory only, for this process)."""

    def __init__(self, folder: str | None):
        self.folder = folder
        self._own: dict[str, int] = {}
        self._lock = threading.Lock()
        if folder is not None:
            try:
                os.makedirs(folder, exist_ok=True)
                if not os.access(folder, os.W_OK | os.X_OK):
                    raise PermissionError(f"{folder} is not writable")
            except OSError as error:
                self._give_up(error)

    @property
    def shared(self) -> bool:
        """Whether other processes see this one's bumps (the folder is usable)."""
        return self.folder is not None

    def read(self, product_id: int) -> tuple[Stamp, Stamp]:
        """The stamp for everything and ``product_id``'s, now."""
        return self._read(EVERYTHING), self._read(f"p{product_id}")

    def read_stock(self, product_id: int) -> tuple[Stamp, Stamp]:
        """The product's own stamp and its stock stamp, now."""
        return self._read(f"p{int(product_id)}"), self._read(stock_stamp(product_id))

    def read_many(self, keys: Iterable[int | str]) -> tuple[Stamp, ...]:
        """The stamp for everything, then those of ``keys`` (product ids, ``shop_stamp``s)."""
        return (self._read(EVERYTHING), *(self._read(_name(key)) for key in keys))

    def _read(self, name: str) -> Stamp:
        own = self._own.get(name, 0)
        folder = self.folder
        if folder is None:
            return -1, own
        try:
            return os.stat(os.path.join(folder, name)).st_mtime_ns, own
        except FileNotFoundError:
            return 0, own
        except OSError as error:
            self._give_up(error)
            return -1, own

    def bump(self, product_ids: Iterable[int | str] | None) -> None:
        """Bump the stamps of ``product_ids`` (and ``shop_stamp``s; None: the one for
        everything)."""
        names = (
            [EVERYTHING]
            if product_ids is None
            else sorted({name for p in product_ids for name in _names(p)})
        )
        with self._lock:
            for name in names:
                self._own[name] = self._own.get(name, 0) + 1
        for name in names:
            if self.folder is None:
                return
            try:
                self._touch(self.folder, name)
            except OSError as error:
                self._give_up(error)

    @staticmethod
    def _touch(folder: str, name: str) -> None:
        """Move ``name``'s time forward: a new file with the new time put in its place (a
        rename needs only the folder writable, so a file made by another user, say a cron
        job's, is no obstacle, as it would be to ``os.utime`` on it)."""
        path = os.path.join(folder, name)
        try:
            before = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            before = 0
        stamp = max(time.time_ns(), before + 1)
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
        try:
            os.close(handle)
            os.utime(temporary, ns=(stamp, stamp))
            if os.stat(temporary).st_mtime_ns <= before:  # the file system rounded it back
                stamp = before + COARSE_STEP_NS
                os.utime(temporary, ns=(stamp, stamp))
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def _give_up(self, error: OSError) -> None:
        if self.folder is not None:
            log.warning(
                "change stamps: cannot use %s (%s); other processes see this one's changes "
                "only when what they keep expires",
                self.folder,
                error,
            )
        self.folder = None


def current() -> Stamps:
    """This app's stamps (the folder is read from LANDING_STAMP_DIR once)."""
    found = current_app.extensions.get("change_stamps")
    if found is None:
        folder = current_app.config.get("LANDING_STAMP_DIR") or os.path.join(
            current_app.instance_path, "stamps"
        )
        found = current_app.extensions.setdefault("change_stamps", Stamps(folder))
    return found


@event.listens_for(Session, "after_commit")
def _bump_stamps(session: Session) -> None:
    # SQLAlchemy calls after_commit when a savepoint is released too: the changes are not
    # committed yet, and a stamp moved now would let another worker keep the old data under
    # the new stamp. The marks wait for the outermost commit.
    if session.in_nested_transaction():
        return
    stale = session.info.pop(_STALE, None)
    if stale and has_app_context():
        current().bump(None if None in stale else stale)


@event.listens_for(Session, "after_transaction_end")
def _nothing_changed(session: Session, transaction) -> None:
    # Only when the outermost transaction ends (after_commit has taken the marks of one that
    # committed): a savepoint rolled back inside it keeps the marks made before it, since the
    # outer transaction may still commit them (a mark too many only renders a page again).
    if transaction.parent is None:
        session.info.pop(_STALE, None)
