"""The demo product sold in colours and sizes (two spec dimensions), so `make run` shows the
spec sheet: a picture per colour, a SKU per (colour, size), XL dearer, one sold out."""

from shop.catalog import images, skus
from shop.catalog.models import Merchant, Product, ProductImage
from shop.demo.pictures import product_picture
from shop.platform.extensions import db

#: The demo product with two spec dimensions: its colours (each with a picture), sizes, and
#: the price and stock per (colour, size); XL costs more, one combination is sold out.
SHIRT = ("简屋家居", "纯棉宽松短袖 T 恤")
SHIRT_SPECS = (("颜色", ("白色", "黑色", "雾蓝")), ("尺码", ("S", "M", "L", "XL")))


def _shirt_rows(colour: str, size: str) -> tuple[int, int]:
    price = 6900 if size == "XL" else 5900
    stock = 0 if (colour, size) == ("黑色", "S") else 20 + len(size) * 5
    return price, stock


def seed_shirt_specs(product: Product, merchant: Merchant) -> None:
    """Give the demo shirt its colours and sizes: a picture per colour and a SKU each."""
    (colour_name, colours), (size_name, sizes) = SHIRT_SPECS
    pictures = {}
    for position, colour in enumerate(colours):
        if position == 0:
            pictures[colour] = product.images[0].image_id
            continue
        picture = images.store_image(
            product_picture(f"{product.title} {colour}", colour), uploaded_by_id=merchant.user_id
        )
        product.images.append(ProductImage(image_id=picture.id, position=position))
        pictures[colour] = picture.id
    db.session.flush()
    rows = [
        skus.CleanRow((c, s), *_shirt_rows(c, s), None, None, pictures[c])
        for c in colours
        for s in sizes
    ]
    skus.save(product, [(colour_name, list(colours)), (size_name, list(sizes))], rows)
