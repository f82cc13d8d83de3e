"""Per-team retention: how many days each kind of row is kept before it is erased.

One row per team (``None`` for a kind: kept forever). `Store.apply_retention` reads the
policies and erases what is older, in batches; append-only rows (audit entries) are
redacted under an erasure record, not deleted, so the trail keeps its count and times.
The older ``team.conversation_retention_days`` stays as it was; ``messages_days`` is
the per-message rule.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from skillstore.db.base import IdMixin, Schema, TimestampMixin

KINDS = (
    "executions_days",
    "agent_logs_days",
    "metrics_days",
    "messages_days",
    "expired_memories_days",
    "audit_days",
)
"""The policy's fields, one per kind of row it ages out."""


# Fields a caller may set: days to keep each kind (None: forever).
class RetentionPolicyBase(Schema):
    executions_days: int | None = Field(default=None, ge=1, le=36500)
    agent_logs_days: int | None = Field(default=None, ge=1, le=36500)
    metrics_days: int | None = Field(default=None, ge=1, le=36500)
    messages_days: int | None = Field(default=None, ge=1, le=36500)
    expired_memories_days: int | None = Field(default=None, ge=1, le=36500)
    audit_days: int | None = Field(default=None, ge=1, le=36500)


# The table: one policy per team.
class RetentionPolicy(TimestampMixin, RetentionPolicyBase, IdMixin, table=True):
    __table_args__ = tuple(
        sa.CheckConstraint(f"{k} IS NULL OR {k} >= 1", name=f"{k}_positive") for k in KINDS
    )

    team_id: uuid.UUID = Field(foreign_key="team.id", ondelete="CASCADE", unique=True)


# Input (the team is the session's).
class RetentionPolicyCreate(RetentionPolicyBase):
    pass


# Output.
class RetentionPolicyRead(RetentionPolicyBase):
    id: uuid.UUID
    team_id: uuid.UUID
    created_at: datetime
    updated_at: datetime
