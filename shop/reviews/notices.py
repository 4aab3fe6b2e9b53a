"""A merchant hears of a new review of their product once it is shown (written without a
hold, or approved by an admin), through the outbox in the same transaction."""

from datetime import datetime

from sqlalchemy import select

from shop.catalog.models import Merchant
from shop.platform import outbox
from shop.platform.extensions import db
from shop.reviews.models import Review, ReviewKind, ReviewStatus


def review_shown(review: Review, *, now: datetime) -> None:
    if review.status != ReviewStatus.PUBLISHED or review.kind != ReviewKind.INITIAL:
        return
    merchant_user = db.session.execute(
        select(Merchant.user_id).where(Merchant.id == review.merchant_id)
    ).scalar_one()
    outbox.emit("notify", "review_posted", user_id=merchant_user, now=now, payload={
        "review_id": review.id, "product_id": review.product_id,
        "product": review.product.title, "rating": review.rating,
    })  # fmt: skip
