"""The phone page budget for the shop page and the product page (first view, compressed)."""

import gzip
import re

from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing import shops
from tests.factories import make_product, make_shop, png_bytes

KB = 1024


def gz(data: bytes) -> int:
    return len(gzip.compress(data, 6))


def fetch(client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, url
    data = response.get_data()
    response.close()
    return data


def measure(client, url: str) -> dict:
    html = fetch(client, url)
    page = html.decode()
    css = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', page)
    imgs = re.findall(r"<img [^>]*>", page)
    icons = re.findall(r'<link rel="icon" href="([^"]+)"', page)
    assert "@font-face" not in page and ".woff" not in page
    sizes = {"html": gz(html), "css": 0, "js": 0, "images": 0, "requests": 1}
    for href in css:
        body = fetch(client, href)
        assert b"@font-face" not in body and b"url(http" not in body
        sizes["css"] += gz(body)
        sizes["requests"] += 1
    for src in scripts:
        sizes["js"] += gz(fetch(client, src))
        sizes["requests"] += 1
    for href in icons:
        sizes["images"] += len(fetch(client, href))
        sizes["requests"] += 1
    main = None
    for tag in imgs:
        assert 'width="' in tag and 'height="' in tag, tag
        src = re.search(r'src="([^"]+)"', tag).group(1)
        size = len(fetch(client, src))
        main = size if main is None else main
        sizes["images"] += size
        sizes["requests"] += 1
    sizes["main_image"] = main or 0
    sizes["total"] = sizes["html"] + sizes["css"] + sizes["js"] + sizes["images"]
    return sizes


def assert_within_budget(sizes: dict) -> None:
    assert sizes["html"] <= 14 * KB, sizes
    assert sizes["css"] <= 10 * KB, sizes
    assert sizes["js"] <= 20 * KB, sizes
    assert sizes["main_image"] <= 80 * KB, sizes
    assert sizes["total"] <= 500 * KB, sizes
    assert sizes["requests"] <= 15, sizes


def noisy_photo(seed: int) -> bytes:
    """A photo-like 1200 px upload: textured (blurred noise) rather than flat colour, so the
    image budget is tested on something that compresses like a real product photo."""
    import io
    import random

    from PIL import Image, ImageFilter

    rng = random.Random(seed)
    raw = bytes(rng.getrandbits(8) for _ in range(300 * 300 * 3))
    picture = Image.frombytes("RGB", (300, 300), raw).resize((1200, 1200), Image.BICUBIC)
    picture = picture.filter(ImageFilter.GaussianBlur(2))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=90)
    return out.getvalue()


def test_shop_and_product_pages_fit_the_phone_budget(app, client):
    from shop.catalog import images

    with app.app_context():
        shop = make_shop()
        product_ids = []
        for n in range(8):
            product = make_product(title=f"好物{n}", description="很好用" * 100)
            extra = images.store_image(noisy_photo(n) if n == 0 else png_bytes(color=(n, 1, 1)))
            product.images[0].image_id = extra.id
            shops.add_item(shop, product, recommendation="真心推荐" * 20, now=utcnow())
            product_ids.append(product.id)
        db.session.commit()
        slug = shop.slug
    shop_sizes = measure(client, f"/s/{slug}")
    assert_within_budget(shop_sizes)
    product_sizes = measure(client, f"/s/{slug}/p/{product_ids[0]}")
    assert_within_budget(product_sizes)
    assert product_sizes["main_image"] > 10 * KB  # the noisy photo really was measured
