"""Pictures drawn for the demo: product shots for the merchants and phone photos for the buyers'
reviews. Both are real images (PNG or JPEG bytes) stored through ``images.store_image`` like
any upload. Drawn from a seed string, so seeding again makes the same bytes."""

import colorsys
import hashlib
import io
import math
import random
from pathlib import Path

from PIL import Image as PILImage
from PIL import ImageDraw, ImageFilter, ImageFont

FONT_DIR = Path(__file__).resolve().parents[2] / "static" / "fonts"


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for name in ("FenxiangSansSC-Bold.otf", "FenxiangSansSC-Regular.otf"):
        path = FONT_DIR / name
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def product_picture(title: str, hue_seed: str) -> bytes:
    """A clean product shot stand-in: a soft gradient, a rounded 'package' and the title."""
    digest = hashlib.md5(hue_seed.encode(), usedforsecurity=False).digest()
    hue = digest[0] / 255
    size = 800
    top = tuple(int(c * 255) for c in colorsys.hls_to_rgb(hue, 0.93, 0.55))
    bottom = tuple(int(c * 255) for c in colorsys.hls_to_rgb(hue, 0.78, 0.5))
    picture = PILImage.new("RGB", (size, size), top)
    draw = ImageDraw.Draw(picture)
    for y in range(size):
        t = y / size
        draw.line(
            [(0, y), (size, y)],
            fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    accent = tuple(int(c * 255) for c in colorsys.hls_to_rgb(hue, 0.45, 0.6))
    shape = digest[1] % 3
    if shape == 0:
        draw.rounded_rectangle((230, 170, 570, 560), radius=40, fill=accent)
        draw.rounded_rectangle((300, 120, 500, 190), radius=18, fill=accent)
    elif shape == 1:
        draw.ellipse((210, 150, 590, 530), fill=accent)
    else:
        draw.rounded_rectangle((190, 230, 610, 540), radius=60, fill=accent)
        draw.ellipse((300, 140, 500, 300), fill=accent)
    draw.rounded_rectangle((0, 600, size, size), radius=0, fill=(255, 255, 255))
    font = _font(46)
    short = title.split(" ")[0][:12]
    width = draw.textlength(short, font=font)
    draw.text(((size - width) / 2, 665), short, font=font, fill=(60, 60, 60))
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


#: Where a buyer's photo shows the product.
SCENES = ("table", "linen", "unboxing")
PHOTO_SIZE = (900, 1200)  # portrait, as a phone takes it


def _wood(rng: random.Random, size: tuple[int, int]) -> PILImage.Image:
    width, height = size
    base = rng.choice(((176, 128, 86), (150, 104, 70), (196, 160, 118)))
    picture = PILImage.new("RGB", size, base)
    draw = ImageDraw.Draw(picture)
    # Grain: long wavy lines a little lighter or darker than the board.
    for _ in range(140):
        y0 = rng.uniform(0, height)
        shade = rng.randint(-22, 18)
        colour = tuple(max(0, min(255, c + shade)) for c in base)
        phase, amplitude = rng.uniform(0, math.tau), rng.uniform(2, 9)
        points = [
            (x, y0 + amplitude * math.sin(x / rng.uniform(120, 260) + phase))
            for x in range(0, width + 30, 30)
        ]
        draw.line(points, fill=colour, width=rng.randint(1, 3))
    # Plank joins, along the grain.
    for y in range(rng.randint(80, 240), height, 280):
        draw.line([(0, y), (width, y)], fill=tuple(c - 40 for c in base), width=3)
    return picture


def _linen(rng: random.Random, size: tuple[int, int]) -> PILImage.Image:
    base = rng.choice(((236, 231, 222), (226, 232, 236), (238, 226, 226)))
    picture = PILImage.new("RGB", size, base)
    draw = ImageDraw.Draw(picture)
    width, height = size
    for step, horizontal in ((6, True), (6, False)):
        for offset in range(0, height if horizontal else width, step):
            shade = rng.randint(-10, 6)
            colour = tuple(c + shade for c in base)
            line = [(0, offset), (width, offset)] if horizontal else [(offset, 0), (offset, height)]
            draw.line(line, fill=colour)
    # A soft fold across the cloth.
    fold = PILImage.new("L", size, 0)
    ImageDraw.Draw(fold).line(
        [(0, rng.randint(200, 500)), (width, rng.randint(700, 1000))], fill=70, width=60
    )
    fold = fold.filter(ImageFilter.GaussianBlur(40))
    return PILImage.composite(PILImage.new("RGB", size, (150, 145, 140)), picture, fold)


def _box(picture: PILImage.Image, rng: random.Random) -> tuple[int, int, int, int]:
    """Draws an opened kraft shipping box seen from above; returns its inside."""
    draw = ImageDraw.Draw(picture)
    kraft, flap, inside, edge = (201, 160, 112), (214, 176, 128), (150, 112, 74), (128, 92, 58)
    left, top, right, bottom = 150, 290, 750, 1000
    reach = 150
    # The four flaps folded out, then the box and its shaded inside.
    for polygon in (
        [(left, top), (right, top), (right - 30, top - reach), (left + 30, top - reach)],
        [
            (left, bottom),
            (right, bottom),
            (right - 30, bottom + reach),
            (left + 30, bottom + reach),
        ],
        [
            (left, top),
            (left, bottom),
            (left - reach + 20, bottom - 30),
            (left - reach + 20, top + 30),
        ],
        [
            (right, top),
            (right, bottom),
            (right + reach - 20, bottom - 30),
            (right + reach - 20, top + 30),
        ],
    ):
        draw.polygon(polygon, fill=flap, outline=edge, width=3)
    draw.rectangle((left, top, right, bottom), fill=kraft, outline=edge, width=4)
    draw.rectangle((left + 20, top + 20, right - 20, bottom - 20), fill=inside)
    # The cut packing tape and a shipping label on the flaps.
    middle = (left + right) // 2
    draw.rectangle((middle - 32, top - reach + 4, middle + 32, top), fill=(222, 200, 160))
    draw.rectangle((middle - 32, bottom, middle + 32, bottom + reach - 4), fill=(222, 200, 160))
    label = (left + 50 + rng.randint(0, 40), bottom + 20, left + 230, bottom + reach - 20)
    draw.rectangle(label, fill=(248, 248, 244), outline=(190, 190, 190))
    for row in range(4):
        y = label[1] + 18 + row * 22
        draw.line(
            [(label[0] + 14, y), (label[2] - rng.randint(20, 80), y)], fill=(120, 120, 120), width=5
        )
    return left + 20, top + 20, right - 20, bottom - 20


def review_photo(title: str, hue_seed: str, scene: str, variant: str = "") -> bytes:
    """A buyer's phone photo stand-in (JPEG): the product, tilted and casting a shadow, in one
    of ``SCENES``: on a wooden table, on linen or in its opened shipping box. ``hue_seed`` is
    the product picture's, so the package matches it; ``variant`` changes the angle and the
    grain, so two buyers' photos of one product differ."""
    if scene not in SCENES:
        raise ValueError(f"unknown scene {scene!r}")
    rng = random.Random(f"{hue_seed}|{scene}|{variant}")
    width, height = PHOTO_SIZE
    picture = _linen(rng, PHOTO_SIZE) if scene == "linen" else _wood(rng, PHOTO_SIZE)
    side, centre = rng.randint(520, 600), (width // 2 + rng.randint(-40, 40), 560)
    if scene == "unboxing":
        left, top, right, bottom = _box(picture, rng)
        side = min(side, right - left - 90)
        centre = ((left + right) // 2, (top + bottom) // 2)

    product = PILImage.open(io.BytesIO(product_picture(title, hue_seed))).convert("RGBA")
    product = product.resize((side, side), PILImage.Resampling.LANCZOS)
    corners = PILImage.new("L", product.size, 0)
    ImageDraw.Draw(corners).rounded_rectangle((0, 0, side, side), radius=side // 14, fill=255)
    product.putalpha(corners)
    product = product.rotate(rng.uniform(-9, 9), expand=True, resample=PILImage.Resampling.BICUBIC)
    x, y = centre[0] - product.width // 2, centre[1] - product.height // 2

    shadow = PILImage.new("L", PHOTO_SIZE, 0)
    shadow.paste(product.getchannel("A").point(lambda a: a * 45 // 100), (x + 22, y + 30))
    shadow = shadow.filter(ImageFilter.GaussianBlur(22))
    picture = PILImage.composite(PILImage.new("RGB", PHOTO_SIZE, (30, 24, 20)), picture, shadow)
    picture.paste(product, (x, y), product)

    # Light from a window at the top left: the far corner falls off, as in a phone snapshot.
    light = PILImage.new("L", (9, 12))
    light.putdata(
        [
            max(0, min(255, int(255 * (1.15 - math.hypot(i / 8, j / 11) * 0.55))))
            for j in range(12)
            for i in range(9)
        ]
    )
    light = light.resize(PHOTO_SIZE, PILImage.Resampling.BICUBIC)
    dim = PILImage.eval(picture, lambda c: c * 72 // 100)
    picture = PILImage.composite(picture, dim, light)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return out.getvalue()
