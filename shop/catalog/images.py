"""Uploaded images: checked by content, bounded in bytes and pixels, decoded no larger than the
biggest variant needs, re-encoded (which drops EXIF and GPS), stored once by content hash in a
display size and a thumbnail, plus a square JPEG sized for posters (not served; poster
rendering decodes it instead of the display WebP).

Cost: a JPEG is decoded at 1/2, 1/4 or 1/8 of its size (libjpeg's DCT scaling, Pillow's
``draft``), a PNG or WebP at full size, so those have a lower pixel limit
(MAX_DECODED_IMAGE_PIXELS); either is then box-reduced (``reduce``) by a whole factor to
just above the largest variant before any filtering: a 64 MP phone photo costs under 0.2 s.

Files are written before the transaction that adds the ``Image`` row commits. When that
transaction ends without committing (an error later in the request), the files it wrote are
removed again, unless a committed row uses them (``_remove_unused_files``).

Pillow is imported by the functions that decode or encode (an upload, an old upload's missing
poster square), not with the module: a web worker that only serves pages and links never loads
it (bench/README.md, worker memory)."""

from __future__ import annotations

import hashlib
import io
import logging
import re
import uuid
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import event, select, text

from shop.catalog.models import Image
from shop.platform import db as dbsetup
from shop.platform.errors import ValidationError
from shop.platform.extensions import db

if TYPE_CHECKING:
    from PIL import Image as PILImage

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
#: (suffix, longest side in px, WebP quality)
VARIANTS = {"d": (750, 80), "t": (240, 75)}
_NAME_RE = re.compile(r"^([0-9a-f]{64})-([dt])\.webp$")
#: Side of the poster photo in px (posters.PHOTO) and the JPEG quality of that variant. JPEG
#: because it decodes about twice as fast as WebP, and a poster's first render pays for it.
POSTER_SIDE, POSTER_QUALITY = 670, 90
#: The decoded picture keeps at least this many px on its long and its short side: the
#: display variant's long side and the poster's square. Decoding at a whole fraction of the
#: size (a box filter) down to just above the target, then one Lanczos pass, is what libvips'
#: shrink-on-load does too.
WORK_LONG, WORK_SHORT = VARIANTS["d"][0], POSTER_SIDE
#: session.info key: the content hashes whose files this transaction wrote.
_WRITTEN = "shop.images.written"
log = logging.getLogger(__name__)


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
    from PIL import Image as PILImage  # an older upload only: every new one has the square

    display = root / image_url_name(image)
    try:
        with PILImage.open(display, formats=("WEBP",)) as picture:
            _write_atomic(target, square_jpeg(picture.convert("RGB")))
    except OSError:
        return None
    return target


def square_jpeg(picture: PILImage.Image, side: int = POSTER_SIDE) -> bytes:
    """``picture`` (RGB) cover-cropped to a centred square of ``side`` px, as JPEG."""
    from PIL import Image as PILImage
    from PIL import ImageOps

    square = ImageOps.fit(picture, (side, side), PILImage.Resampling.LANCZOS)
    out = io.BytesIO()
    square.save(out, "JPEG", quality=POSTER_QUALITY)
    return out.getvalue()


