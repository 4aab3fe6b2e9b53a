"""The nine-picture set (九宫格) for 朋友圈: the product's material pictures as square tiles and
one tile with the share link's QR code, drawn here; plain data in, JPEG bytes out.

The QR tile sits in the middle when there are eight pictures (a full 3x3 set), else last.
Pillow is imported by the drawing alone: the web workers import this module for the layout and
the key, and hand the drawing to shop.sharing.drawing.
"""

import hashlib
from dataclasses import dataclass

#: Bump when the QR tile's layout changes: cached tiles are then stale.
TILE_VERSION = "1"
SIDE = 750
MAX_PICTURES = 8  #: eight pictures and the QR tile make nine


@dataclass(frozen=True)
class QrTile:
    url: str  #: the sharer's share link for this product and channel
    title: str
    price_cents: int | None
    hint: str  #: e.g. "长按识别二维码"


def layout(picture_count: int) -> tuple[int, int]:
    """(tiles in the set, index of the QR tile) for ``picture_count`` material pictures."""
    pictures = min(picture_count, MAX_PICTURES)
    return pictures + 1, 4 if pictures == MAX_PICTURES else pictures


def tile_key(tile: QrTile) -> str:
    digest = hashlib.sha256(f"nine-qr={TILE_VERSION}\0".encode())
    for value in (tile.url, tile.title, tile.price_cents, tile.hint):
        digest.update(f"{value!r}\0".encode())
    return digest.hexdigest()


def render_qr_tile(tile: QrTile) -> bytes:
    """A 750x750 JPEG: the title and price on top, the QR code in the middle, the hint below."""
    from PIL import Image, ImageDraw

    from shop.sharing import posters

    canvas = Image.new("RGB", (SIDE, SIDE), posters.WHITE)
    draw = ImageDraw.Draw(canvas)
    margin = 40
    title_face = posters.font("bold", 36)
    title = posters.wrap_text(posters.drawable_text(tile.title), title_face, SIDE - 2 * margin, 1)
    if title:
        draw.text((SIDE / 2, margin), title[0], font=title_face, fill=posters.TEXT, anchor="ma")
    if tile.price_cents is not None:
        price_face = posters.font("bold", 44)
        text = "¥" + posters.yuan(tile.price_cents)
        draw.text((SIDE / 2, margin + 56), text, font=price_face, fill=posters.RED, anchor="ma")
    qr, _quiet = posters._qr_image(tile.url)
    side = min(qr.width, 460)
    if qr.width != side:
        qr = qr.resize((side, side), Image.Resampling.NEAREST)
    canvas.paste(qr, ((SIDE - side) // 2, 150 + (460 - side) // 2))
    hint_face = posters.font("bold", 32)
    hint = posters.wrap_text(posters.drawable_text(tile.hint), hint_face, SIDE - 2 * margin, 1)
    if hint:
        draw.text(
            (SIDE / 2, SIDE - margin), hint[0], font=hint_face, fill=posters.TEXT, anchor="md"
        )
    return posters.encode(canvas, "JPEG")
