"""SQLite: a version token per vector table, so searches can keep vectors in memory

On SQLite, reading a 2,000-row team's vectors from the file costs more than scoring
them. `skillstore.vector.sqlite_cache` keeps them in memory and checks one token per
table before using them; triggers replace the token in the same transaction as any
change to the table's rows, whoever makes it. PostgreSQL: nothing (HNSW and exact
scans read shared buffers).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from skillstore._migrate.ddl import create_vector_versions, drop_vector_versions

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The triggers are created by the migration environment after this revision (and
    # after every later one: a SQLite batch migration drops a table's triggers).
    create_vector_versions()


def downgrade() -> None:
    drop_vector_versions()
