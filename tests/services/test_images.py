import io

import pytest
from PIL import Image as PILImage

from shop.catalog import images
from shop.platform.errors import ValidationError
from tests.factories import png_bytes


def test_png_is_stored_once_in_two_sizes(ctx):
    data = png_bytes(size=(1600, 1200))
    image = images.store_image(data)
    again = images.store_image(data)
    assert again.id == image.id
    assert (image.width, image.height) == (750, 563)
    for variant, longest in (("d", 750), ("t", 240)):
        path = images.media_file(images.image_url_name(image, variant))
        assert path is not None
        with PILImage.open(path) as stored:
            assert stored.format == "WEBP" and max(stored.size) == longest


def test_a_square_poster_variant_is_stored_and_remade_when_missing(ctx):
    image = images.store_image(png_bytes(size=(1600, 1200)))
    path = images.poster_source(image)
    assert path is not None and path.name == f"{image.sha256}-s.jpg"
    with PILImage.open(path) as stored:
        assert stored.format == "JPEG" and stored.size == (images.POSTER_SIDE,) * 2
    assert images.media_file(path.name) is None  # never served as a media URL
    path.unlink()  # an upload stored before the variant existed
    remade = images.poster_source(image)
    assert remade == path and remade.is_file()
    images.media_file(images.image_url_name(image)).unlink()
    remade.unlink()
    assert images.poster_source(image) is None  # nothing to draw from: a placeholder


def test_exif_and_gps_are_dropped(ctx):
    picture = PILImage.new("RGB", (80, 60), (10, 200, 10))
    exif = PILImage.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N", 2: (31.0, 14.0, 0.0)}  # GPS info
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif)
    image = images.store_image(out.getvalue())
    with PILImage.open(images.media_file(images.image_url_name(image))) as stored:
        assert not stored.getexif()


def test_format_is_read_from_the_content_not_the_name(ctx):
    with pytest.raises(ValidationError) as caught:
        images.store_image(b"GIF89a" + b"\0" * 100)
    assert "JPEG、PNG 或 WebP" in str(caught.value.message)
    gif = io.BytesIO()
    PILImage.new("RGB", (10, 10)).save(gif, "GIF")
    with pytest.raises(ValidationError):
        images.store_image(gif.getvalue())
    with pytest.raises(ValidationError):
        images.store_image(b"<svg xmlns='http://www.w3.org/2000/svg'/>")


def test_pixel_bomb_is_refused_before_decoding(ctx, app):
    app.config["MAX_IMAGE_PIXELS"] = 1_000_000
    bomb = png_bytes(size=(2000, 2000))  # 4 MP, compresses to a few KB
    assert len(bomb) < 100_000
    with pytest.raises(ValidationError) as caught:
        images.store_image(bomb)
    assert "像素" in str(caught.value.message)


def test_oversized_upload_is_refused(ctx, app):
    app.config["MAX_IMAGE_BYTES"] = 1000
    with pytest.raises(ValidationError) as caught:
        images.store_image(png_bytes(size=(300, 300), color=(1, 2, 3)) + b"\0" * 2000)
    assert "超过" in str(caught.value.message)


@pytest.mark.parametrize("name", ["../secret_key", "abc-d.webp", "0" * 64 + "-x.webp", ""])
def test_media_names_are_strict(ctx, name):
    assert images.media_file(name) is None
