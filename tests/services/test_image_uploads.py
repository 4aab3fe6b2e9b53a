"""What one upload may cost (pixels decoded, the pixel caps and their messages), and what a
failed or concurrent upload leaves behind (files on disk, image positions)."""

import io
import struct
import threading
import zlib

import pytest
from flask_babel import force_locale
from PIL import Image as PILImage
from sqlalchemy import func, select

from shop.catalog import images, products
from shop.catalog.models import Image, Merchant, Product, ProductImage
from shop.platform.errors import ValidationError
from shop.platform.extensions import db
from tests import invariants
from tests.factories import make_product, png_bytes
from tests.services.test_concurrency import race


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header says ``width`` x ``height`` (8-bit RGB) but whose pixel data is a
    few bytes: opening it reads the size; decoding it fails. The probe's 6300 x 6300 PNG
    without its 130 KB of compressed pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def jpeg_bytes(size, color=(120, 90, 60), exif=None) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", size, color).save(
        out, "JPEG", quality=80, **({"exif": exif} if exif else {})
    )
    return out.getvalue()


def files_of(digest: str) -> list:
    return images._files_of(digest)


# --- what is decoded ------------------------------------------------------------------------


def test_a_big_jpeg_is_decoded_at_a_fraction_of_its_size(ctx, app):
    data = jpeg_bytes((8000, 6000))  # a 48 MP phone photo
    picture = images.open_upload(data, field="images")
    picture.load()
    # What Pillow decoded (its pixel buffer), not a resize after a full decode: 1/8 of each side.
    assert picture.im.size == (1000, 750)
    assert picture.width * picture.height <= app.config["MAX_DECODED_IMAGE_PIXELS"]
    image = images.store_image(data)
    assert (image.width, image.height) == (750, 563)
    with PILImage.open(images.poster_source(image)) as poster:
        assert poster.size == (images.POSTER_SIDE,) * 2


def test_the_decoded_picture_is_never_much_larger_than_the_variants_need(ctx):
    for data in (jpeg_bytes((5000, 3000)), png_bytes(size=(2800, 2100))):
        picture = images._decode(data, field="images")
        least_width, least_height = images.work_size(*picture.size)
        assert picture.width < 2 * least_width and picture.height < 2 * least_height
        assert picture.mode == "RGB"


def test_the_probes_big_png_is_refused_before_any_pixel_is_decoded(ctx, app):
    assert 6300 * 6300 < app.config["MAX_IMAGE_PIXELS"]  # within the limit for a JPEG
    with pytest.raises(ValidationError) as caught:
        images.store_image(png_header_only(6300, 6300), field="images")
    # Had it been decoded, the missing pixel data would have said "not an image".
    assert caught.value.field == "images"
    assert str(caught.value.message) == (
        "PNG 和 WebP 图片最多 6 百万像素，请另存为 JPEG 或换一张小一点的图片。"
    )
    with force_locale("en"):
        assert str(caught.value.message) == (
            "PNG and WebP images can have at most 6 megapixels. "
            "Save it as a JPEG or choose a smaller one."
        )
    assert db.session.execute(select(func.count(Image.id))).scalar() == 0


def test_a_jpeg_too_narrow_to_decode_smaller_is_refused(ctx, app):
    app.config["MAX_DECODED_IMAGE_PIXELS"] = 2_000_000
    with pytest.raises(ValidationError) as caught:
        images.store_image(jpeg_bytes((800, 4000)), field="photos")  # 3.2 MP, 1:5
    assert caught.value.field == "photos" and "细长" in str(caught.value.message)
    images.store_image(jpeg_bytes((4000, 3000)))  # 12 MP, decoded at a quarter: fine


def test_the_orientation_survives_the_reduced_decoding(ctx):
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image = images.store_image(jpeg_bytes((4000, 3000), exif=exif))
    assert image.height == 750 and image.width in (562, 563)  # portrait, as displayed
    with PILImage.open(images.media_file(images.image_url_name(image))) as stored:
        assert stored.size == (image.width, 750) and not stored.getexif()


def transparent_png(mode: str) -> bytes:
    """2800 x 1800: the left half red, the right half transparent black."""
    out = io.BytesIO()
    if mode == "P":
        picture = PILImage.new("P", (2800, 1800), 0)
        picture.putpalette([0, 0, 0, 200, 0, 0])
        picture.paste(1, (0, 0, 1400, 1800))
        picture.save(out, "PNG", transparency=0)
    else:
        picture = PILImage.new("RGBA", (2800, 1800), (0, 0, 0, 0))
        picture.paste((200, 0, 0, 255), (0, 0, 1400, 1800))
        picture.save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("mode", ["RGBA", "P"])
def test_a_transparent_png_is_reduced_and_laid_on_white(ctx, mode):
    image = images.store_image(transparent_png(mode))
    with PILImage.open(images.media_file(images.image_url_name(image))) as stored:
        rgb = stored.convert("RGB")
        red, white = rgb.getpixel((100, 250)), rgb.getpixel((650, 250))
    assert red[0] > 180 and red[1] < 40 and min(white) > 235


# --- files of uploads that were not saved ---------------------------------------------------


def test_a_rolled_back_upload_leaves_no_files(ctx):
    kept = images.store_image(png_bytes(size=(90, 90), color=(1, 2, 3)))
    db.session.commit()
    image = images.store_image(png_bytes(size=(90, 90), color=(4, 5, 6)))
    again = images.store_image(png_bytes(size=(90, 90), color=(1, 2, 3)))
    assert again.id == kept.id  # already stored: nothing written this time
    written = files_of(image.sha256)
    assert all(path.is_file() for path in written)
    db.session.rollback()
    assert not any(path.exists() for path in written)
    assert all(path.is_file() for path in files_of(kept.sha256))  # a committed row's files stay
    assert not list(images.media_root().rglob("*.tmp"))


