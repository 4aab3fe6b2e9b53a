"""/merchant: a product's materials (素材) for sharers: up to nine pictures, through the same
upload pipeline and limits as product images, and the ready copy."""

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.sharing import materials
from shop.web.common import now, upload_limit
from shop.web.merchant import bp
from shop.web.merchant.views import load_own_product


def _page(product, *, text=None, errors=None, status=200):
    return render_template(
        "merchant/materials.html",
        product=product,
        text=materials.text_of(product) if text is None else text,
        pictures=materials.pictures(product),
        errors=errors or {},
    ), status


@bp.route("/products/<int:product_id>/materials")
def product_materials(product_id: int):
    return _page(load_own_product(product_id))


@bp.route("/products/<int:product_id>/materials/text", methods=["POST"])
def material_text_save(product_id: int):
    product = load_own_product(product_id)
    text = request.form.get("text", "")
    try:
        materials.save_text(product, text, merchant=g.merchant, now=now())
    except DomainError as error:
        db.session.rollback()
        product = load_own_product(product_id)
        return _page(product, text=text, errors={error.field or "text": error.message}, status=422)
    db.session.commit()
    flash(_("Copy saved."), "success")
    return redirect(url_for("merchant.product_materials", product_id=product_id))


@bp.route("/products/<int:product_id>/materials/pictures", methods=["POST"])
@upload_limit
def material_pictures_add(product_id: int):
    product = load_own_product(product_id)
    uploads = [f.read() for f in request.files.getlist("pictures") if f and f.filename]
    try:
        materials.add_pictures(product, uploads, merchant=g.merchant, now=now())
    except DomainError as error:
        db.session.rollback()
        product = load_own_product(product_id)
        return _page(product, errors={error.field or "pictures": error.message}, status=422)
    db.session.commit()
    flash(_("Pictures added."), "success")
    return redirect(url_for("merchant.product_materials", product_id=product_id))


@bp.route(
    "/products/<int:product_id>/materials/pictures/<int:material_id>/delete", methods=["POST"]
)
def material_picture_delete(product_id: int, material_id: int):
    product = load_own_product(product_id)
    try:
        materials.remove_picture(product, material_id, merchant=g.merchant)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(_("Picture removed."), "success")
    return redirect(url_for("merchant.product_materials", product_id=product_id))
