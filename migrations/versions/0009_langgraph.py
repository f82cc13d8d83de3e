"""LangGraph checkpoints, pending writes, channel values and store items, per team

The tables of `skillstore.integrations.langgraph.SkillstoreSaver`. Keys start with
``team_id`` (the tenant guard and, for a distributed database, the shard key); the
primary keys are the indexes every lookup uses (latest checkpoint of a thread and
namespace, its writes, the blobs of its channel versions).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from skillstore.db.types import JSON, UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEXT = sa.String()


def _keyed(table: str, *columns: sa.Column[object], key: list[str]) -> None:
    op.create_table(
        table,
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("thread_id", TEXT, nullable=False),
        sa.Column("checkpoint_ns", TEXT, nullable=False),
        *columns,
        sa.ForeignKeyConstraint(
            ["team_id"], ["team.id"], name=op.f(f"fk_{table}_team_id_team"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(
            "team_id", "thread_id", "checkpoint_ns", *key, name=op.f(f"pk_{table}")
        ),
    )


def upgrade() -> None:
    _keyed(
        "checkpoint",
        sa.Column("checkpoint_id", TEXT, nullable=False),
        sa.Column("parent_checkpoint_id", TEXT, nullable=True),
        sa.Column("type", TEXT, nullable=False),
        sa.Column("checkpoint", sa.LargeBinary(), nullable=False),
        sa.Column("metadata_type", TEXT, nullable=False),
        sa.Column("metadata", sa.LargeBinary(), nullable=False),
        key=["checkpoint_id"],
    )
    _keyed(
        "checkpoint_blob",
        sa.Column("channel", TEXT, nullable=False),
        sa.Column("version", TEXT, nullable=False),
        sa.Column("type", TEXT, nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=True),
        key=["channel", "version"],
    )
    _keyed(
        "checkpoint_write",
        sa.Column("checkpoint_id", TEXT, nullable=False),
        sa.Column("task_id", TEXT, nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("channel", TEXT, nullable=False),
        sa.Column("type", TEXT, nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.Column("task_path", TEXT, nullable=False),
        key=["checkpoint_id", "task_id", "idx"],
    )

    op.create_table(
        "store_item",
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("prefix", TEXT, nullable=False),
        sa.Column("key", TEXT, nullable=False),
        sa.Column("value", JSON, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("ttl_minutes", sa.Float(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["team_id"], ["team.id"], name=op.f("fk_store_item_team_id_team"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("team_id", "prefix", "key", name=op.f("pk_store_item")),
    )
    op.create_index(op.f("ix_store_item_expires_at"), "store_item", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_store_item_expires_at"), table_name="store_item")
    for table in ("store_item", "checkpoint_write", "checkpoint_blob", "checkpoint"):
        op.drop_table(table)
