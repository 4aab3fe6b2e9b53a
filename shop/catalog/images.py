"""Uploaded images: checked by content, bounded in bytes and pixels, re-encoded (which drops
EXIF and GPS), stored once by content hash in a display size and a thumbnail, plus a square
JPEG sized for posters (not served; poster rendering decodes it instead of the display WebP)."""

import hashlib
import io
import re
import uuid
import warnings
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from PIL import Image as PILImage
from PIL import ImageOps
from sqlalchemy import select

from shop.catalog.models import Image
from shop.platform.errors import ValidationError
from shop.platform.extensions import db

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
#: (suffix, longest side in px, WebP quality)
VARIANTS = {"d": (750, 80), "t": (240, 75)}
_NAME_RE = re.compile(r"^([0-9a-f]{64})-([dt])\.webp$")
#: Side of the poster photo in px (posters.PHOTO) and the JPEG quality of that variant. JPEG
#: because it decodes about twice as fast as WebP, and a poster's first render pays for it.
POSTER_SIDE, POSTER_QUALITY = 670, 90


def media_root() -> Path:
    return Path(current_app.config["MEDIA_ROOT"])


def image_url_name(image: Image, variant: str = "d") -> str:
    return f"{image.sha256}-{variant}.webp"


def media_file(name: str) -> Path | None:
    """The file behind a media URL name, or None for a malformed or unknown name."""
    match = _NAME_RE.match(name)
    if not match:
        return None
    path = media_root() / match.group(1)[:2] / name
    return path if path.is_file() else None


def poster_source(image: Image) -> Path | None:
    """The square poster-sized JPEG of ``image``, made from the display variant when an older
    upload lacks it; None when neither file is there (the poster then draws a placeholder)."""
    root = media_root() / image.sha256[:2]
    target = root / f"{image.sha256}-s.jpg"
    if target.is_file():
        return target
    display = root / image_url_name(image)
    try:
        with PILImage.open(display, formats=("WEBP",)) as picture:
            _write_atomic(target, square_jpeg(picture.convert("RGB")))
    except OSError:
        return None
    return target


def square_jpeg(picture: PILImage.Image, side: int = POSTER_SIDE) -> bytes:
    """``picture`` (RGB) cover-cropped to a centred square of ``side`` px, as JPEG."""
    square = ImageOps.fit(picture, (side, side), PILImage.Resampling.LANCZOS)
    out = io.BytesIO()
    square.save(out, "JPEG", quality=POSTER_QUALITY)
    return out.getvalue()


def _write_atomic(target: Path, data: bytes) -> None:
    tmp = target.with_suffix(f".{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)  # atomic: a reader never sees half a file


def store_image(data: bytes, *, field: str = "image", uploaded_by_id: int | None = None) -> Image:
    """Validate and store an upload; returns the (possibly already stored) Image row.

    Raises ValidationError for anything that is not a JPEG, PNG or WebP within the size and
    pixel limits.
    """
    max_bytes = current_app.config["MAX_IMAGE_BYTES"]
    max_pixels = current_app.config["MAX_IMAGE_PIXELS"]
    if not data:
        raise ValidationError(_l("Choose an image file."), field)
    if len(data) > max_bytes:
        raise ValidationError(
            _l("The image is larger than %(mb)d MB.", mb=max_bytes // (1024 * 1024)), field
        )
    digest = hashlib.sha256(data).hexdigest()
    existing = db.session.execute(select(Image).where(Image.sha256 == digest)).scalar_one_or_none()
    if existing is not None:
        return existing

    picture = _decode(data, field=field, max_pixels=max_pixels)
    root = media_root() / digest[:2]
    root.mkdir(parents=True, exist_ok=True)
    width = height = 0
    for suffix, (side, quality) in VARIANTS.items():
        variant = picture.copy()
        variant.thumbnail((side, side), PILImage.Resampling.LANCZOS)
        if suffix == "d":
            width, height = variant.size
        _write_atomic(root / f"{digest}-{suffix}.webp", _encode_within(variant, quality))
    _write_atomic(root / f"{digest}-s.jpg", square_jpeg(picture))
    image = Image(sha256=digest, width=width, height=height, uploaded_by_id=uploaded_by_id)
    db.session.add(image)
    db.session.flush()
    return image


def _encode_within(picture: PILImage.Image, quality: int) -> bytes:
    """WebP at ``quality``, stepping the quality down until the file fits the phone budget
    (MAX_DISPLAY_IMAGE_BYTES: the main image of a page must stay under 80 KB)."""
    limit = current_app.config["MAX_DISPLAY_IMAGE_BYTES"]
    while True:
        out = io.BytesIO()
        picture.save(out, "WEBP", quality=quality, method=4)
        if out.tell() <= limit or quality <= 30:
            return out.getvalue()
        quality -= 10


def _decode(data: bytes, *, field: str, max_pixels: int) -> PILImage.Image:
    not_image = ValidationError(_l("Only JPEG, PNG or WebP images can be uploaded."), field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            picture = PILImage.open(io.BytesIO(data), formats=sorted(ALLOWED_FORMATS))
            if picture.width * picture.height > max_pixels:
                raise ValidationError(
                    _l(
                        "The image has too many pixels (at most %(mp)d megapixels).",
                        mp=max_pixels // 1_000_000,
                    ),
                    field,
                )
            picture.load()
    except ValidationError:
        raise
    except (PILImage.DecompressionBombWarning, PILImage.DecompressionBombError):
        raise ValidationError(
            _l(
                "The image has too many pixels (at most %(mp)d megapixels).",
                mp=max_pixels // 1_000_000,
            ),
            field,
        ) from None
    except (OSError, SyntaxError, ValueError):
        raise not_image from None
    picture = ImageOps.exif_transpose(picture)
    if picture.mode in ("RGBA", "LA", "P"):
        picture = picture.convert("RGBA")
        background = PILImage.new("RGB", picture.size, (255, 255, 255))
        background.paste(picture, mask=picture.getchannel("A"))
        return background
    return picture.convert("RGB")
