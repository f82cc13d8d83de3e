"""Lexical index for hybrid search: memories, document chunks, skill chunks

PostgreSQL: a generated ``search_vector`` tsvector column with a GIN index; SQLite: an
FTS5 external-content table per table, kept in step by triggers
(`skillstore._migrate.lexical`).

Revision ID: 0011
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from skillstore._migrate.lexical import LEXICAL_TABLES, create_lexical, drop_lexical

revision: str = "0011"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in LEXICAL_TABLES:
        create_lexical(table)


def downgrade() -> None:
    for table in LEXICAL_TABLES:
        drop_lexical(table)
