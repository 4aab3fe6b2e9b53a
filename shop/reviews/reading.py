"""Reading buyers' reviews: a product's rating summary, its review pages and their filters,
the product page's preview (and the per-process cache of it, renewed when a review changes),
a buyer's own reviews, a merchant's reviews to answer and the reviews a sharer may quote.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import aliased, joinedload, selectinload

from shop.accounts.models import User
from shop.catalog.catalog import page_count
from shop.catalog.models import Image, Merchant, Product
from shop.platform.extensions import db
from shop.platform.stamps import mark_stale
from shop.reviews.models import Review, ReviewKind, ReviewPhoto, ReviewReply, ReviewStatus
from shop.reviews.rules import PER_PAGE


@dataclass(frozen=True)
class Summary:
    count: int
    #: Average rating in tenths (47 = 4.7), rounded half up; 0 when there are no reviews.
    average_tenths: int
    #: Published ratings by star, 5 first: [(5, n), (4, n), ...].
    histogram: list[tuple[int, int]]

    @property
    def average(self) -> str:
        return f"{self.average_tenths // 10}.{self.average_tenths % 10}"

    def percent(self, stars: int) -> int:
        """Share of ``stars`` in whole percent (for the histogram bar)."""
        n = dict(self.histogram).get(stars, 0)
        return (n * 100 + self.count // 2) // self.count if self.count else 0


def _published_initial():
    return (Review.kind == ReviewKind.INITIAL) & (Review.status == ReviewStatus.PUBLISHED)


def summaries(product_ids: list[int]) -> dict[int, Summary]:
    """Rating summaries of many products in one query (products without reviews are absent)."""
    if not product_ids:
        return {}
    rows = db.session.execute(
        select(Review.product_id, Review.rating, func.count())
        .where(Review.product_id.in_(product_ids), _published_initial())
        .group_by(Review.product_id, Review.rating)
    ).all()
    counts: dict[int, dict[int, int]] = {}
    for product_id, rating, n in rows:
        counts.setdefault(product_id, {})[rating] = n
    return {product_id: _summary(by_star) for product_id, by_star in counts.items()}


def _summary(by_star: dict[int, int]) -> Summary:
    total = sum(by_star.values())
    stars = sum(star * n for star, n in by_star.items())
    return Summary(
        count=total,
        average_tenths=(stars * 20 + total) // (2 * total) if total else 0,
        histogram=[(star, by_star.get(star, 0)) for star in (5, 4, 3, 2, 1)],
    )


def summary(product_id: int) -> Summary:
    return summaries([product_id]).get(
        product_id, Summary(0, 0, [(star, 0) for star in (5, 4, 3, 2, 1)])
    )


FILTERS = ("all", "photos", "followups", "low")


def parse_filter(value: str | None) -> str:
    return value if value in FILTERS else "all"


@dataclass(frozen=True)
class ReviewPage:
    reviews: list[Review]
    total: int
    page: int
    pages: int


def _with_display():
    """Everything a review card shows, loaded up front (no query per review)."""
    return (
        selectinload(Review.author),
        selectinload(Review.photos).selectinload(ReviewPhoto.image),
        selectinload(Review.reply),
        selectinload(Review.followup).selectinload(Review.photos),
        selectinload(Review.followup).selectinload(Review.reply),
    )


def product_reviews(product_id: int, *, filter: str = "all", page: int = 1) -> ReviewPage:
    """Published reviews of a product, newest first, 10 a page; a page past the end is the
    last, one below 1 the first."""
    condition = (Review.product_id == product_id) & _published_initial()
    if filter == "photos":
        condition &= Review.has_photos.is_(True)
    elif filter == "low":
        condition &= Review.rating <= 2
    elif filter == "followups":
        condition &= _has_published_followup()
    total = db.session.execute(
        select(func.count()).select_from(Review).where(condition)
    ).scalar_one()
    pages = page_count(total, PER_PAGE)
    page = min(max(1, page), pages)
    rows = db.session.execute(
        select(Review)
        .where(condition)
        .order_by(Review.created_at.desc(), Review.id.desc())
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
        .options(*_with_display())
    ).scalars()
    return ReviewPage(list(rows), total, page, pages)


@dataclass(frozen=True)
class PreviewReview:
    """A published review as the product page's preview shows it (plain data, so it can be
    kept between requests)."""

    id: int
    author_id: int
    #: None when the author chose to stay anonymous.
    author_name: str | None
    rating: int
    body: str
    created_at: datetime
    disclosure: str
    #: SHA-256 names of the photos, in order.
    photos: tuple[str, ...]


@dataclass(frozen=True)
class Preview:
    summary: Summary
    reviews: tuple[PreviewReview, ...]


def preview(product_id: int, limit: int = 3) -> Preview:
    """The product page's review section: the summary and the newest published reviews with
    their photos (no follow-ups or replies; the reviews page has those).

    One query for the summary and the reviews (the counts by star on every row, one row
    with no review when there is none), and one for the photos only when a review has some.
    """
    stars = (5, 4, 3, 2, 1)
    published = (Review.product_id == product_id) & _published_initial()
    counts = (
        select(*(func.count().filter(Review.rating == star).label(f"s{star}") for star in stars))
        .where(published)
        .subquery()
    )
    rows = db.session.execute(
        select(Review, *(counts.c[f"s{star}"] for star in stars))
        .select_from(counts)
        .outerjoin(Review, published)
        .order_by(Review.created_at.desc(), Review.id.desc())
        .limit(limit)
        .options(joinedload(Review.author))
    ).all()
    by_star = dict(zip(stars, rows[0][1:], strict=True)) if rows else {}
    found = [row[0] for row in rows if row[0] is not None]
    photos: dict[int, list[str]] = {}
    with_photos = [r.id for r in found if r.has_photos]
    if with_photos:
        for review_id, sha in db.session.execute(
            select(ReviewPhoto.review_id, Image.sha256)
            .join(Image, Image.id == ReviewPhoto.image_id)
            .where(ReviewPhoto.review_id.in_(with_photos))
            .order_by(ReviewPhoto.review_id, ReviewPhoto.position, ReviewPhoto.id)
        ):
            photos.setdefault(review_id, []).append(sha)
    latest = tuple(
        PreviewReview(
            id=r.id,
            author_id=r.author_id,
            author_name=None if r.is_anonymous else r.author.display_name,
            rating=r.rating,
            body=r.body,
            created_at=r.created_at,
            disclosure=str(r.disclosure),
            photos=tuple(photos.get(r.id, ())),
        )
        for r in found
    )
    return Preview(_summary({star: n for star, n in by_star.items() if n}), latest)


#: The per-process cache of product pages' review sections (shop.web.storefront.views keeps the
#: rendered HTML there, by product and language), checked against the product's change stamp
#: (shop.platform.stamps): a review written (shop.reviews.writing) or decided
#: (shop.reviews.moderation) marks its product stale through ``forget_preview``, and once that
#: commits every process of the host renders the section afresh; other hosts catch up within
#: REVIEW_PREVIEW_SECONDS.
PREVIEW_CACHE = ("review_previews", "REVIEW_PREVIEW_SECONDS", True)


def forget_preview(product_id: int) -> None:
    """Make ``product_id``'s review section (and its landing pages) be rendered afresh once
    this transaction commits (not before: a page rendered in between would keep the old
    state)."""
    mark_stale(product_id)


def _has_published_followup():
    """EXISTS a published follow-up of the outer review (uses the unique index on parent_id)."""
    followup = aliased(Review)
    return (
        select(followup.id)
        .where(
            followup.parent_id == Review.id,
            followup.kind == ReviewKind.FOLLOWUP,
            followup.status == ReviewStatus.PUBLISHED,
        )
        .exists()
    )


def filter_counts(product_id: int) -> dict[str, int]:
    """How many published reviews each filter would show."""
    base = (Review.product_id == product_id) & _published_initial()
    row = db.session.execute(
        select(
            func.count(),
            func.count().filter(Review.has_photos.is_(True)),
            func.count().filter(_has_published_followup()),
            func.count().filter(Review.rating <= 2),
        ).where(base)
    ).one()
    return dict(zip(FILTERS, row, strict=True))


def reviews_by_author(user: User) -> list[Review]:
    """Everything ``user`` wrote, with its status (and the reason when hidden), newest first."""
    return list(
        db.session.execute(
            select(Review)
            .where(Review.author_id == user.id, Review.kind == ReviewKind.INITIAL)
            .order_by(Review.created_at.desc(), Review.id.desc())
            .options(*_with_display(), selectinload(Review.product))
        ).scalars()
    )


def merchant_reviews(merchant: Merchant, *, unreplied: bool = False, page: int = 1) -> ReviewPage:
    """Published reviews and follow-ups of ``merchant``'s products, newest first."""
    parent = aliased(Review)
    shown_parent = (
        select(parent.id)
        .where(parent.id == Review.parent_id, parent.status == ReviewStatus.PUBLISHED)
        .exists()
    )
    condition = (
        (Review.merchant_id == merchant.id)
        & (Review.status == ReviewStatus.PUBLISHED)
        # A follow-up is shown (and can be answered) only while its review is.
        & (Review.parent_id.is_(None) | shown_parent)
    )
    if unreplied:
        condition &= ~Review.id.in_(select(ReviewReply.review_id))
    total = db.session.execute(
        select(func.count()).select_from(Review).where(condition)
    ).scalar_one()
    pages = page_count(total, PER_PAGE)
    page = min(max(1, page), pages)
    rows = db.session.execute(
        select(Review)
        .where(condition)
        .order_by(Review.created_at.desc(), Review.id.desc())
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
        .options(*_with_display(), selectinload(Review.product), selectinload(Review.parent))
    ).scalars()
    return ReviewPage(list(rows), total, page, pages)


def quotable(product: Product, limit: int = 20) -> list[Review]:
    """Published reviews of ``product`` with words in them, that a sharer may quote."""
    return list(
        db.session.execute(
            select(Review)
            .where(Review.product_id == product.id, _published_initial(), Review.body != "")
            .order_by(Review.rating.desc(), Review.created_at.desc())
            .limit(limit)
            .options(selectinload(Review.author))
        ).scalars()
    )


def shown_quote(review: Review | None) -> Review | None:
    """A chosen quote is shown only while the review is published."""
    return review if review is not None and review.status == ReviewStatus.PUBLISHED else None
