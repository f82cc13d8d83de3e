"""SQLite: append-only tables refuse INSERT OR REPLACE of an existing row

REPLACE deletes the row it replaces without firing DELETE triggers, so the append-only
triggers of 0003/0005 let a raw ``INSERT OR REPLACE`` rewrite history. PostgreSQL:
nothing (it has no REPLACE; ON CONFLICT DO UPDATE fires the UPDATE trigger).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from skillstore._migrate.ddl import create_no_replace, drop_no_replace

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("audit_log", "memory_log", "client_profile_entry")


def upgrade() -> None:
    for table in TABLES:
        create_no_replace(table)


def downgrade() -> None:
    for table in TABLES:
        drop_no_replace(table)
