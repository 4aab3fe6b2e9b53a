"""Shared column helpers.

Times are naive UTC datetimes everywhere (SQLite keeps no zone; PostgreSQL columns are
``timestamp without time zone``), produced by ``utcnow`` and converted for display only.
"""

import enum
from datetime import UTC, datetime

from sqlalchemy import Enum
from sqlalchemy.orm import mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def enum_column(enum_cls: type[enum.StrEnum], **kwargs):
    """A StrEnum stored as its readable value, with a CHECK constraint on the allowed values."""
    return mapped_column(
        Enum(
            enum_cls,
            native_enum=False,
            create_constraint=True,
            length=20,
            validate_strings=True,
            values_callable=lambda members: [m.value for m in members],
            name=enum_cls.__name__.lower(),
        ),
        **kwargs,
    )
