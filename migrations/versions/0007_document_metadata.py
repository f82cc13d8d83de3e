"""document_embedding.meta becomes metadata, the name memories' metadata has

Callers see one name for free-form metadata on memories and documents (input, JSON and
filters); the columns now agree with it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("document_embedding") as batch:
        batch.alter_column("meta", new_column_name="metadata")


def downgrade() -> None:
    with op.batch_alter_table("document_embedding") as batch:
        batch.alter_column("metadata", new_column_name="meta")
