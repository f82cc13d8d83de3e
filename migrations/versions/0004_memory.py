"""memory: memories with embeddings, the append-only memory log, tags

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from skillstore._migrate import ddl
from skillstore._migrate.ddl import embedding_dimensions
from skillstore.db.types import JSON, Embedding, UTCDateTime, UUIDList

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("CURRENT_TIMESTAMP")
ENUMS = ("memory_type_enum", "memory_source", "memory_tier", "memory_status")


def upgrade() -> None:
    op.create_table(
        "memory",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column(
            "memory_type",
            sa.Enum(
                "semantic",
                "episodic",
                "procedural",
                "agent_private",
                "shared",
                "identity",
                "user_profile",
                name="memory_type_enum",
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=True),
        sa.Column("embedding_model", sa.String(length=200), nullable=True),
        sa.Column("importance", sa.Integer(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("is_pinned", sa.Boolean(), nullable=False),
        sa.Column(
            "source_type",
            sa.Enum(
                "extraction",
                "explicit",
                "system",
                "feedback",
                "consolidation",
                "compaction",
                name="memory_source",
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("source_conversation_id", sa.Uuid(), nullable=True),
        sa.Column("source_message_ids", UUIDList(), nullable=False),
        sa.Column("extraction_model", sa.String(length=200), nullable=True),
        sa.Column("contradicts", UUIDList(), nullable=False),
        sa.Column("related_to", UUIDList(), nullable=False),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column(
            "tier",
            sa.Enum("hot", "warm", "cold", name="memory_tier", create_constraint=True),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "superseded",
                "archived",
                "disputed",
                name="memory_status",
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), server_default=NOW, nullable=False),
        sa.Column("updated_at", UTCDateTime(), server_default=NOW, nullable=False),
        sa.Column("embedding", Embedding(embedding_dimensions()), nullable=True),
        sa.Column("access_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_accessed_at", UTCDateTime(), nullable=True),
        sa.Column("superseded_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint("access_count >= 0", name=op.f("ck_memory_access_count_positive")),
        sa.CheckConstraint(
            "confidence >= 0 AND confidence <= 1", name=op.f("ck_memory_confidence_range")
        ),
        sa.CheckConstraint("importance BETWEEN 1 AND 10", name=op.f("ck_memory_importance_range")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_memory_version_positive")),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agent_config.id"],
            name=op.f("fk_memory_agent_id_agent_config"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_conversation_id"],
            ["conversation.id"],
            name=op.f("fk_memory_source_conversation_id_conversation"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["superseded_by"],
            ["memory.id"],
            name=op.f("fk_memory_superseded_by_memory"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["team.id"], name=op.f("fk_memory_team_id_team"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_memory_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memory")),
    )
    op.create_index(op.f("ix_memory_agent_id"), "memory", ["agent_id"])
    op.create_index(op.f("ix_memory_expires_at"), "memory", ["expires_at"])
    op.create_index(op.f("ix_memory_source_conversation_id"), "memory", ["source_conversation_id"])
    op.create_index(op.f("ix_memory_superseded_by"), "memory", ["superseded_by"])
    op.create_index(op.f("ix_memory_team_id"), "memory", ["team_id"])
    op.create_index("ix_memory_team_id_memory_type", "memory", ["team_id", "memory_type"])
    op.create_index(op.f("ix_memory_user_id"), "memory", ["user_id"])
    # Backend-only (PostgreSQL): HNSW over cosine distance, halfvec above 2,000 dimensions.
    ddl.create_hnsw_index("memory")

    op.create_table(
        "memory_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("memory_id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("old_content", sa.Text(), nullable=True),
        sa.Column("new_content", sa.Text(), nullable=True),
        sa.Column("old_importance", sa.Integer(), nullable=True),
        sa.Column("new_importance", sa.Integer(), nullable=True),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=True),
        sa.Column("details", JSON, nullable=False),
        sa.Column("created_at", UTCDateTime(), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memory_log")),
    )
    op.create_index(op.f("ix_memory_log_memory_id"), "memory_log", ["memory_id"])
    op.create_index(op.f("ix_memory_log_team_id"), "memory_log", ["team_id"])
    ddl.create_append_only("memory_log")

    op.create_table(
        "memory_tag",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tag", sa.String(length=100), nullable=False),
        sa.Column("memory_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["memory_id"],
            ["memory.id"],
            name=op.f("fk_memory_tag_memory_id_memory"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memory_tag")),
        sa.UniqueConstraint("memory_id", "tag", name=op.f("uq_memory_tag_memory_id_tag")),
    )
    op.create_index(op.f("ix_memory_tag_memory_id"), "memory_tag", ["memory_id"])
    op.create_index(op.f("ix_memory_tag_tag"), "memory_tag", ["tag"])


def downgrade() -> None:
    op.drop_table("memory_tag")
    ddl.drop_append_only("memory_log")
    op.drop_table("memory_log")
    ddl.drop_hnsw_index("memory")
    op.drop_table("memory")
    for name in ENUMS:
        ddl.drop_enum(name)
