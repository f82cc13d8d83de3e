"""Keyset pagination over ``(created_at, id)``, newest first.

An offset re-reads every skipped row and shifts when rows arrive between pages; a cursor
that names the last row seen does neither. The cursor is opaque to callers (url-safe
base64 of the last row's timestamp and id), so its format can change without breaking
them. Row-value comparison ``(a, b) < (x, y)`` was rejected for the explicit ``OR`` form
below, which every backend plans the same way.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

import sqlalchemy as sa

from skillstore.errors import ValidationError


def encode_cursor(created_at: datetime, id: uuid.UUID) -> str:
    """The cursor that continues after the row ``(created_at, id)``."""
    raw = f"{created_at.isoformat()}|{id.hex}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Parse a cursor made by `encode_cursor`, or raise `ValidationError`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, hex_id = raw.partition("|")
        created_at, id = datetime.fromisoformat(stamp), uuid.UUID(hex_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationError(
            f"cursor {cursor!r} is not one this store returned; pass a page's next_cursor "
            "unchanged, or no cursor to start from the newest row"
        ) from None
    if created_at.tzinfo is None:
        raise ValidationError(f"cursor {cursor!r} has no timezone; pass next_cursor unchanged")
    return created_at, id


def older_than(table: sa.Table) -> sa.ColumnElement[bool]:
    """Rows after the cursor's row in ``created_at DESC, id DESC`` order; the cursor's
    values (`decode_cursor`) are bound as ``after_at`` and ``after_id``."""
    created_at = sa.bindparam("after_at", type_=table.c.created_at.type)
    id = sa.bindparam("after_id", type_=table.c.id.type)
    return sa.or_(
        table.c.created_at < created_at,
        sa.and_(table.c.created_at == created_at, table.c.id < id),
    )
