"""Tasks an agent works on, their escalations to people, and the artifacts they produce.

A task's status moves only through `TASK_TRANSITIONS` (checked by
`skillstore.db.states.check_transition`), never by a plain update: `TaskUpdate` refuses
``status`` and points at ``tasks.transition``, so no caller can jump a cancelled task
back to work by patching a field. A free-form status string (seed 004 had an enum, other
peers strings) was rejected for the same reason. ``completed_at`` is server-managed: set
when a task reaches a final state.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import model_validator
from sqlmodel import Field

from skillstore.db.base import IdMixin, Schema, TeamScopedMixin, TimestampMixin, VersionMixin
from skillstore.db.states import parse_enum
from skillstore.db.types import JSON, UTCDateTime, enum_type


class TaskStatus(enum.StrEnum):
    """Where a task is in its life."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    ESCALATED = "escalated"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.PENDING: frozenset({TaskStatus.IN_PROGRESS, TaskStatus.CANCELLED}),
    TaskStatus.IN_PROGRESS: frozenset(
        {TaskStatus.ESCALATED, TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
    ),
    TaskStatus.ESCALATED: frozenset(
        {TaskStatus.IN_PROGRESS, TaskStatus.FAILED, TaskStatus.CANCELLED}
    ),
    # A failed task may be queued again; completed and cancelled are final.
    TaskStatus.FAILED: frozenset({TaskStatus.PENDING}),
    TaskStatus.COMPLETED: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
}
"""Every legal status change: current status → the statuses it may move to."""

FINISHED = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})
"""Statuses that stamp ``completed_at``."""

INITIAL = frozenset({TaskStatus.PENDING, TaskStatus.IN_PROGRESS})
"""Statuses a task may be created in."""


def parse_status(value: TaskStatus | str) -> TaskStatus:
    """``value`` as a `TaskStatus`, or a `ValidationError` listing the valid statuses."""
    return parse_enum(TaskStatus, value, "task status")


# Fields a caller may set on a task (status only at creation; then through transitions).
class TaskBase(Schema):
    title: str = Field(min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=100_000)
    agent_id: uuid.UUID | None = Field(
        default=None, foreign_key="agent_config.id", ondelete="SET NULL", index=True
    )
    client_id: uuid.UUID | None = Field(
        default=None, foreign_key="client.id", ondelete="SET NULL", index=True
    )
    priority: int = Field(default=3, ge=1, le=5)
    input: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# The table: status, its output and completion time, and an optimistic-lock version.
class Task(TimestampMixin, VersionMixin, TaskBase, TeamScopedMixin, IdMixin, table=True):
    __table_args__ = (
        sa.CheckConstraint("priority BETWEEN 1 AND 5", name="priority_range"),
        sa.Index(None, "team_id", "status"),
    )

    status: TaskStatus = Field(
        default=TaskStatus.PENDING, sa_type=enum_type(TaskStatus, "task_status")
    )
    output: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# Input: a task starts pending (or already in progress).
class TaskCreate(TaskBase):
    id: uuid.UUID | None = None
    """A caller-chosen id (rows synced from elsewhere keep theirs); a new one if None."""
    status: TaskStatus = TaskStatus.PENDING

    @model_validator(mode="after")
    def _initial_status(self) -> TaskCreate:
        if self.status not in INITIAL:
            raise ValueError(
                f"a task is created pending or in_progress, not {self.status.value}; "
                "create it, then use tasks.transition(...)"
            )
        return self


# Output.
class TaskRead(TaskBase):
    id: uuid.UUID
    team_id: uuid.UUID
    status: TaskStatus
    output: dict[str, Any] | None
    completed_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


# Patch: every field optional; status is refused (it has its own state machine).
class TaskUpdate(Schema):
    title: str | None = Field(default=None, min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=100_000)
    agent_id: uuid.UUID | None = None
    client_id: uuid.UUID | None = None
    priority: int | None = Field(default=None, ge=1, le=5)
    input: dict[str, Any] | None = None
    due_at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_status(cls, data: Any) -> Any:
        if isinstance(data, dict) and "status" in data:
            raise ValueError("status cannot be patched; use tasks.transition(id, status)")
        return data


# Fields a caller may set on an escalation of a task to a person, queue or role.
class EscalationBase(Schema):
    task_id: uuid.UUID = Field(foreign_key="task.id", ondelete="CASCADE", index=True)
    reason: str = Field(min_length=1, max_length=10_000)
    escalated_to: str = Field(min_length=1, max_length=200)
    assignee_id: uuid.UUID | None = Field(
        default=None, foreign_key="user.id", ondelete="SET NULL", index=True
    )


# The table: resolution is server-managed (escalations.resolve).
class Escalation(TimestampMixin, EscalationBase, TeamScopedMixin, IdMixin, table=True):
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolution: str | None = Field(default=None, max_length=10_000)


# Input.
class EscalationCreate(EscalationBase):
    pass


# Output.
class EscalationRead(EscalationBase):
    id: uuid.UUID
    team_id: uuid.UUID
    resolved_at: datetime | None
    resolution: str | None
    created_at: datetime
    updated_at: datetime


# Patch (resolution goes through escalations.resolve).
class EscalationUpdate(Schema):
    reason: str | None = Field(default=None, min_length=1, max_length=10_000)
    escalated_to: str | None = Field(default=None, min_length=1, max_length=200)
    assignee_id: uuid.UUID | None = None


# Fields a caller may set on something a task produced: a link (uri) or inline content.
class TaskArtifactBase(Schema):
    task_id: uuid.UUID = Field(foreign_key="task.id", ondelete="CASCADE", index=True)
    kind: str = Field(min_length=1, max_length=64)
    uri: str | None = Field(default=None, max_length=2048)
    content: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)

    @model_validator(mode="after")
    def _uri_or_content(self) -> TaskArtifactBase:
        if self.uri is None and self.content is None:
            raise ValueError("an artifact needs a uri or content (or both)")
        return self


# The table.
class TaskArtifact(TimestampMixin, TaskArtifactBase, TeamScopedMixin, IdMixin, table=True):
    __table_args__ = (
        sa.CheckConstraint("uri IS NOT NULL OR content IS NOT NULL", name="uri_or_content"),
    )


# Input.
class TaskArtifactCreate(TaskArtifactBase):
    pass


# Output.
class TaskArtifactRead(TaskArtifactBase):
    id: uuid.UUID
    team_id: uuid.UUID
    created_at: datetime
    updated_at: datetime


# Patch.
class TaskArtifactUpdate(Schema):
    kind: str | None = Field(default=None, min_length=1, max_length=64)
    uri: str | None = Field(default=None, max_length=2048)
    content: str | None = None
    meta: dict[str, Any] | None = None
