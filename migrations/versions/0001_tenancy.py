"""tenancy: users, teams, memberships

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from skillstore._migrate.ddl import drop_enum
from skillstore.db.types import JSON, Ciphertext, StrList, UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("CURRENT_TIMESTAMP")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")
        # gen_random_uuid() is built in since PostgreSQL 13; pgcrypto only where installed.
        op.execute(
            "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pgcrypto') "
            "THEN CREATE EXTENSION IF NOT EXISTS pgcrypto; END IF; END $$"
        )
    op.create_table(
        "user",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), server_default=NOW, nullable=False),
        sa.Column("updated_at", UTCDateTime(), server_default=NOW, nullable=False),
        sa.Column("password_hash", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "email LIKE '%_@_%' AND email = lower(email)", name=op.f("ck_user_email_format")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user")),
        sa.UniqueConstraint("email", name=op.f("uq_user_email")),
    )
    op.create_table(
        "team",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("settings", JSON, nullable=False),
        sa.Column("shared_skill_names", StrList(), nullable=False),
        sa.Column("webhook_url", sa.String(length=2048), nullable=True),
        sa.Column("conversation_retention_days", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), server_default=NOW, nullable=False),
        sa.Column("updated_at", UTCDateTime(), server_default=NOW, nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("webhook_secret_ciphertext", Ciphertext(), nullable=True),
        sa.Column("webhook_secret_key_version", sa.String(length=32), nullable=True),
        sa.CheckConstraint(
            "conversation_retention_days IS NULL OR conversation_retention_days >= 1",
            name=op.f("ck_team_retention_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["user.id"], name=op.f("fk_team_owner_id_user"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team")),
        sa.UniqueConstraint("slug", name=op.f("uq_team_slug")),
    )
    op.create_index(op.f("ix_team_owner_id"), "team", ["owner_id"])
    op.create_table(
        "team_membership",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "role",
            sa.Enum("owner", "admin", "member", "viewer", name="user_role", create_constraint=True),
            nullable=False,
        ),
        sa.Column("created_at", UTCDateTime(), server_default=NOW, nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["team.id"],
            name=op.f("fk_team_membership_team_id_team"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
            name=op.f("fk_team_membership_user_id_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_membership")),
        sa.UniqueConstraint("user_id", "team_id", name=op.f("uq_team_membership_user_id_team_id")),
    )
    op.create_index(op.f("ix_team_membership_team_id"), "team_membership", ["team_id"])
    op.create_index(op.f("ix_team_membership_user_id"), "team_membership", ["user_id"])


def downgrade() -> None:
    op.drop_table("team_membership")
    op.drop_table("team")
    op.drop_table("user")
    drop_enum("user_role")
