"""QR share posters: plain data in, JPEG (or WebP) bytes out.

No database, no Flask request: callers pass a :class:`PosterContent` with every string already
translated, cache the bytes under :func:`poster_key` and render again only when the key changes.
A poster never shows the sharer's rebate; there is no field for it.
"""

import io
import logging
import math
import zlib
from functools import cache, lru_cache
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw

# What a poster shows and its key live in shop.sharing.poster_spec (no Pillow there: the web
# workers import it); reachable here too.
from shop.sharing.poster_spec import (  # noqa: F401
    TEMPLATE_VERSION,
    PosterContent,
    poster_key,
    yuan,
)

# The text half (fonts, drawable characters, line breaking) lives in shop.sharing.poster_text;
# its names stay reachable here, where the layouts (poster_templates, ninegrid) find them.
from shop.sharing.poster_text import (  # noqa: F401
    ELLIPSIS,
    FONT_DIR,
    FONT_FILES,
    NO_LINE_START,
    _one_line,
    _read_cmap,
    drawable_text,
    font,
    font_codepoints,
    wrap_text,
)

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 750, 1334

MARGIN, AVATAR = 40, 72
PHOTO, PHOTO_TOP = WIDTH - 2 * MARGIN, MARGIN + AVATAR + 20
QR_MIN = 240  #: the smallest side of the code itself in px, quiet zone not counted
RED, TEXT, GREY, ORANGE = (238, 10, 36), (50, 50, 51), (150, 151, 153), (255, 151, 26)
WHITE, LIGHT, SHADE = (255, 255, 255), (242, 243, 245), (220, 222, 224)
AVATAR_COLOURS = [(25, 137, 250), (7, 193, 96), (255, 151, 26), (238, 10, 36), (114, 50, 221)]


def render_poster(content: PosterContent, *, fmt: str = "JPEG") -> bytes:
    """Draw the 750x1334 poster and return it encoded as JPEG (quality 85) or WebP.

    ``content.template`` picks the layout. Missing or unreadable image files draw placeholders;
    characters the font lacks are dropped.
    Raises ValueError for any other ``fmt`` (PNG is ten times slower and five times larger), and
    qrcode's DataOverflowError for a URL too long for any QR code.
    """
    if fmt not in ("JPEG", "WEBP"):
        raise ValueError(f"unsupported poster format {fmt!r}")
    canvas = Image.new("RGB", (WIDTH, HEIGHT), WHITE)
    draw = ImageDraw.Draw(canvas)
    if content.template != "product":
        from shop.sharing import poster_templates  # it draws with this module's parts

        poster_templates.draw(canvas, draw, content)
        return encode(canvas, fmt)
    _draw_header(canvas, draw, content)

    photo = _load_square(content.image_path, PHOTO)
    if photo is None:
        _draw_placeholder(draw, (MARGIN, PHOTO_TOP, MARGIN + PHOTO, PHOTO_TOP + PHOTO))
    else:
        canvas.paste(photo, (MARGIN, PHOTO_TOP))
    for mask, (x, y) in _corner_masks():
        canvas.paste(WHITE, (MARGIN + x, PHOTO_TOP + y), mask)

    y = PHOTO_TOP + PHOTO + 24
    if content.price_cents is not None:
        y = (
            _draw_price(
                draw,
                content.price_cents,
                content.original_price_cents,
                y,
                suffix=content.price_suffix,
            )
            + 16
        )
    if coupon := _one_line(content.coupon, font("bold", 32), WIDTH - 2 * MARGIN):
        draw.text((MARGIN, y), coupon, font=font("bold", 32), fill=RED, anchor="la")
        y += 52

    # The QR code sits bottom right; title, subtitle and hint share the column left of its
    # quiet zone, so no text ever touches the zone.
    qr, quiet = _qr_image(content.url)
    code = qr.width - 2 * quiet
    qr_left, qr_top = WIDTH - MARGIN - code, HEIGHT - MARGIN - code
    canvas.paste(qr, (qr_left - quiet, qr_top - quiet))
    _draw_text_column(draw, content, y, qr_left - quiet - MARGIN - 8, qr_top + code)
    return encode(canvas, fmt)


