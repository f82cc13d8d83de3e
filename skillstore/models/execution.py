"""Executions: one run of an agent or a workflow (seed 000 ExecutionLog + seed 001 executions).

The status moves through a state machine written as one explicit table,
`ALLOWED_TRANSITIONS`, so the rules can be read (and tested) at a glance; a generic
``update`` cannot change the status or the timestamps, only
``executions.transition`` can. Free-form ``mode`` is a short string rather than an enum
because the seeds name no fixed set of modes.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any, Self

import sqlalchemy as sa
from pydantic import BaseModel, model_validator
from sqlmodel import Field

from skillstore.db.base import IdMixin, Schema, TeamScopedMixin, TimestampMixin, VersionMixin
from skillstore.db.types import JSON, UTCDateTime, enum_type
from skillstore.models.agent import TriggerType


class ExecutionStatus(enum.StrEnum):
    """Where a run is (seed 001's nine statuses)."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RETRYING = "retrying"
    TIMED_OUT = "timed_out"


_S = ExecutionStatus
ALLOWED_TRANSITIONS: dict[ExecutionStatus, frozenset[ExecutionStatus]] = {
    _S.PENDING: frozenset({_S.QUEUED, _S.RUNNING, _S.CANCELLED}),
    _S.QUEUED: frozenset({_S.RUNNING, _S.CANCELLED, _S.TIMED_OUT}),
    _S.RUNNING: frozenset({_S.PAUSED, _S.COMPLETED, _S.FAILED, _S.CANCELLED, _S.TIMED_OUT}),
    _S.PAUSED: frozenset({_S.RUNNING, _S.CANCELLED, _S.TIMED_OUT}),
    _S.FAILED: frozenset({_S.RETRYING}),  # final unless retried
    _S.RETRYING: frozenset({_S.RUNNING, _S.CANCELLED}),
    _S.COMPLETED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.TIMED_OUT: frozenset(),
}
"""Every legal move: ``status → statuses it may go to``."""

FINISHED = frozenset({_S.COMPLETED, _S.FAILED, _S.CANCELLED, _S.TIMED_OUT})
"""Statuses that stamp ``finished_at`` and ``duration_ms``."""


# Fields a caller may set: what runs, how it was started, its input, and usage as it runs.
class ExecutionBase(Schema):
    agent_id: uuid.UUID | None = Field(
        default=None, foreign_key="agent_config.id", ondelete="CASCADE", index=True
    )
    workflow_id: uuid.UUID | None = Field(
        default=None, foreign_key="workflow.id", ondelete="CASCADE", index=True
    )
    mode: str = Field(default="manual", min_length=1, max_length=32)
    trigger_type: TriggerType = Field(
        default=TriggerType.ON_DEMAND, sa_type=enum_type(TriggerType, "trigger_type")
    )
    input: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    node_logs: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0.0)

    @model_validator(mode="after")
    def _runs_something(self) -> Self:
        if self.agent_id is None and self.workflow_id is None:
            raise ValueError("an execution needs an agent_id, a workflow_id or both")
        return self


# The table: + status, result and timing, written only by `transition`.
class Execution(TimestampMixin, VersionMixin, ExecutionBase, TeamScopedMixin, IdMixin, table=True):
    __table_args__ = (
        sa.CheckConstraint("agent_id IS NOT NULL OR workflow_id IS NOT NULL", name="has_target"),
        sa.CheckConstraint("input_tokens >= 0 AND output_tokens >= 0", name="tokens_positive"),
        sa.CheckConstraint("cost_usd >= 0", name="cost_positive"),
        sa.CheckConstraint("duration_ms IS NULL OR duration_ms >= 0", name="duration_positive"),
        sa.Index("ix_execution_team_id_created_at", "team_id", "created_at"),
        sa.Index("ix_execution_team_id_idempotency_key", "team_id", "idempotency_key", unique=True),
    )

    idempotency_key: str | None = Field(default=None, max_length=255)

    status: ExecutionStatus = Field(
        default=ExecutionStatus.PENDING, sa_type=enum_type(ExecutionStatus, "execution_status")
    )
    output: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    error: str | None = Field(default=None, sa_type=sa.Text)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    duration_ms: int | None = Field(default=None, ge=0)


# Input: a new execution always starts ``pending``.
class ExecutionCreate(ExecutionBase):
    pass


# Output.
class ExecutionRead(ExecutionBase):
    id: uuid.UUID
    team_id: uuid.UUID
    status: ExecutionStatus
    output: dict[str, Any] | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    idempotency_key: str | None = None
    version: int
    created_at: datetime
    updated_at: datetime


# Patch: progress and usage while it runs; the status moves only through `transition`.
class ExecutionUpdate(Schema):
    node_logs: list[dict[str, Any]] | None = None
    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)
    cost_usd: float | None = Field(default=None, ge=0.0)


class ExecutionPage(BaseModel):
    """One page of executions, newest first; pass ``next_cursor`` as ``after`` for more."""

    items: list[ExecutionRead]
    next_cursor: str | None = None
