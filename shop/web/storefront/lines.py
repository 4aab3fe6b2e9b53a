"""What a checkout is made of: its lines (the cart's have the same attributes) and the prices
a page showed, carried in its form so a changed price is caught when the order is placed."""

from dataclasses import dataclass

from shop.catalog import skus


def shown_field(skus_shown) -> str:
    """ "12:5900,13:6900": the prices a page shows, carried in its form."""
    return ",".join(f"{sku.id}:{sku.price_cents}" for sku in skus_shown)


def parse_shown(raw: str | None) -> dict[int, int]:
    """The prices a form carried back ({SKU id: fen}); malformed parts are ignored."""
    shown = {}
    for part in (raw or "").split(",")[:400]:
        sku_id, _sep, price = part.partition(":")
        if sku_id.isdigit() and price.isdigit() and len(sku_id) < 10 and len(price) < 12:
            shown[int(sku_id)] = int(price)
    return shown


class PricedLine:
    """A product (at its SKU's price when it has one) times a quantity: how a checkout line and
    a cart line (shop.web.storefront.cart.CartLine) price themselves. Needs ``product``,
    ``sku`` and ``quantity``."""

    @property
    def price_cents(self) -> int:
        return self.sku.price_cents if self.sku else self.product.price_cents

    @property
    def line_cents(self) -> int:
        return self.price_cents * self.quantity

    @property
    def spec_text(self) -> str:
        return skus.spec_text(self.product, self.sku) if self.sku else ""

    @property
    def picture(self) -> str | None:
        """The sha256 of the picture shown with the line (its product's cover), or None."""
        cover = self.product.cover
        return cover.sha256 if cover is not None else None


@dataclass(frozen=True)
class BuyLine(PricedLine):
    """One line of a checkout (the cart's lines have the same attributes)."""

    product: object
    sku: object
    quantity: int
    #: Why it cannot be bought now ("short", a shops.UNAVAILABLE_LABELS key) or None.
    reason: str | None = None
    #: Its product's cover picture's sha256, read with the product
    #: (shop.catalog.catalog.product_for_checkout: the product's images are not loaded).
    cover_sha256: str | None = None

    @property
    def picture(self) -> str | None:
        return self.cover_sha256
