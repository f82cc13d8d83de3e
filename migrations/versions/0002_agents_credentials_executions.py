"""agents, credentials, executions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from skillstore._migrate.ddl import drop_enum
from skillstore.db.types import JSON, Ciphertext, StrList, UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("CURRENT_TIMESTAMP")
TRIGGER_TYPES = ("on_demand", "scheduled", "webhook", "event")
ENUMS = ("agent_status", "sharing_level", "trigger_type", "execution_status")


def trigger_type(*, create: bool) -> sa.types.TypeEngine[str]:
    """The ``trigger_type`` enum; its second column reuses the PostgreSQL type."""
    if not create and op.get_bind().dialect.name == "postgresql":
        return postgresql.ENUM(name="trigger_type", create_type=False)
    return sa.Enum(*TRIGGER_TYPES, name="trigger_type", create_constraint=True)


def timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", UTCDateTime(), server_default=NOW, nullable=False),
        sa.Column("updated_at", UTCDateTime(), server_default=NOW, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "agent_config",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("tagline", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("avatar_emoji", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft", "active", "paused", "archived", name="agent_status", create_constraint=True
            ),
            nullable=False,
        ),
        sa.Column(
            "sharing_level",
            sa.Enum("private", "team", "public", name="sharing_level", create_constraint=True),
            nullable=False,
        ),
        sa.Column("trigger_type", trigger_type(create=True), nullable=False),
        sa.Column("schedule", sa.String(length=200), nullable=True),
        sa.Column("skills", JSON, nullable=False),
        sa.Column("integrations", StrList(), nullable=False),
        sa.Column("shared_skill_names", StrList(), nullable=False),
        sa.Column("custom_skill_names", StrList(), nullable=False),
        sa.Column("disabled_skill_names", StrList(), nullable=False),
        sa.Column("personality", JSON, nullable=False),
        sa.Column("model", JSON, nullable=False),
        sa.Column("memory", JSON, nullable=False),
        sa.Column("boundaries", JSON, nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        *timestamps(),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "trigger_type != 'scheduled' OR schedule IS NOT NULL",
            name=op.f("ck_agent_config_scheduled_has_schedule"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user.id"],
            name=op.f("fk_agent_config_created_by_user"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["team.id"], name=op.f("fk_agent_config_team_id_team"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_config")),
        sa.UniqueConstraint("team_id", "slug", name=op.f("uq_agent_config_team_id_slug")),
    )
    op.create_index(op.f("ix_agent_config_created_by"), "agent_config", ["created_by"])
    op.create_index(op.f("ix_agent_config_team_id"), "agent_config", ["team_id"])
    op.create_index(op.f("ix_agent_config_team_id_status"), "agent_config", ["team_id", "status"])

    op.create_table(
        "credential",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("integration_id", sa.String(length=100), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        *timestamps(),
        sa.Column("ciphertext", Ciphertext(), nullable=False),
        sa.Column("key_version", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user.id"],
            name=op.f("fk_credential_created_by_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["team.id"], name=op.f("fk_credential_team_id_team"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credential")),
        sa.UniqueConstraint("team_id", "name", name=op.f("uq_credential_team_id_name")),
    )
    op.create_index(op.f("ix_credential_created_by"), "credential", ["created_by"])
    op.create_index(op.f("ix_credential_integration_id"), "credential", ["integration_id"])
    op.create_index(op.f("ix_credential_team_id"), "credential", ["team_id"])

    op.create_table(
        "execution",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("workflow_id", sa.Uuid(), nullable=True),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("trigger_type", trigger_type(create=False), nullable=False),
        sa.Column("input", JSON, nullable=False),
        sa.Column("node_logs", JSON, nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        *timestamps(),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "queued",
                "running",
                "paused",
                "completed",
                "failed",
                "cancelled",
                "retrying",
                "timed_out",
                name="execution_status",
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("output", JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "agent_id IS NOT NULL OR workflow_id IS NOT NULL", name=op.f("ck_execution_has_target")
        ),
        sa.CheckConstraint("cost_usd >= 0", name=op.f("ck_execution_cost_positive")),
        sa.CheckConstraint(
            "duration_ms IS NULL OR duration_ms >= 0", name=op.f("ck_execution_duration_positive")
        ),
        sa.CheckConstraint(
            "input_tokens >= 0 AND output_tokens >= 0", name=op.f("ck_execution_tokens_positive")
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agent_config.id"],
            name=op.f("fk_execution_agent_id_agent_config"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["team.id"], name=op.f("fk_execution_team_id_team"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_execution")),
    )
    op.create_index(op.f("ix_execution_agent_id"), "execution", ["agent_id"])
    op.create_index(op.f("ix_execution_team_id"), "execution", ["team_id"])
    op.create_index(op.f("ix_execution_team_id_created_at"), "execution", ["team_id", "created_at"])
    op.create_index(op.f("ix_execution_workflow_id"), "execution", ["workflow_id"])


def downgrade() -> None:
    op.drop_table("execution")
    op.drop_table("credential")
    op.drop_table("agent_config")
    for name in ENUMS:
        drop_enum(name)
