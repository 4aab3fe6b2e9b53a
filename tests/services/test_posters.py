"""The QR poster engine: plain data in, image bytes out; no app, no database."""

import dataclasses
import io
import math
import os
import shutil
from pathlib import Path

import pytest
import qrcode
from PIL import Image

from shop.sharing import posters

LONG_TITLE = "武夷山正山小种红茶 250g 礼盒装 高山茶园春茶 松烟香 回甘足"
URL = "https://fenxiang.example.com/r/AbC123xy"
PRICE_TOP = posters.PHOTO_TOP + posters.PHOTO + 24


def make_content(**overrides) -> posters.PosterContent:
    fields = {
        "url": URL,
        "title": LONG_TITLE,
        "price_cents": 12800,
        "original_price_cents": 16800,
        "image_path": None,
        "sharer_name": "小美",
        "avatar_path": None,
        "headline": "小美 向你推荐",
        "hint": "长按识别二维码",
        "subtitle": "汤色红亮，回甘足",
        "rating": "4.8★",
    }
    return posters.PosterContent(**{**fields, **overrides})


def save_picture(path: Path, size=(800, 800), colour=(30, 160, 90), fmt="WEBP") -> Path:
    Image.new("RGB", size, colour).save(path, fmt)
    return path


def decode(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture.convert("RGB")


def near(pixel, colour, tolerance=40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


def count_close(picture: Image.Image, box, colour, tolerance=40) -> int:
    data = picture.crop(box).tobytes()  # RGB triples; getdata() is deprecated in Pillow 13
    pixels = zip(data[0::3], data[1::3], data[2::3], strict=True)
    return sum(1 for pixel in pixels if near(pixel, colour, tolerance))


def test_poster_is_a_750x1334_jpeg_by_default_and_webp_on_request(tmp_path):
    content = make_content(image_path=save_picture(tmp_path / "p.webp"))
    jpeg = posters.render_poster(content)
    webp = posters.render_poster(content, fmt="WEBP")
    assert jpeg[:3] == b"\xff\xd8\xff"
    assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"
    for data, fmt in ((jpeg, "JPEG"), (webp, "WEBP")):
        with Image.open(io.BytesIO(data)) as picture:
            assert (picture.format, picture.size) == (fmt, (750, 1334))
    assert len(jpeg) < 400_000


def test_png_is_refused():
    with pytest.raises(ValueError):
        posters.render_poster(make_content(), fmt="PNG")


def test_long_chinese_title_takes_two_lines_ending_in_an_ellipsis():
    face = posters.font("regular", 34)
    lines = posters.wrap_text(LONG_TITLE, face, 365, 2)
    assert len(lines) == 2 and lines[-1].endswith("…")
    assert all(face.getlength(line) <= 365 for line in lines)
    assert LONG_TITLE.replace(" ", "").startswith((lines[0] + lines[1][:-1]).replace(" ", ""))


def test_short_title_takes_one_line_without_ellipsis():
    assert posters.wrap_text("正山小种 250g", posters.font("regular", 34), 365, 2) == [
        "正山小种 250g"
    ]


def test_english_title_breaks_between_words():
    title = "Organic Lapsang Souchong black tea from the Wuyi Mountains, gift box of 250g"
    face = posters.font("regular", 34)
    lines = posters.wrap_text(title, face, 365, 3)
    assert len(lines) == 3 and lines[-1].endswith("…")
    words = title.split()
    shown = " ".join(lines)[:-1].split()
    assert shown == words[: len(shown)]  # every word whole, none cut in two


def test_word_longer_than_a_line_is_cut():
    face = posters.font("regular", 34)
    lines = posters.wrap_text("x" * 80, face, 300, 2)
    assert len(lines) == 2 and all(face.getlength(line) <= 300 for line in lines)


def test_chinese_closing_punctuation_never_starts_a_line():
    face = posters.font("regular", 34)
    text = "一二三四五六七八九十，十一十二"
    lines = posters.wrap_text(text, face, face.getlength(text[:10]), 3)
    assert lines == ["一二三四五六七八九", "十，十一十二"]


def test_empty_text_gives_no_lines():
    assert posters.wrap_text("", posters.font("regular", 34), 300, 2) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("小美🌸", "小美"),
        ("𠀀王", "王"),
        ("Ａ¥１２", "Ａ¥１２"),
        ("￥128 ★ …", "￥128 ★ …"),
        ("  小\t美\n\u3000向你推荐  ", "小 美 向你推荐"),
        ("a\x00b\u200bc\ufeff", "abc"),
        ("❤️ 好物", "好物"),
        ("🌸", ""),
    ],
)
def test_drawable_text_drops_what_the_font_cannot_draw(text, expected):
    assert posters.drawable_text(text) == expected


