"""Materials (素材): a merchant's pictures and ready copy for a product, and each sharer's own
copy variants. Pictures go through the upload pipeline of ``shop.catalog.images`` (its byte
and pixel limits, content-hash storage and upload locks)."""

from datetime import datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from shop.accounts.models import User
from shop.catalog import images
from shop.catalog.models import Merchant, MerchantStatus, Product
from shop.platform.errors import PermissionDenied, ValidationError
from shop.platform.extensions import db
from shop.sharing.models import CopyVariant, MaterialImage, MaterialText

MAX_TEXT = 1000
MAX_VARIANT = 500
#: Copy variants one sharer may keep for one product.
MAX_VARIANTS = 20


def _require_approved(merchant: Merchant, product: Product) -> None:
    if merchant.status != MerchantStatus.APPROVED or product.merchant_id != merchant.id:
        raise PermissionDenied(_l("Only the product's approved merchant can change its materials."))


def pictures(product: Product) -> list[MaterialImage]:
    return list(
        db.session.execute(
            select(MaterialImage)
            .where(MaterialImage.product_id == product.id)
            .order_by(MaterialImage.position, MaterialImage.id)
        ).scalars()
    )


def text_of(product: Product) -> str:
    row = db.session.get(MaterialText, product.id)
    return row.body if row else ""


def add_pictures(
    product: Product, uploads: list[bytes], *, merchant: Merchant, now: datetime
) -> list[MaterialImage]:
    """Store ``uploads`` and attach them after the product's material pictures.

    Raises PermissionDenied for another merchant's product, ValidationError (field "pictures")
    beyond MAX_MATERIAL_IMAGES or for a file the image pipeline refuses."""
    _require_approved(merchant, product)
    uploads = [data for data in uploads if data]
    if not uploads:
        raise ValidationError(_l("Choose an image file."), "pictures")
    # The product's row lock: two uploads to one product take turns and see each other's rows.
    db.session.execute(select(Product.id).where(Product.id == product.id).with_for_update())
    existing = pictures(product)
    limit = current_app.config["MAX_MATERIAL_IMAGES"]
    if len(existing) + len(uploads) > limit:
        raise ValidationError(
            _l("A product has at most %(n)d material pictures.", n=limit), "pictures"
        )
    images.lock_uploads(uploads)
    stored = [
        images.store_image(data, field="pictures", uploaded_by_id=merchant.user_id)
        for data in uploads
    ]
    position = max((m.position for m in existing), default=-1) + 1
    seen = {m.image_id for m in existing}
    added = []
    for image in stored:
        if image.id in seen:
            continue  # the same picture twice is kept once
        seen.add(image.id)
        row = MaterialImage(
            product_id=product.id, image_id=image.id, position=position, created_at=now
        )
        db.session.add(row)
        added.append(row)
        position += 1
    db.session.flush()
    return added


def remove_picture(product: Product, material_id: int, *, merchant: Merchant) -> None:
    _require_approved(merchant, product)
    row = db.session.get(MaterialImage, material_id)
    if row is None or row.product_id != product.id:
        raise ValidationError(_l("That picture is not in this product's materials."))
    db.session.delete(row)
    db.session.flush()


def save_text(product: Product, body: str | None, *, merchant: Merchant, now: datetime) -> None:
    _require_approved(merchant, product)
    body = (body or "").strip()
    if len(body) > MAX_TEXT:
        raise ValidationError(_l("Use at most %(n)d characters.", n=MAX_TEXT), "text")
    row = db.session.get(MaterialText, product.id)
    if row is None:
        db.session.add(MaterialText(product_id=product.id, body=body, updated_at=now))
    else:
        row.body, row.updated_at = body, now
    db.session.flush()


# --- a sharer's own copy -------------------------------------------------------------------


def _check_variant(body: str | None) -> str:
    body = (body or "").strip()
    if not body:
        raise ValidationError(_l("Write the text you want to share."), "body")
    if len(body) > MAX_VARIANT:
        raise ValidationError(_l("Use at most %(n)d characters.", n=MAX_VARIANT), "body")
    return body


def variants(sharer: User, product: Product) -> list[CopyVariant]:
    return list(
        db.session.execute(
            select(CopyVariant)
            .where(CopyVariant.sharer_id == sharer.id, CopyVariant.product_id == product.id)
            .order_by(CopyVariant.id)
        ).scalars()
    )


def add_variant(sharer: User, product: Product, body: str | None, *, now: datetime) -> CopyVariant:
    body = _check_variant(body)
    if len(variants(sharer, product)) >= MAX_VARIANTS:
        raise ValidationError(
            _l("Keep at most %(n)d texts per product; delete one first.", n=MAX_VARIANTS), "body"
        )
    variant = CopyVariant(
        sharer_id=sharer.id, product_id=product.id, body=body, created_at=now, updated_at=now
    )
    db.session.add(variant)
    db.session.flush()
    return variant


def edit_variant(variant: CopyVariant, body: str | None, *, now: datetime) -> None:
    variant.body = _check_variant(body)
    variant.updated_at = now
    db.session.flush()


def delete_variant(variant: CopyVariant) -> None:
    db.session.delete(variant)
    db.session.flush()
