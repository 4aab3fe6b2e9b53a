from flask import abort, render_template, send_file

from shop.extensions import db
from shop.models import MerchantStatus, Product, ProductStatus
from shop.services import catalog, images
from shop.storefront import bp

ONE_YEAR = 365 * 24 * 3600


@bp.route("/")
def home():
    products = catalog.latest_products(limit=30)
    return render_template("storefront/home.html", products=products)


@bp.route("/p/<int:product_id>")
def product_detail(product_id: int):
    product = db.session.get(Product, product_id)
    if product is None:
        abort(404)
    if product.status != ProductStatus.LISTED or product.merchant.status != MerchantStatus.APPROVED:
        abort(410)
    return render_template("storefront/product.html", product=product, merchant=product.merchant)


@bp.route("/media/<string:name>")
def media(name: str):
    path = images.media_file(name)
    if path is None:
        abort(404)
    # Names are content hashes: the bytes behind a name never change.
    response = send_file(path, mimetype="image/webp", max_age=ONE_YEAR, conditional=True)
    response.cache_control.immutable = True
    response.cache_control.public = True
    return response
