"""Small SQL constructs whose spelling differs by dialect.

Both backends accept ``INSERT … ON CONFLICT DO NOTHING``, but SQLAlchemy builds it with
each dialect's own ``insert``: the statement is built for the dialect it will be
compiled for (statements are prepared per store, so per dialect).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect


def insert_or_nothing(dialect: Dialect, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """``INSERT INTO table`` that can take ``.on_conflict_do_nothing()`` on ``dialect``."""
    if dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
