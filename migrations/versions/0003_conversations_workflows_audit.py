"""conversations, messages, workflows, schedules, webhooks, MCP servers, audit log

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from skillstore._migrate.ddl import create_append_only, drop_append_only, drop_enum
from skillstore.db.types import JSON, Ciphertext, StrList, UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("CURRENT_TIMESTAMP")
ENUMS = (
    "conversation_status",
    "message_role",
    "workflow_status",
    "schedule_type",
    "mcp_server_status",
)


def _id_and_team() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
    ]


def _timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", UTCDateTime(), server_default=NOW, nullable=False),
        sa.Column("updated_at", UTCDateTime(), server_default=NOW, nullable=False),
    ]


def _team_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["team_id"], ["team.id"], name=op.f(f"fk_{table}_team_id_team"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "conversation",
        *_id_and_team(),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column(
            "status",
            sa.Enum("active", "idle", "closed", name="conversation_status", create_constraint=True),
            nullable=False,
        ),
        *_timestamps(),
        sa.Column("message_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("token_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_message_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "message_count >= 0", name=op.f("ck_conversation_message_count_not_negative")
        ),
        sa.CheckConstraint(
            "token_count >= 0", name=op.f("ck_conversation_token_count_not_negative")
        ),
        _team_fk("conversation"),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agent_config.id"],
            name=op.f("fk_conversation_agent_id_agent_config"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_conversation_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation")),
    )
    for column in ("agent_id", "last_message_at", "team_id", "user_id"):
        op.create_index(op.f(f"ix_conversation_{column}"), "conversation", [column])

    op.create_table(
        "message",
        *_id_and_team(),
        sa.Column(
            "role",
            sa.Enum(
                "user", "assistant", "system", "tool", name="message_role", create_constraint=True
            ),
            nullable=False,
        ),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("tool_calls", JSON, nullable=True),
        sa.Column("token_count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), server_default=NOW, nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("feedback_rating", sa.Integer(), nullable=True),
        sa.Column("feedback_comment", sa.String(length=4000), nullable=True),
        sa.CheckConstraint(
            "feedback_rating IS NULL OR feedback_rating BETWEEN 1 AND 5",
            name=op.f("ck_message_feedback_rating_range"),
        ),
        sa.CheckConstraint("token_count >= 0", name=op.f("ck_message_token_count_not_negative")),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_message_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        _team_fk("message"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message")),
    )
    op.create_index(
        op.f("ix_message_conversation_id_created_at"),
        "message",
        ["conversation_id", "created_at", "id"],
    )
    op.create_index(op.f("ix_message_team_id"), "message", ["team_id"])

    op.create_table(
        "workflow",
        *_id_and_team(),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=4000), nullable=True),
        sa.Column("nodes", JSON, nullable=False),
        sa.Column("edges", JSON, nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft", "published", "archived", name="workflow_status", create_constraint=True
            ),
            nullable=False,
        ),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["user.id"], name=op.f("fk_workflow_owner_id_user"), ondelete="SET NULL"
        ),
        _team_fk("workflow"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow")),
    )
    op.create_index(op.f("ix_workflow_owner_id"), "workflow", ["owner_id"])
    op.create_index(op.f("ix_workflow_team_id"), "workflow", ["team_id"])

    op.create_table(
        "schedule",
        *_id_and_team(),
        sa.Column("workflow_id", sa.Uuid(), nullable=True),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column(
            "type",
            sa.Enum("cron", "interval", name="schedule_type", create_constraint=True),
            nullable=False,
        ),
        sa.Column("expression", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("input", JSON, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.Column("last_run_at", UTCDateTime(), nullable=True),
        sa.Column("next_run_at", UTCDateTime(), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "(workflow_id IS NULL) <> (agent_id IS NULL)",
            name=op.f("ck_schedule_exactly_one_target"),
        ),
        _team_fk("schedule"),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agent_config.id"],
            name=op.f("fk_schedule_agent_id_agent_config"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflow.id"],
            name=op.f("fk_schedule_workflow_id_workflow"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule")),
    )
    op.create_index(op.f("ix_schedule_due"), "schedule", ["enabled", "next_run_at"])
    for column in ("agent_id", "team_id", "workflow_id"):
        op.create_index(op.f(f"ix_schedule_{column}"), "schedule", [column])

    op.create_table(
        "webhook",
        *_id_and_team(),
        sa.Column("workflow_id", sa.Uuid(), nullable=False),
        sa.Column("allowed_ips", StrList(), nullable=False),
        sa.Column("input_mapping", JSON, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.Column("secret_ciphertext", Ciphertext(), nullable=False),
        sa.Column("secret_key_version", sa.String(length=32), nullable=False),
        _team_fk("webhook"),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflow.id"],
            name=op.f("fk_webhook_workflow_id_workflow"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook")),
    )
    op.create_index(op.f("ix_webhook_team_id"), "webhook", ["team_id"])
    op.create_index(op.f("ix_webhook_workflow_id"), "webhook", ["workflow_id"])

    op.create_table(
        "mcp_server",
        *_id_and_team(),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("command", sa.String(length=1000), nullable=False),
        sa.Column("args", StrList(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "connected",
                "disconnected",
                "error",
                name="mcp_server_status",
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("tool_count", sa.Integer(), nullable=False),
        *_timestamps(),
        sa.Column("env_keys", StrList(), nullable=False),
        sa.Column("env_ciphertext", Ciphertext(), nullable=True),
        sa.Column("env_key_version", sa.String(length=32), nullable=True),
        sa.CheckConstraint("tool_count >= 0", name=op.f("ck_mcp_server_tool_count_not_negative")),
        _team_fk("mcp_server"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mcp_server")),
        sa.UniqueConstraint("team_id", "name", name=op.f("uq_mcp_server_team_id_name")),
    )
    op.create_index(op.f("ix_mcp_server_team_id"), "mcp_server", ["team_id"])

    # No foreign keys: ON DELETE actions would fight the append-only triggers.
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("resource_type", sa.String(length=64), nullable=True),
        sa.Column("resource_id", sa.Uuid(), nullable=True),
        sa.Column("details", JSON, nullable=False),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("timestamp", UTCDateTime(), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_resource"), "audit_log", ["resource_type", "resource_id"])
    op.create_index(op.f("ix_audit_log_team_id_timestamp"), "audit_log", ["team_id", "timestamp"])
    op.create_index(op.f("ix_audit_log_timestamp"), "audit_log", ["timestamp"])
    op.create_index(op.f("ix_audit_log_user_id"), "audit_log", ["user_id"])
    create_append_only("audit_log")
    # Executions (revision 0002) can name a workflow now that workflows exist.
    with op.batch_alter_table("execution") as batch:
        batch.create_foreign_key(
            op.f("fk_execution_workflow_id_workflow"),
            "workflow",
            ["workflow_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("execution") as batch:
        batch.drop_constraint(op.f("fk_execution_workflow_id_workflow"), type_="foreignkey")
    drop_append_only("audit_log")
    for table in ("audit_log", "mcp_server", "webhook", "schedule", "workflow", "message"):
        op.drop_table(table)
    op.drop_table("conversation")  # after message, which references it
    for name in ENUMS:
        drop_enum(name)
