"""/me: a product's materials (素材) for a sharer: the merchant's pictures and ready copy, to
copy and save, and the sharer's own copy variants (each loaded by id as the sharer's own)."""

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.sharing import materials
from shop.sharing.models import CopyVariant, ShopItem
from shop.web.common import now
from shop.web.sharer import bp
from shop.web.sharer.views import load_own_item


def load_own_variant(variant_id: int) -> CopyVariant:
    variant = db.session.get(CopyVariant, variant_id)
    if variant is None or variant.sharer_id != current_user.id:
        abort(404)
    return variant


def _page(item: ShopItem, *, draft: str = "", error: str = "", status: int = 200):
    product = item.product
    in_wechat = "micromessenger" in request.headers.get("User-Agent", "").lower()
    return render_template(
        "sharer/materials.html",
        item=item,
        product=product,
        text=materials.text_of(product),
        pictures=materials.pictures(product),
        variants=materials.variants(current_user, product),
        draft=draft,
        error=error,
        in_wechat=in_wechat,
    ), status


@bp.route("/materials/items/<int:item_id>")
def item_materials(item_id: int):
    return _page(load_own_item(item_id))


@bp.route("/materials/items/<int:item_id>/variants", methods=["POST"])
def variant_add(item_id: int):
    item = load_own_item(item_id)
    body = request.form.get("body", "")
    try:
        materials.add_variant(current_user, item.product, body, now=now())
    except DomainError as error:
        db.session.rollback()
        return _page(load_own_item(item_id), draft=body, error=error.message, status=422)
    db.session.commit()
    flash(_("Your text is saved."), "success")
    return redirect(url_for("sharer.item_materials", item_id=item_id, _anchor="variants"))


def _item_of(variant: CopyVariant) -> ShopItem:
    found = db.session.execute(
        db.select(ShopItem).where(
            ShopItem.shop_id == g.shop.id, ShopItem.product_id == variant.product_id
        )
    ).scalar_one_or_none()
    if found is None:  # the product left the shop: its texts stay, reachable again once back
        abort(404)
    return found


@bp.route("/variants/<int:variant_id>/edit", methods=["POST"])
def variant_edit(variant_id: int):
    variant = load_own_variant(variant_id)
    item = _item_of(variant)
    body = request.form.get("body", "")
    try:
        materials.edit_variant(variant, body, now=now())
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("sharer.item_materials", item_id=item.id, _anchor="variants"))
    db.session.commit()
    flash(_("Your text is saved."), "success")
    return redirect(url_for("sharer.item_materials", item_id=item.id, _anchor="variants"))


@bp.route("/variants/<int:variant_id>/delete", methods=["POST"])
def variant_delete(variant_id: int):
    variant = load_own_variant(variant_id)
    item = _item_of(variant)
    materials.delete_variant(variant)
    db.session.commit()
    flash(_("Text deleted."), "success")
    return redirect(url_for("sharer.item_materials", item_id=item.id, _anchor="variants"))
