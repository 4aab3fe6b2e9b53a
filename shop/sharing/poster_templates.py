"""The poster's other two layouts, drawn with the parts of ``shop.sharing.posters``:

- "price": the price first, large on a red band at the top, the photo below it;
- "review": a buyer's review (or the sharer's words when there is none) quoted large under the
  photo.

The "product" layout (the photo first) is ``posters.render_poster``'s own. All three keep the
QR code bottom right at the same size, so a scan works the same on each.
"""

from functools import lru_cache

from PIL import Image, ImageDraw

from shop.sharing import posters as p

TEMPLATES = ("product", "price", "review")
BAND = 300  #: height of the price layout's red band
SMALL_PHOTO = 560  #: the photo's side in the price and review layouts


def draw(canvas: Image.Image, draw: ImageDraw.ImageDraw, content: p.PosterContent) -> None:
    """Draw ``content`` with its template ("price" or "review") onto the blank canvas."""
    if content.template == "price":
        _price_first(canvas, draw, content)
    elif content.template == "review":
        _review_quote(canvas, draw, content)
    else:
        raise ValueError(f"unknown poster template {content.template!r}")


def _photo(canvas: Image.Image, draw: ImageDraw.ImageDraw, path, top: int) -> int:
    """The photo, centred, ``SMALL_PHOTO`` square from ``top``; returns the y below it."""
    left = (p.WIDTH - SMALL_PHOTO) // 2
    picture = _small_photo(path)
    if picture is None:
        p._draw_placeholder(draw, (left, top, left + SMALL_PHOTO, top + SMALL_PHOTO))
    else:
        canvas.paste(picture, (left, top))
    return top + SMALL_PHOTO


def _small_photo(path) -> Image.Image | None:
    """The photo at ``SMALL_PHOTO``, kept per file version like the poster's own photo (the
    resize was a third of a render)."""
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    return _resized(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)  # 0.9 MB each (as posters._decode_photo)
def _resized(path, _mtime_ns: int, _size: int) -> Image.Image | None:
    picture = p._load_square(path, p.PHOTO)
    if picture is None:
        return None
    return picture.resize((SMALL_PHOTO, SMALL_PHOTO), Image.Resampling.BILINEAR)


def _qr(canvas: Image.Image, url: str) -> tuple[int, int]:
    """The QR code bottom right; returns the x left of its quiet zone and its bottom."""
    qr, quiet = p._qr_image(url)
    code = qr.width - 2 * quiet
    left, top = p.WIDTH - p.MARGIN - code, p.HEIGHT - p.MARGIN - code
    canvas.paste(qr, (left - quiet, top - quiet))
    return left - quiet - p.MARGIN - 8, top + code


def _lines(draw, text, face, width, max_lines, y, step, fill, indent=0) -> int:
    for line in p.wrap_text(p.drawable_text(text), face, width, max_lines):
        draw.text((p.MARGIN + indent, y), line, font=face, fill=fill, anchor="la")
        y += step
    return y


def _hint(draw, content: p.PosterContent, width: int, bottom: int) -> None:
    face = p.font("bold", 30)
    hint = p.wrap_text(p.drawable_text(content.hint), face, width, 2)
    for index, line in enumerate(reversed(hint)):
        draw.text((p.MARGIN, bottom - 44 * index), line, font=face, fill=p.TEXT, anchor="ld")


def _price_first(canvas, draw, content: p.PosterContent) -> None:
    draw.rectangle((0, 0, p.WIDTH, BAND), fill=p.RED)
    headline = p._one_line(content.headline, p.font("bold", 30), p.WIDTH - 2 * p.MARGIN)
    draw.text((p.MARGIN, p.MARGIN), headline, font=p.font("bold", 30), fill=p.WHITE, anchor="la")
    baseline = BAND - 70
    if content.price_cents is not None:
        x = float(p.MARGIN)
        whole, _, fen = p.yuan(content.price_cents).partition(".")
        for text, size in (("¥", 56), (whole, 136), ("." + fen if fen else "", 64)):
            face = p.font("bold", size)
            draw.text((x, baseline), text, font=face, fill=p.WHITE, anchor="ls")
            x += face.getlength(text) + (6 if text == "¥" else 0)
        original = content.original_price_cents
        if original is not None and original > content.price_cents:
            face, text, x = p.font("regular", 32), "¥" + p.yuan(original), x + 24
            draw.text((x, baseline), text, font=face, fill=p.WHITE, anchor="ls")
            draw.line(
                (x - 2, baseline - 11, x + face.getlength(text) + 2, baseline - 11), p.WHITE, 2
            )
    else:
        _lines(draw, content.title, p.font("bold", 56), p.WIDTH - 2 * p.MARGIN, 2, 110, 70, p.WHITE)
    y = _photo(canvas, draw, content.image_path, BAND + 30) + 24
    width, bottom = _qr(canvas, content.url)
    y = _lines(draw, content.title, p.font("regular", 34), width, 2, y, 50, p.TEXT)
    subtitle = p._one_line(content.subtitle, p.font("regular", 28), width)
    draw.text((p.MARGIN, y + 6), subtitle, font=p.font("regular", 28), fill=p.GREY, anchor="la")
    _hint(draw, content, width, bottom)


def _review_quote(canvas, draw, content: p.PosterContent) -> None:
    p._draw_header(canvas, draw, content)
    y = _photo(canvas, draw, content.image_path, p.PHOTO_TOP) + 28
    words = content.quote or content.subtitle or content.title
    box_bottom = y + 3 * 52 + 36
    draw.rounded_rectangle((p.MARGIN, y, p.WIDTH - p.MARGIN, box_bottom), 16, fill=p.LIGHT)
    face = p.font("bold", 38)
    _lines(draw, f"“{words}”", face, p.WIDTH - 2 * p.MARGIN - 40, 3, y + 18, 52, p.TEXT, 20)
    y = box_bottom + 20
    width, bottom = _qr(canvas, content.url)
    if content.rating:
        face = p.font("bold", 30)
        draw.text((p.MARGIN, y), content.rating, font=face, fill=p.ORANGE, anchor="la")
        y += 44
    if content.price_cents is not None:
        face = p.font("bold", 48)
        draw.text(
            (p.MARGIN, y), "¥" + p.yuan(content.price_cents), font=face, fill=p.RED, anchor="la"
        )
        y += 62
    _lines(draw, content.title, p.font("regular", 30), width, 1, y, 44, p.TEXT)
    _hint(draw, content, width, bottom)