def _write_atomic(target: Path, data: bytes) -> None:
    tmp = target.with_suffix(f".{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)  # atomic: a reader never sees half a file


def _files_of(digest: str) -> list[Path]:
    root = media_root() / digest[:2]
    return [*(root / f"{digest}-{suffix}.webp" for suffix in VARIANTS), root / f"{digest}-s.jpg"]


def store_image(data: bytes, *, field: str = "image", uploaded_by_id: int | None = None) -> Image:
    """Validate and store an upload; returns the (possibly already stored) Image row.

    Raises ValidationError for anything that is not a JPEG, PNG or WebP within the size and
    pixel limits.
    """
    from PIL import Image as PILImage

    max_bytes = current_app.config["MAX_IMAGE_BYTES"]
    if not data:
        raise ValidationError(_l("Choose an image file."), field)
    if len(data) > max_bytes:
        raise ValidationError(
            _l("The image is larger than %(mb)d MB.", mb=max_bytes // (1024 * 1024)), field
        )
    digest = hashlib.sha256(data).hexdigest()
    _lock_digest(db.session, digest)
    existing = db.session.execute(select(Image).where(Image.sha256 == digest)).scalar_one_or_none()
    if existing is not None:
        return existing

    picture = _decode(data, field=field)
    (media_root() / digest[:2]).mkdir(parents=True, exist_ok=True)
    db.session.info.setdefault(_WRITTEN, set()).add(digest)  # removed again if not committed
    display, thumb, poster = _files_of(digest)
    variant = picture
    for target, (side, quality) in ((display, VARIANTS["d"]), (thumb, VARIANTS["t"])):
        variant = variant.copy()  # the thumbnail is made from the display size: cheaper
        variant.thumbnail((side, side), PILImage.Resampling.LANCZOS)
        if target is display:
            width, height = variant.size
        _write_atomic(target, _encode_within(variant, quality))
    _write_atomic(poster, square_jpeg(picture))
    image = Image(sha256=digest, width=width, height=height, uploaded_by_id=uploaded_by_id)
    db.session.add(image)
    db.session.flush()
    return image


def lock_uploads(uploads: list[bytes]) -> None:
    """Take the content-hash locks of several uploads at once, in one order (by hash), before
    storing any of them. Two requests storing the same new pictures in opposite orders then wait
    for each other instead of deadlocking on PostgreSQL; ``store_image`` takes each lock again
    (advisory locks stack within a transaction)."""
    for digest in sorted({hashlib.sha256(data).hexdigest() for data in uploads if data}):
        _lock_digest(db.session, digest)


def _encode_within(picture: PILImage.Image, quality: int) -> bytes:
    """WebP at ``quality``, or at a lower quality (a multiple of 10, at least 30) when that is
    needed to fit the phone budget (MAX_DISPLAY_IMAGE_BYTES: the main image of a page must
    stay under 80 KB). At most four encodings: the size grows about linearly with the quality,
    so the one to try is read off the sizes at ``quality`` and at 30."""
    limit = current_app.config["MAX_DISPLAY_IMAGE_BYTES"]
    best = _webp(picture, quality)
    if len(best) <= limit or quality <= 30:
        return best
    floor = _webp(picture, 30)
    if len(floor) > limit:  # noise-like pictures: the encoder's slower, tighter method
        return _webp(picture, 30, method=4)
    guess = 30 + (limit - len(floor)) * (quality - 30) // (len(best) - len(floor))
    for lower in range(guess - guess % 10, 30, -10)[:2]:
        data = _webp(picture, lower)
        if len(data) <= limit:
            return data
    return floor


def _webp(picture: PILImage.Image, quality: int, method: int = 1) -> bytes:
    """Method 1 costs a third of the CPU of libwebp's default 4, for files within a few per
    cent of its size (more only on noise-like pictures)."""
    out = io.BytesIO()
    picture.save(out, "WEBP", quality=quality, method=method)
    return out.getvalue()


def work_size(width: int, height: int) -> tuple[int, int]:
    """The smallest (width, height) a picture of this shape is decoded or reduced to."""
    return (WORK_LONG, WORK_SHORT) if width >= height else (WORK_SHORT, WORK_LONG)


def _too_many_pixels(max_pixels: int, field: str) -> ValidationError:
    return ValidationError(
        _l(
            "The image has too many pixels (at most %(mp)d megapixels).",
            mp=max_pixels // 1_000_000,
        ),
        field,
    )


def open_upload(data: bytes, *, field: str) -> PILImage.Image:
    """The upload opened, only its header read, and set to decode no more pixels than needed.

    Refuses more than MAX_IMAGE_PIXELS, and more than MAX_DECODED_IMAGE_PIXELS to decode at
    full size: a PNG's or WebP's own, a JPEG's after the reduction its decoder does itself
    (the caller maps Pillow's own errors: see ``_decode``)."""
    from PIL import Image as PILImage

    max_pixels = current_app.config["MAX_IMAGE_PIXELS"]
    max_decoded = current_app.config["MAX_DECODED_IMAGE_PIXELS"]
    picture = PILImage.open(io.BytesIO(data), formats=sorted(ALLOWED_FORMATS))
    if picture.width * picture.height > max_pixels:
        raise _too_many_pixels(max_pixels, field)
    if picture.format == "JPEG":
        # Decoded at 1/2, 1/4 or 1/8 of the size, never below work_size.
        picture.draft("RGB", work_size(*picture.size))
    if picture.width * picture.height > max_decoded:
        raise ValidationError(
            _l("This image is too long and narrow. Crop it or choose a smaller one.")
            if picture.format == "JPEG"
            else _l(
                "PNG and WebP images can have at most %(mp)d megapixels. "
                "Save it as a JPEG or choose a smaller one.",
                mp=max_decoded // 1_000_000,
            ),
            field,
        )
    return picture


def _decode(data: bytes, *, field: str) -> PILImage.Image:
    """The upload as an RGB picture just above the largest variant's size."""
    from PIL import Image as PILImage
    from PIL import ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            picture = open_upload(data, field=field)
            picture.load()
            return _to_rgb(ImageOps.exif_transpose(_reduce(picture)))
    except ValidationError:
        raise
    except (PILImage.DecompressionBombWarning, PILImage.DecompressionBombError):
        raise _too_many_pixels(current_app.config["MAX_IMAGE_PIXELS"], field) from None
    except (OSError, SyntaxError, ValueError):
        raise ValidationError(_l("Only JPEG, PNG or WebP images can be uploaded."), field) from None


def _reduce(picture: PILImage.Image) -> PILImage.Image:
    """Box-reduce by a whole factor to no less than work_size (cheap: no filter window)."""
    if picture.mode not in ("RGB", "RGBA", "L", "LA"):
        alpha = picture.mode in ("PA", "RGBa", "La") or "transparency" in picture.info
        picture = picture.convert("RGBA" if alpha else "RGB")
    least_width, least_height = work_size(*picture.size)
    factor = min(picture.width // least_width, picture.height // least_height)
    return picture.reduce(factor) if factor > 1 else picture


def _to_rgb(picture: PILImage.Image) -> PILImage.Image:
    from PIL import Image as PILImage

    if picture.mode in ("RGBA", "LA"):
        picture = picture.convert("RGBA")
        background = PILImage.new("RGB", picture.size, (255, 255, 255))
        background.paste(picture, mask=picture.getchannel("A"))
        return background
    return picture.convert("RGB")


# --- files of transactions that did not commit ---------------------------------------------


def _lock_digest(session_or_connection, digest: str) -> None:
    """On PostgreSQL, hold a transaction-scoped advisory lock on this content hash: uploads
    of the same picture, and the removal of a failed upload's files, take turns. (On SQLite
    every write transaction already holds the database's write lock.)"""
    bind = session_or_connection
    dialect = (bind.get_bind() if hasattr(bind, "get_bind") else bind).dialect.name
    if dialect == "postgresql":
        key = int(digest[:15], 16)  # 60 bits: fits a signed bigint
        session_or_connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


@event.listens_for(db.session, "after_commit")
def _files_kept(session) -> None:
    if not session.in_nested_transaction():  # the outermost transaction committed
        session.info.pop(_WRITTEN, None)


@event.listens_for(db.session, "after_transaction_end")
def _files_of_an_ended_transaction(session, transaction) -> None:
    if transaction.parent is None and session.info.get(_WRITTEN):
        # Ended without committing (a rollback, or closed): those files may be unused.
        _remove_unused_files(session.get_bind(), sorted(session.info.pop(_WRITTEN)))


def _remove_unused_files(engine, digests: list[str]) -> None:
    """Delete the files of ``digests`` that no committed Image row uses, in a write
    transaction of their own (so an upload of the same picture cannot commit in between)."""
    try:
        with dbsetup.writing(), engine.connect() as connection, connection.begin():
            for digest in digests:
                _lock_digest(connection, digest)
            used = set(
                connection.execute(select(Image.sha256).where(Image.sha256.in_(digests))).scalars()
            )
            for digest in digests:
                if digest not in used:
                    for path in _files_of(digest):
                        path.unlink(missing_ok=True)
    except Exception:  # never let tidying up turn an error page into another error
        log.exception("could not remove the files of uploads that were not saved")