def test_codepoints_match_the_fonts_own_cmap():
    ttlib = pytest.importorskip("fontTools.ttLib")
    for name in posters.FONT_FILES.values():
        cmap = ttlib.TTFont(posters.FONT_DIR / name).getBestCmap()
        assert posters._read_cmap(name) == {c for c, glyph in cmap.items() if glyph != ".notdef"}


def test_a_missing_character_draws_nothing_rather_than_a_box():
    with_emoji = make_content(
        sharer_name="小美🌸", headline="小美🌸 向你推荐", title="𠀀" + LONG_TITLE
    )
    assert posters.render_poster(with_emoji) == posters.render_poster(make_content())


def test_price_is_red_and_the_original_price_grey():
    picture = decode(posters.render_poster(make_content()))
    price_box = (posters.MARGIN, PRICE_TOP, posters.MARGIN + 200, PRICE_TOP + 64)
    assert count_close(picture, price_box, posters.RED) > 1500
    price_width = posters.font("bold", 40).getlength("¥") + posters.font("bold", 80).getlength(
        "128"
    )
    start = int(posters.MARGIN + price_width + 24)
    original_box = (start, PRICE_TOP + 20, start + 90, PRICE_TOP + 64)
    assert count_close(picture, original_box, posters.RED) == 0
    assert count_close(picture, original_box, posters.GREY) > 100


def test_shop_poster_has_no_price_row():
    picture = decode(posters.render_poster(make_content(price_cents=None)))
    price_box = (posters.MARGIN, PRICE_TOP, posters.WIDTH - posters.MARGIN, PRICE_TOP + 64)
    assert count_close(picture, price_box, posters.RED) == 0


def qr_matrix(url: str) -> list[list[bool]]:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(url)
    code.make(fit=True)
    return code.get_matrix()


