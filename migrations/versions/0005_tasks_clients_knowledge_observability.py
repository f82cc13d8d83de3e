"""tasks, clients, feedback, knowledge files with embeddings, agent logs and metrics

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from skillstore._migrate.ddl import (
    create_append_only,
    create_hnsw_index,
    drop_append_only,
    drop_enum,
    embedding_dimensions,
)
from skillstore.db.types import JSON, Embedding, UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("CURRENT_TIMESTAMP")


def _id_and_team(table: str) -> list[sa.SchemaItem]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["team.id"], name=op.f(f"fk_{table}_team_id_team"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def _timestamps(*, updated: bool = True) -> list[sa.Column[Any]]:
    columns = [sa.Column("created_at", UTCDateTime(), server_default=NOW, nullable=False)]
    if updated:
        columns.append(sa.Column("updated_at", UTCDateTime(), server_default=NOW, nullable=False))
    return columns


def _indexes(table: str, *columns: str) -> None:
    for column in ("team_id", *columns):
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column])


def upgrade() -> None:
    op.create_table(
        "client",
        *_id_and_team("client"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        *_timestamps(),
        sa.Column("archived_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("team_id", "external_id", name=op.f("uq_client_team_id_external_id")),
    )
    _indexes("client")
    op.create_table(
        "client_profile_entry",
        *_id_and_team("client_profile_entry"),
        sa.Column("data", JSON, nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        *_timestamps(updated=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.CheckConstraint("sequence >= 1", name=op.f("ck_client_profile_entry_sequence_positive")),
        # RESTRICT, not CASCADE: entries are append-only, so a cascade could only fail.
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["client.id"],
            name=op.f("fk_client_profile_entry_client_id_client"),
            ondelete="RESTRICT",
        ),
        sa.UniqueConstraint(
            "client_id", "sequence", name=op.f("uq_client_profile_entry_client_id_sequence")
        ),
    )
    _indexes("client_profile_entry", "client_id")
    create_append_only("client_profile_entry")

    op.create_table(
        "task",
        *_id_and_team("task"),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("description", sa.String(length=100000), nullable=True),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("client_id", sa.Uuid(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("input", JSON, nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        *_timestamps(),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "in_progress",
                "escalated",
                "completed",
                "failed",
                "cancelled",
                name="task_status",
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("output", JSON, nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("priority BETWEEN 1 AND 5", name=op.f("ck_task_priority_range")),
        sa.ForeignKeyConstraint(
            ["client_id"], ["client.id"], name=op.f("fk_task_client_id_client"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agent_config.id"],
            name=op.f("fk_task_agent_id_agent_config"),
            ondelete="SET NULL",
        ),
    )
    _indexes("task", "agent_id", "client_id")
    op.create_index(op.f("ix_task_team_id_task_status"), "task", ["team_id", "status"])
    op.create_table(
        "escalation",
        *_id_and_team("escalation"),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=10000), nullable=False),
        sa.Column("escalated_to", sa.String(length=200), nullable=False),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        *_timestamps(),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("resolution", sa.String(length=10000), nullable=True),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["user.id"],
            name=op.f("fk_escalation_assignee_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name=op.f("fk_escalation_task_id_task"), ondelete="CASCADE"
        ),
    )
    _indexes("escalation", "assignee_id", "task_id")
    op.create_table(
        "task_artifact",
        *_id_and_team("task_artifact"),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("uri", sa.String(length=2048), nullable=True),
        sa.Column("content", sa.String(), nullable=True),
        sa.Column("meta", JSON, nullable=False),
        *_timestamps(),
        sa.CheckConstraint(
            "uri IS NOT NULL OR content IS NOT NULL", name=op.f("ck_task_artifact_uri_or_content")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name=op.f("fk_task_artifact_task_id_task"), ondelete="CASCADE"
        ),
    )
    _indexes("task_artifact", "task_id")
    op.create_table(
        "feedback_entry",
        *_id_and_team("feedback_entry"),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.String(length=10000), nullable=True),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_feedback_entry_rating_range")),
        sa.CheckConstraint(
            "task_id IS NOT NULL OR message_id IS NOT NULL",
            name=op.f("ck_feedback_entry_has_target"),
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["user.id"],
            name=op.f("fk_feedback_entry_author_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["task.id"],
            name=op.f("fk_feedback_entry_task_id_task"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["message.id"],
            name=op.f("fk_feedback_entry_message_id_message"),
            ondelete="CASCADE",
        ),
    )
    _indexes("feedback_entry", "author_id", "message_id", "task_id")

    op.create_table(
        "document_embedding",
        *_id_and_team("document_embedding"),
        sa.Column("document_id", sa.String(length=1024), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("content", sa.String(), nullable=False),
        sa.Column("meta", JSON, nullable=False),
        *_timestamps(),
        sa.Column("embedding", Embedding(embedding_dimensions()), nullable=False),
        sa.CheckConstraint(
            "chunk_index >= 0", name=op.f("ck_document_embedding_chunk_index_non_negative")
        ),
        sa.UniqueConstraint(
            "team_id",
            "document_id",
            "chunk_index",
            name=op.f("uq_document_embedding_team_id_document_id_chunk_index"),
        ),
    )
    _indexes("document_embedding")
    create_hnsw_index("document_embedding")
    op.create_table(
        "skill_file",
        *_id_and_team("skill_file"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("content", sa.String(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        *_timestamps(),
        sa.UniqueConstraint("team_id", "path", name=op.f("uq_skill_file_team_id_path")),
    )
    _indexes("skill_file")
    op.create_table(
        "skill_embedding",
        *_id_and_team("skill_embedding"),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("content", sa.String(), nullable=False),
        *_timestamps(updated=False),
        sa.Column("skill_file_id", sa.Uuid(), nullable=False),
        sa.Column("embedding", Embedding(embedding_dimensions()), nullable=False),
        sa.CheckConstraint(
            "chunk_index >= 0", name=op.f("ck_skill_embedding_chunk_index_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["skill_file_id"],
            ["skill_file.id"],
            name=op.f("fk_skill_embedding_skill_file_id_skill_file"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "skill_file_id",
            "chunk_index",
            name=op.f("uq_skill_embedding_skill_file_id_chunk_index"),
        ),
    )
    _indexes("skill_embedding", "skill_file_id")
    create_hnsw_index("skill_embedding")

    op.create_table(
        "agent_log",
        *_id_and_team("agent_log"),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agent_config.id"],
            name=op.f("fk_agent_log_agent_id_agent_config"),
            ondelete="CASCADE",
        ),
        sa.Column(
            "level",
            sa.Enum(
                "debug",
                "info",
                "warning",
                "error",
                "critical",
                name="log_level",
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("message", sa.String(length=100000), nullable=False),
        sa.Column("extra", JSON, nullable=False),
        *_timestamps(updated=False),
    )
    _indexes("agent_log")
    op.create_index("ix_agent_log_recent", "agent_log", ["team_id", "agent_id", "created_at"])
    op.create_table(
        "agent_metric",
        *_id_and_team("agent_metric"),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agent_config.id"],
            name=op.f("fk_agent_metric_agent_id_agent_config"),
            ondelete="CASCADE",
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=True),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
    )
    _indexes("agent_metric")
    op.create_index(
        "ix_agent_metric_series", "agent_metric", ["team_id", "name", "agent_id", "recorded_at"]
    )


def downgrade() -> None:
    op.drop_table("agent_metric")
    op.drop_table("agent_log")
    op.drop_table("skill_embedding")
    op.drop_table("skill_file")
    op.drop_table("document_embedding")
    op.drop_table("feedback_entry")
    op.drop_table("task_artifact")
    op.drop_table("escalation")
    op.drop_table("task")
    drop_append_only("client_profile_entry")
    op.drop_table("client_profile_entry")
    op.drop_table("client")
    drop_enum("log_level")
    drop_enum("task_status")
