"""Poster engine timings against a bare QR code, measured in the same run.

Run by hand from the project root: ``.venv/bin/python bench/bench_posters.py [rounds] [n]``.
Cases run interleaved (baseline, cold, cached, baseline, ...) so drift in machine load hits all of
them alike. "drawn: ..." is what a web worker waits for on a cache miss: the same poster drawn
by the drawing process (shop.sharing.drawing) and sent over its socket. Targets from the issue:
a cold render costs at most 3x the baseline, a cache hit at most 0.5x. Always exits 0: this is
a report, not a gate.
"""

import gc
import io
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an install

import qrcode  # noqa: E402
from PIL import Image, ImageDraw, ImageFilter  # noqa: E402

from shop.catalog import images  # noqa: E402
from shop.sharing import drawing, posters  # noqa: E402

TITLE = "武夷山正山小种红茶 250g 礼盒装 高山茶园春茶 松烟香 回甘足"
TARGETS = {"cold": 3.0, "cold_new_files": 3.0, "cold_price": 3.0, "cold_review": 3.0, "cached": 0.5}


def product_photo(path: Path, side: int = 800) -> None:
    """A photo-like WebP: smooth gradients, shapes with soft edges and some fine texture."""
    ramp = Image.linear_gradient("L").resize((side, side))
    glow = Image.radial_gradient("L").resize((side, side))
    texture = Image.effect_noise((side, side), 24).filter(ImageFilter.GaussianBlur(1))
    photo = Image.merge("RGB", (ramp, glow.rotate(30), Image.blend(texture, ramp, 0.6)))
    draw = ImageDraw.Draw(photo)
    draw.ellipse((180, 220, 620, 660), fill=(150, 60, 30))
    draw.rounded_rectangle((260, 120, 540, 300), 30, fill=(235, 215, 190))
    draw.text((300, 700), "FENXIANG 250g", fill=(250, 250, 250), font_size=40)
    photo = photo.filter(ImageFilter.SMOOTH)
    photo.save(path, "WEBP", quality=80)


def content(index: int, photo: Path, avatar: Path) -> posters.PosterContent:
    """A different poster every call: new share link, price and title."""
    return posters.PosterContent(
        url=f"https://fenxiang.example.com/r/Ab{index:06d}",
        title=f"{TITLE} {index}",
        price_cents=12800 + index,
        original_price_cents=16800,
        image_path=photo,
        sharer_name="小美🌸",
        avatar_path=avatar,
        headline="小美 向你推荐",
        hint="长按识别二维码",
        subtitle="汤色红亮，桂圆香浓郁，回购第三次了",
        rating="4.8★",
    )


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        upload, avatar, cache = folder / "upload.webp", folder / "avatar.webp", folder / "cache"
        product_photo(upload)
        Image.open(upload).resize((240, 240)).save(avatar, "WEBP", quality=75)  # a "t" variant
        # What the app draws from: the square JPEG variant stored with every upload.
        photo = folder / "photo.jpg"
        photo.write_bytes(images.square_jpeg(Image.open(upload).convert("RGB")))
        cache.mkdir()

        start = time.perf_counter()
        sample = posters.render_poster(content(-1, photo, avatar))
        first_ms = (time.perf_counter() - start) * 1000

        # A cache hit: the caller builds the content, computes the key and reads the file.
        hits = [content(-2 - i, photo, avatar) for i in range(n)]
        for item in hits:
            (cache / f"{posters.poster_key(item)}.jpg").write_bytes(posters.render_poster(item))

        def baseline(i: int) -> bytes:
            out = io.BytesIO()
            qrcode.make(f"https://fenxiang.example.com/r/Ab{i:06d}").save(out)
            return out.getvalue()

        def cold(i: int) -> bytes:
            return posters.render_poster(content(i, photo, avatar))

        # Fresh copies: a path the engine has never decoded, as for a new product's first poster.
        copies = []
        for i in range(rounds * n):
            shutil.copyfile(photo, folder / f"photo-{i}.jpg")
            shutil.copyfile(avatar, folder / f"avatar-{i}.webp")
            copies.append((folder / f"photo-{i}.jpg", folder / f"avatar-{i}.webp"))

        def cold_new_files(i: int) -> bytes:
            new_photo, new_avatar = copies[i - 1]
            return posters.render_poster(content(1_000_000 + i, new_photo, new_avatar))

        def cold_price(i: int) -> bytes:
            return posters.render_poster(
                replace(content(2_000_000 + i, photo, avatar), template="price")
            )

        def cold_review(i: int) -> bytes:
            return posters.render_poster(
                replace(content(3_000_000 + i, photo, avatar), template="review")
            )

        def drawn(i: int) -> bytes:
            data = content(4_000_000 + i, photo, avatar)
            return drawing.draw("poster", data, folder=folder)

        start = time.perf_counter()
        drawing.draw("poster", content(-3, photo, avatar), folder=folder)
        start_ms = (time.perf_counter() - start) * 1000

        def cached(i: int) -> bytes:
            return (cache / f"{posters.poster_key(hits[i % n])}.jpg").read_bytes()

        cases = {
            "baseline": baseline,
            "cold": cold,
            "cold_new_files": cold_new_files,
            "cold_price": cold_price,
            "cold_review": cold_review,
            "drawn": drawn,
            "cached": cached,
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        round_ratios: dict[str, list[float]] = {name: [] for name in TARGETS}
        counter = 0
        for _ in range(rounds):
            gc.collect()
            this_round: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(n):
                counter += 1
                for name, case in cases.items():
                    begin = time.perf_counter()
                    case(counter)
                    this_round[name].append((time.perf_counter() - begin) * 1000)
            for name in cases:
                times[name] += this_round[name]
            base = statistics.median(this_round["baseline"])
            for name in round_ratios:
                round_ratios[name].append(statistics.median(this_round[name]) / base)
        drawing.stop()

    base = statistics.median(times["baseline"])
    print(f"poster bench: {rounds} rounds x {n} calls per case, interleaved")
    print("product photo: the stored 670x670 JPEG poster variant of an 800x800 upload")
    print(f"avatar: 240x240 WebP; poster: JPEG {len(sample) // 1024} KB")
    print(f"{'case':<38}{'median ms':>10}{'ratio':>8}{'rounds':>14}{'target':>9}  result")
    labels = {
        "baseline": "baseline: qrcode.make(url) PNG bytes",
        "cold": "cold: new link, price, title",
        "cold_new_files": "cold: also never-seen image files",
        "cold_price": "cold: price-first template",
        "cold_review": "cold: review-quote template",
        "drawn": "drawn: cold, in the drawing process",
        "cached": "cached: poster_key + read file",
    }
    for name, label in labels.items():
        median = statistics.median(times[name])
        line = f"{label:<38}{median:>10.2f}{median / base:>7.2f}x"
        if name in TARGETS:
            spread = round_ratios[name]
            verdict = "PASS" if median / base <= TARGETS[name] else "MISS"
            line += (
                f"{min(spread):>7.2f}-{max(spread):.2f}x{'<= ' + str(TARGETS[name]):>9}x {verdict}"
            )
        print(line)
    print(f"{'first call (fonts, cmap, masks)':<38}{first_ms:>10.2f}{first_ms / base:>7.2f}x")
    label = "drawn: first call (starts the process)"
    print(f"{label:<38}{start_ms:>10.2f}{start_ms / base:>7.2f}x")


if __name__ == "__main__":
    main()
