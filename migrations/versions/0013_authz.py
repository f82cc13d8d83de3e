"""Replay and retry protection: webhook nonces, execution idempotency keys

``webhook_nonce`` holds the nonces of verified webhook calls until their signed
timestamp leaves the tolerance; ``execution.idempotency_key`` is unique per team, so a
retried trigger finds the execution it already made. Both are plain DDL on both
backends (a new table, a nullable column and a unique index: no SQLite table rebuild).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from skillstore.db.types import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_nonce",
        sa.Column("webhook_id", sa.Uuid(), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhook.id"],
            name=op.f("fk_webhook_nonce_webhook_id_webhook"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("webhook_id", "nonce", name=op.f("pk_webhook_nonce")),
    )
    op.create_index("ix_webhook_nonce_expires_at", "webhook_nonce", ["expires_at"])
    op.add_column("execution", sa.Column("idempotency_key", sa.String(length=255)))
    op.create_index(
        "ix_execution_team_id_idempotency_key",
        "execution",
        ["team_id", "idempotency_key"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ix_execution_team_id_idempotency_key", table_name="execution")
    with op.batch_alter_table("execution") as batch:
        batch.drop_column("idempotency_key")
    op.drop_index("ix_webhook_nonce_expires_at", table_name="webhook_nonce")
    op.drop_table("webhook_nonce")