@pytest.mark.parametrize("url", [URL, "https://fenxiang.example.com/r/" + "Zz9" * 40])
def test_qr_code_on_the_poster_matches_the_url_module_for_module(url):
    """Sample the centre of every module, quiet zone included, at the bottom right corner."""
    matrix = qr_matrix(url)
    modules = len(matrix) - 8
    box = math.ceil(posters.QR_MIN / modules)
    assert modules * box >= 240
    left = posters.WIDTH - posters.MARGIN - modules * box - 4 * box
    top = posters.HEIGHT - posters.MARGIN - modules * box - 4 * box
    grey = decode(posters.render_poster(make_content(url=url))).convert("L")
    side = range(len(matrix))
    drawn = [
        [grey.getpixel((left + x * box + box // 2, top + y * box + box // 2)) < 128 for x in side]
        for y in side
    ]
    assert drawn == matrix


def test_qr_code_scans_back_to_the_url():
    zxingcpp = pytest.importorskip("zxingcpp")
    picture = decode(posters.render_poster(make_content()))
    results = zxingcpp.read_barcodes(picture)
    assert [result.text for result in results] == [URL]


def test_missing_or_broken_images_draw_placeholders(tmp_path, caplog):
    broken = tmp_path / "broken.webp"
    broken.write_bytes(b"RIFF not really a picture")
    for path in (None, tmp_path / "gone.webp", broken, tmp_path):
        picture = decode(posters.render_poster(make_content(image_path=path, avatar_path=path)))
        inside_photo = (posters.MARGIN + 40, posters.PHOTO_TOP + 40)
        assert near(picture.getpixel(inside_photo), posters.LIGHT, 6)
    assert "gone.webp" in caplog.text


def test_image_is_cover_cropped_to_a_square(tmp_path):
    wide = Image.new("RGB", (900, 300), (0, 0, 255))
    wide.paste((0, 200, 0), (300, 0, 600, 300))  # the middle third is green
    wide.paste((255, 0, 0), (0, 0, 300, 300))
    wide.save(tmp_path / "wide.jpg", "JPEG", quality=95)
    picture = decode(posters.render_poster(make_content(image_path=tmp_path / "wide.jpg")))
    centre = posters.MARGIN + posters.PHOTO // 2, posters.PHOTO_TOP + posters.PHOTO // 2
    assert near(picture.getpixel(centre), (0, 200, 0))
    # A 300x300 square from the middle: the red and blue sides were cut off.
    assert near(picture.getpixel((posters.MARGIN + 3, centre[1])), (0, 200, 0))
    assert near(picture.getpixel((posters.MARGIN + posters.PHOTO - 4, centre[1])), (0, 200, 0))


def test_transparent_avatar_is_flattened_on_white(tmp_path):
    avatar = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    avatar.save(tmp_path / "avatar.png")
    picture = decode(posters.render_poster(make_content(avatar_path=tmp_path / "avatar.png")))
    centre = posters.MARGIN + posters.AVATAR // 2
    assert picture.getpixel((centre, centre))[0] > 240


def test_a_replaced_image_file_is_drawn_anew(tmp_path):
    path = save_picture(tmp_path / "p.webp", colour=(200, 0, 0))
    first = posters.render_poster(make_content(image_path=path))
    save_picture(path, colour=(0, 0, 200))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = decode(posters.render_poster(make_content(image_path=path)))
    centre = posters.MARGIN + posters.PHOTO // 2, posters.PHOTO_TOP + posters.PHOTO // 2
    assert second.getpixel(centre)[2] > 150
    assert decode(first).getpixel(centre)[0] > 150


def test_equal_content_gives_equal_keys(tmp_path):
    image = save_picture(tmp_path / "a.webp")
    copy = tmp_path / "b.webp"
    shutil.copyfile(image, copy)
    key = posters.poster_key(make_content(image_path=image))
    assert key == posters.poster_key(make_content(image_path=copy))
    assert len(key) == 64 and int(key, 16) >= 0


CHANGES = {
    "url": "https://fenxiang.example.com/r/Other123",
    "title": "正山小种",
    "price_cents": 12900,
    "original_price_cents": None,
    "sharer_name": "小丽",
    "headline": "Xiaomei recommends",
    "hint": "Long-press to scan",
    "subtitle": "",
    "rating": "4.9★",
    "quote": "买家评价：“很好喝”",
    "template": "price",  # the template is part of the key (a poster per design)
    "price_suffix": "起",
    "coupon": "券后价 ¥108.00 · 立减¥20.00",  # the coupon is part of the key
}


@pytest.mark.parametrize("field", [*CHANGES, "image_path", "avatar_path"])
def test_changing_any_field_changes_the_key(field, tmp_path):
    assert {f.name for f in dataclasses.fields(posters.PosterContent)} == {
        *CHANGES,
        "image_path",
        "avatar_path",
    }
    first, second = save_picture(tmp_path / "1.webp"), save_picture(tmp_path / "2.png", fmt="PNG")
    content = make_content(image_path=first, avatar_path=first)
    changed = dataclasses.replace(content, **{field: CHANGES.get(field, second)})
    assert posters.poster_key(changed) != posters.poster_key(content)


def test_new_image_bytes_or_template_change_the_key(tmp_path):
    path = save_picture(tmp_path / "p.webp")
    content = make_content(image_path=path)
    key = posters.poster_key(content)
    assert posters.poster_key(content, "another template") != key
    save_picture(path, colour=(1, 2, 3))
    assert posters.poster_key(content) != key
    path.unlink()
    assert posters.poster_key(content) != key


@pytest.mark.parametrize("template", ["product", "price", "review"])
def test_every_template_draws_a_750x1334_poster(template):
    picture = decode(posters.render_poster(make_content(template=template)))
    assert picture.size == (posters.WIDTH, posters.HEIGHT)


def test_an_unknown_template_is_refused():
    with pytest.raises(ValueError, match="template"):
        posters.render_poster(make_content(template="nope"))


@pytest.mark.parametrize(("cents", "text"), [(12800, "128"), (12850, "128.50"), (5, "0.05")])
def test_yuan(cents, text):
    assert posters.yuan(cents) == text


def test_a_price_from_draws_its_suffix(tmp_path):
    """ "¥59 起": the poster of a product whose specs differ in price says "from"."""
    image = save_picture(tmp_path / "p.webp")
    plain = posters.render_poster(make_content(image_path=image))
    ranged = posters.render_poster(make_content(image_path=image, price_suffix="起"))
    assert plain != ranged


def test_the_fonts_code_points_kept_as_bits_answer_as_the_set_did():
    from shop.sharing.posters import FONT_FILES, _read_cmap

    exact = frozenset.intersection(*map(_read_cmap, FONT_FILES.values()))
    bits = posters.font_codepoints()
    probes = set(exact) | {0, 0x7F, 0xFFFF, 0x10FFFF, 0x110000, -1, 0x1F600, 0x20000}
    assert all((point in bits) == (point in exact) for point in probes)
    assert sum(1 for point in range(0x30000) if point in bits) == len(
        {p for p in exact if p < 0x30000}
    )
