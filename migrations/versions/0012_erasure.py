"""Erasure records, per-team retention policies, and append-only rows an erasure may blank

``erasure`` records every erasure (user, team, retention run); ``memory_log``,
``audit_log`` and ``client_profile_entry`` gain ``erasure_id`` and triggers that let
only an open erasure blank their personal columns (`skillstore._migrate.redaction`).
``memory_log.user_id`` names the user a logged memory was about (filled in from the
memories that still exist), so a user's erasure finds the history of deleted memories.
``retention_policy`` holds each team's retention days.

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from skillstore._migrate.ddl import append_only_sql
from skillstore._migrate.redaction import erasure_table_sql, redaction_sql
from skillstore.db.types import JSON, UTCDateTime

revision: str = "0012"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("CURRENT_TIMESTAMP")

# Frozen with this revision: the personal columns of each table and their blanks.
REDACTED = {
    "memory_log": {
        "old_content": None,
        "new_content": None,
        "reason": None,
        "changed_by": "erased",
        "details": {},
    },
    "audit_log": {"details": {}, "ip_address": None},
    "client_profile_entry": {"data": {}, "source": None},
}
DELETABLE = {"client_profile_entry"}
KINDS = (
    "executions_days",
    "agent_logs_days",
    "metrics_days",
    "messages_days",
    "expired_memories_days",
    "audit_days",
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "erasure",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("counts", JSON, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure")),
    )
    op.create_index(op.f("ix_erasure_subject_id"), "erasure", ["subject_id"])
    op.create_index(op.f("ix_erasure_team_id"), "erasure", ["team_id"])
    op.create_table(
        "retention_policy",
        *(sa.Column(kind, sa.Integer(), nullable=True) for kind in KINDS),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(), server_default=NOW, nullable=False),
        sa.Column("updated_at", UTCDateTime(), server_default=NOW, nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        *(
            sa.CheckConstraint(
                f"{k} IS NULL OR {k} >= 1", name=op.f(f"ck_retention_policy_{k}_positive")
            )
            for k in KINDS
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["team.id"],
            name=op.f("fk_retention_policy_team_id_team"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_policy")),
        sa.UniqueConstraint("team_id", name=op.f("uq_retention_policy_team_id")),
    )
    for table in REDACTED:
        op.add_column(table, sa.Column("erasure_id", sa.Uuid(), nullable=True))
        op.create_index(op.f(f"ix_{table}_erasure_id"), table, ["erasure_id"])
    op.add_column("memory_log", sa.Column("user_id", sa.Uuid(), nullable=True))
    op.create_index(op.f("ix_memory_log_user_id"), "memory_log", ["user_id"])
    _backfill_user_ids(dialect)
    if dialect == "postgresql":  # SQLite: the environment installs them after the revision
        for table, redacted in REDACTED.items():
            for statement in redaction_sql(
                table, redacted, deletable=table in DELETABLE, dialect=dialect
            ):
                op.execute(statement)
        for statement in erasure_table_sql(dialect):
            op.execute(statement)


def _backfill_user_ids(dialect: str) -> None:
    """The log rows of memories that still exist name the memory's user."""
    fill = (
        "UPDATE memory_log SET user_id = "
        "(SELECT m.user_id FROM memory m WHERE m.id = memory_log.memory_id) "
        "WHERE EXISTS (SELECT 1 FROM memory m WHERE m.id = memory_log.memory_id "
        "AND m.user_id IS NOT NULL)"
    )
    if dialect == "postgresql":
        op.execute('ALTER TABLE memory_log DISABLE TRIGGER "memory_log_append_only"')
        op.execute(fill)
        op.execute('ALTER TABLE memory_log ENABLE TRIGGER "memory_log_append_only"')
    else:  # the environment re-creates the trigger after the revision
        op.execute('DROP TRIGGER IF EXISTS "memory_log_no_update"')
        op.execute(fill)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in REDACTED:
        if dialect == "postgresql":
            for statement in append_only_sql(table, dialect)[:1]:  # the strict function
                op.execute(statement)
        else:  # the environment re-creates the strict triggers after the revision
            op.execute(f'DROP TRIGGER IF EXISTS "{table}_no_update"')
            op.execute(f'DROP TRIGGER IF EXISTS "{table}_no_delete"')
    op.drop_index(op.f("ix_memory_log_user_id"), table_name="memory_log")
    for table in REDACTED:
        op.drop_index(op.f(f"ix_{table}_erasure_id"), table_name=table)
    for table in REDACTED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("erasure_id")
            if table == "memory_log":
                batch.drop_column("user_id")
    op.drop_table("retention_policy")
    op.drop_table("erasure")
    if dialect == "postgresql":
        op.execute('DROP FUNCTION IF EXISTS "erasure_append_only"()')