def test_files_a_committed_row_uses_are_never_removed(ctx, app):
    """Two transactions store the same picture; the one that commits keeps the files even
    though the other, which wrote them too, rolls back afterwards."""
    data = png_bytes(size=(90, 90), color=(7, 8, 9))
    with app.app_context():  # another session, as another request
        images.store_image(data)
        db.session.commit()
    # This transaction wrote the same files too (another worker's upload of the same picture,
    # before the first committed), then fails.
    digest = db.session.execute(select(Image.sha256)).scalar_one()
    db.session.info.setdefault(images._WRITTEN, set()).add(digest)
    db.session.rollback()
    assert all(path.is_file() for path in files_of(digest))


def test_a_failed_product_save_removes_the_files_it_wrote(ctx):
    product = make_product(with_image=False)
    db.session.commit()
    merchant = db.session.get(Merchant, product.merchant_id)
    good = png_bytes(size=(120, 90), color=(11, 12, 13))
    with pytest.raises(ValidationError):
        products.add_images(product, [good, b"not an image"], merchant=merchant)
    digest = db.session.execute(select(Image.sha256)).scalar_one()
    db.session.rollback()
    assert not any(path.exists() for path in files_of(digest))


# --- uploads at the same time ---------------------------------------------------------------


def test_four_uploads_at_once_to_one_product_each_get_a_position(app):
    with app.app_context():
        product = make_product()  # one image at position 0
        product_id, merchant_id = product.id, product.merchant_id
        db.session.commit()
    uploads = [png_bytes(size=(100 + i, 80), color=(i, 90, 30)) for i in range(4)]

    def upload(i):
        product = db.session.get(Product, product_id)
        merchant = db.session.get(Merchant, merchant_id)
        products.add_images(product, [uploads[i]], merchant=merchant)
        return "ok"

    results, _seconds = race(app, 4, upload)
    assert results == ["ok"] * 4, results
    with app.app_context():
        rows = db.session.execute(
            select(ProductImage.position, Image.sha256)
            .join(Image, Image.id == ProductImage.image_id)
            .where(ProductImage.product_id == product_id)
            .order_by(ProductImage.position)
        ).all()
        assert [position for position, _ in rows] == [0, 1, 2, 3, 4]
        for _position, digest in rows:
            assert all(path.is_file() for path in files_of(digest))
        invariants.check(db.session)


def test_the_same_new_pictures_in_opposite_orders_at_once_do_not_deadlock(app, monkeypatch):
    """Two products get the same two new pictures at the same moment, in opposite orders. Each
    request stores its first picture, then both wait for each other (up to 2 s) before storing
    the second: taking each picture's lock only as it is stored, that is a deadlock on
    PostgreSQL (one request fails); taking both locks up front in one order, the second request
    waits for the first to commit."""
    with app.app_context():
        first, second = make_product(), make_product()
        ids = [(first.id, first.merchant_id), (second.id, second.merchant_id)]
        db.session.commit()
    pictures = [png_bytes(size=(120, 90), color=(9, 9, 200)), png_bytes(size=(90, 120))]
    both_stored_one = threading.Barrier(2)
    real_store = images.store_image
    stored_here = threading.local()

    def store(data, **kwargs):
        image = real_store(data, **kwargs)
        if not getattr(stored_here, "once", False):
            stored_here.once = True
            try:
                both_stored_one.wait(timeout=2)
            except threading.BrokenBarrierError:
                pass  # the other request is waiting for this one's locks: go on
        return image

    monkeypatch.setattr(images, "store_image", store)

    def upload(i):
        product_id, merchant_id = ids[i]
        product = db.session.get(Product, product_id)
        merchant = db.session.get(Merchant, merchant_id)
        order = pictures if i == 0 else pictures[::-1]
        products.add_images(product, order, merchant=merchant)
        return "ok"

    results, _seconds = race(app, 2, upload)
    assert results == ["ok", "ok"], results
    with app.app_context():
        assert db.session.execute(select(func.count(Image.id))).scalar_one() == 4  # 2 + 2 new
        invariants.check(db.session)


def test_uploads_at_once_past_the_image_limit_are_refused_and_leave_no_files(app):
    app.config["MAX_PRODUCT_IMAGES"] = 3
    with app.app_context():
        product = make_product()  # 1 of 3
        product_id, merchant_id = product.id, product.merchant_id
        db.session.commit()
    uploads = [png_bytes(size=(100 + i, 80), color=(i, 40, 90)) for i in range(4)]

    def upload(i):
        product = db.session.get(Product, product_id)
        merchant = db.session.get(Merchant, merchant_id)
        products.add_images(product, [uploads[i]], merchant=merchant)
        return "ok"

    results, _seconds = race(app, 4, upload)
    assert sorted(results) == ["ValidationError"] * 2 + ["ok"] * 2, results
    with app.app_context():
        stored = set(db.session.execute(select(Image.sha256)).scalars())
        assert len(stored) == 3
        on_disk = {path.name[:64] for path in images.media_root().rglob("*-d.webp")}
        assert on_disk == stored  # the refused uploads' files are gone


def test_a_savepoint_inside_does_not_keep_the_files_of_a_rolled_back_upload(ctx):
    """Review photos are stored before the review's savepoint (writing.insert_once): the
    savepoint's commit is not the transaction's."""
    image = images.store_image(png_bytes(size=(90, 90), color=(21, 22, 23)))
    with db.session.begin_nested():
        db.session.flush()
    written = files_of(image.sha256)
    assert all(path.is_file() for path in written)
    db.session.rollback()
    assert not any(path.exists() for path in written)
