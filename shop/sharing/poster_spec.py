"""What a poster shows and its cache key, without the drawing: the web workers build a
:class:`PosterContent`, hash it with :func:`poster_key` and hand a cache miss to
:mod:`shop.sharing.drawing`, so they never import Pillow (shop.sharing.posters draws).
"""

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

#: Bump when the layout, the fonts or the colours change: every cached poster is then stale.
TEMPLATE_VERSION = "1"


@dataclass(frozen=True)
class PosterContent:
    """Everything a poster shows. Strings arrive translated; prices are integer fen."""

    url: str  #: what the QR code encodes: a short share link
    title: str
    price_cents: int | None  #: None for a shop poster (no price row)
    original_price_cents: int | None  #: struck through when higher than the price
    image_path: Path | None  #: product display image or shop avatar; a placeholder if unreadable
    sharer_name: str
    avatar_path: Path | None  #: None or unreadable: a coloured circle with the first character
    headline: str  #: e.g. "小美 向你推荐"
    hint: str  #: e.g. "长按识别二维码"
    subtitle: str = ""  #: one line, cut with an ellipsis
    rating: str = ""  #: e.g. "4.8★"
    quote: str = ""  #: a buyer's review the sharer chose, one line, cut with an ellipsis
    template: str = "product"  #: "product", "price" or "review" (shop.sharing.poster_templates)
    #: After the price when it is the lowest of several (specs): "起" (from).
    price_suffix: str = ""
    #: The coupon on the link, one line under the price: "券后价 ¥108.00 · 立减¥20.00".
    coupon: str = ""


def yuan(cents: int) -> str:
    """12800 -> "128", 12850 -> "128.50"."""
    whole, fen = divmod(cents, 100)
    return f"{whole}" if fen == 0 else f"{whole}.{fen:02d}"


def poster_key(content: PosterContent, template_version: str = TEMPLATE_VERSION) -> str:
    """SHA-256 hex of everything the poster draws: each field, the bytes of the image and avatar
    files (not their paths) and the template version. Equal keys mean identical posters; the
    output format is not included, so a caller keeping JPEG and WebP adds it to the file name."""
    digest = hashlib.sha256(f"template={template_version}\0".encode())
    for field in dataclasses.fields(content):
        value = getattr(content, field.name)
        if isinstance(value, Path):
            value = _file_sha256(value)
        digest.update(f"{field.name}={value!r}\0".encode())
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            return "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return "missing"