def encode(canvas: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    options = {"quality": 85, "optimize": False} if fmt == "JPEG" else {"quality": 80, "method": 1}
    canvas.save(out, fmt, **options)
    return out.getvalue()


def _draw_header(canvas: Image.Image, draw: ImageDraw.ImageDraw, content: PosterContent) -> None:
    """Sharer avatar (or a coloured circle with the first character) and the headline."""
    picture = _load_square(content.avatar_path, AVATAR)
    if picture is None:
        name = drawable_text(content.sharer_name)
        colour = AVATAR_COLOURS[zlib.crc32(name.encode()) % len(AVATAR_COLOURS)]
        picture = Image.new("RGB", (AVATAR, AVATAR), colour)
        centre, face = (AVATAR / 2, AVATAR / 2), font("bold", 32)
        ImageDraw.Draw(picture).text(centre, name[:1].upper(), font=face, fill=WHITE, anchor="mm")
    canvas.paste(picture, (MARGIN, MARGIN), _circle_mask())
    left, face = MARGIN + AVATAR + 20, font("bold", 32)
    headline = _one_line(content.headline, face, WIDTH - MARGIN - left)
    draw.text((left, MARGIN + AVATAR / 2), headline, font=face, fill=TEXT, anchor="lm")


def _draw_price(
    draw: ImageDraw.ImageDraw, cents: int, original: int | None, top: int, *, suffix: str = ""
) -> int:
    """Draw "¥128.50 ¥168" (the second struck through; "¥59 起" with a ``suffix``) from
    ``top``; return the y below."""
    baseline = top + 62
    whole, _, fen = yuan(cents).partition(".")
    x = float(MARGIN)
    parts = [("¥", font("bold", 40), 4), (whole, font("bold", 80), 0)]
    if fen:
        parts.append(("." + fen, font("bold", 44), 0))
    if suffix:
        parts.append((" " + drawable_text(suffix), font("regular", 34), 0))
    for text, face, gap in parts:
        draw.text((x, baseline), text, font=face, fill=RED, anchor="ls")
        x += face.getlength(text) + gap
    if original is not None and original > cents:
        face, text, x = font("regular", 30), "¥" + yuan(original), x + 20
        draw.text((x, baseline), text, font=face, fill=GREY, anchor="ls")
        strike = baseline - 10
        draw.line((x - 2, strike, x + face.getlength(text) + 2, strike), fill=GREY, width=2)
    return baseline + 14


def _draw_text_column(draw, content: PosterContent, top: int, width: int, bottom: int) -> None:
    """Title (two lines), rating and subtitle from ``top``; the scan hint ends at ``bottom``."""
    title_face, small, bold_small = font("regular", 34), font("regular", 28), font("bold", 28)
    y = top
    for line in wrap_text(drawable_text(content.title), title_face, width, 2):
        draw.text((MARGIN, y), line, font=title_face, fill=TEXT, anchor="la")
        y += 50
    x, y = float(MARGIN), y + 10
    if rating := _one_line(content.rating, bold_small, width):
        draw.text((x, y), rating, font=bold_small, fill=ORANGE, anchor="la")
        x += bold_small.getlength(rating) + 12
    subtitle = _one_line(content.subtitle, small, width - (x - MARGIN))
    draw.text((x, y), subtitle, font=small, fill=GREY, anchor="la")
    if quote := _one_line(content.quote, small, width):
        draw.text((MARGIN, y + 44), quote, font=small, fill=TEXT, anchor="la")
    hint_face = font("bold", 30)
    hint = wrap_text(drawable_text(content.hint), hint_face, width, 2)
    for index, line in enumerate(reversed(hint)):
        draw.text((MARGIN, bottom - 44 * index), line, font=hint_face, fill=TEXT, anchor="ld")


def _draw_placeholder(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int]) -> None:
    """A grey frame with a sun and a hill: no text, so nothing to translate."""
    draw.rectangle(box, fill=LIGHT)
    cx, cy, u = (box[0] + box[2]) // 2, (box[1] + box[3]) // 2, (box[2] - box[0]) // 10
    draw.ellipse((cx + u // 2, cy - 2 * u, cx + 3 * u // 2, cy - u), fill=SHADE)
    hill = [(-2, 2), (-0.5, -0.5), (1, 1), (1.5, 0.5), (2, 2)]
    draw.polygon([(cx + dx * u, cy + dy * u) for dx, dy in hill], fill=SHADE)


def _load_square(path: Path | None, side: int) -> Image.Image | None:
    """``path`` decoded, cover-cropped to a ``side`` square and flattened on white; None (and a
    logged warning) when the file is missing or not a readable JPEG, PNG or WebP.

    Decoding is most of a render's cost and a product photo appears on every sharer's poster, so
    results are kept per file version (path, mtime, size): a few photos, many avatars. Callers
    must not modify the image they get.
    """
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError as error:
        log.warning("poster image %s not drawn: %s", path, error)
        return None
    decode = _decode_photo if side == PHOTO else _decode_avatar
    return decode(path, stat.st_mtime_ns, stat.st_size, side)


def _decode_square(path: Path, _mtime_ns: int, _size: int, side: int) -> Image.Image | None:
    try:
        with Image.open(path, formats=("JPEG", "PNG", "WEBP")) as source:
            if source.size == (side, side):  # an images.poster_source file: no resize
                picture = source.convert("RGB") if source.mode == "RGB" else source.convert("RGBA")
                return _flatten(picture)
            scale = side / min(source.size)
            # A JPEG decodes at 1/2, 1/4 or 1/8 scale for free; other formats ignore this.
            source.draft("RGB", (math.ceil(source.width * scale), math.ceil(source.height * scale)))
            short = min(source.size)
            left, top = (source.width - short) / 2, (source.height - short) / 2
            picture = source if source.mode == "RGB" else source.convert("RGBA")
            # BOX averages the pixels under each output pixel: a sound and cheap downscale.
            resample = Image.Resampling.BOX if short >= side else Image.Resampling.BILINEAR
            box = (left, top, left + short, top + short)
            picture = picture.resize((side, side), resample, box=box, reducing_gap=2.0)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        log.warning("poster image %s not drawn: %s", path, error)
        return None
    return _flatten(picture)


def _flatten(picture: Image.Image) -> Image.Image:
    if picture.mode == "RGBA":
        flat = Image.new("RGB", picture.size, WHITE)
        flat.paste(picture, mask=picture.getchannel("A"))
        return flat
    return picture


# 1.3 MB each: four (a worker's recent products) keep a product's next poster from decoding its
# photo again without holding 10 MB per worker (bench/README.md, worker memory).
_decode_photo = lru_cache(maxsize=4)(_decode_square)
_decode_avatar = lru_cache(maxsize=256)(_decode_square)  # 16 KB each


def _qr_image(url: str) -> tuple[Image.Image, int]:
    """Black-on-white QR code (error correction M) with its 4-module quiet zone, the code
    itself at least QR_MIN px wide; and the quiet zone's width in px."""
    modules, n = _qr_modules(url)
    box = math.ceil(QR_MIN / (n - 8))
    image = Image.frombytes("L", (n, n), modules).resize(
        (n * box, n * box), Image.Resampling.NEAREST
    )
    return image, 4 * box


@lru_cache(maxsize=1024)
def _qr_modules(url: str) -> tuple[bytes, int]:
    """One byte per module (0 dark, 255 light), quiet zone included, and the side in modules.
    Kept per URL: choosing the mask is most of the cost and a link outlives price changes."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    qr.add_data(url)
    qr.make(fit=True)
    matrix = qr.get_matrix()
    return bytes(0 if dark else 255 for row in matrix for dark in row), len(matrix)


@cache
def _corner_masks(radius: int = 16) -> list[tuple[Image.Image, tuple[int, int]]]:
    """Masks of what lies outside the photo's rounded corners, each with its offset in the
    photo; quarters of a circle drawn at 4x and reduced, so the edges are smooth."""
    big = Image.new("L", (radius * 8, radius * 8), 255)
    ImageDraw.Draw(big).ellipse((0, 0, radius * 8 - 1, radius * 8 - 1), fill=0)
    circle = big.resize((radius * 2, radius * 2), Image.Resampling.BOX)
    far = PHOTO - 2 * radius
    return [
        (circle.crop((x, y, x + radius, y + radius)), (x and x + far, y and y + far))
        for x in (0, radius)
        for y in (0, radius)
    ]


@cache
def _circle_mask() -> Image.Image:
    big = Image.new("L", (AVATAR * 4, AVATAR * 4), 0)
    ImageDraw.Draw(big).ellipse((0, 0, AVATAR * 4 - 1, AVATAR * 4 - 1), fill=255)
    return big.resize((AVATAR, AVATAR), Image.Resampling.BOX)
