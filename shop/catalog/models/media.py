from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from shop.platform.base import utcnow
from shop.platform.extensions import db


class Image(db.Model):
    """An uploaded picture, validated and re-encoded once; files are named by ``sha256``.

    Each image has two files under the instance folder: a display size and a thumbnail
    (see ``shop.catalog.images``). The original upload is not kept (it may carry EXIF/GPS).
    """

    __tablename__ = "images"
    __table_args__ = (CheckConstraint("width > 0 AND height > 0", name="positive_size"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: SHA-256 of the uploaded bytes: the same upload twice is stored once.
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    #: Width and height of the display-size file.
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
