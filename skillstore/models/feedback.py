"""Feedback on a task or on a message: a 1-5 rating, a comment, and who gave it.

One table for both targets (rather than one per target) so that ratings can be counted
and averaged in one query; a row names at least one target, enforced twice like every
range rule. Feedback about a task goes with the task (``CASCADE``); the author is kept
optional so that deleting a user keeps the rating (``SET NULL``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from pydantic import model_validator
from sqlmodel import Field

from skillstore.db.base import IdMixin, Schema, TeamScopedMixin, TimestampMixin


# Fields a caller may set on a feedback entry.
class FeedbackEntryBase(Schema):
    task_id: uuid.UUID | None = Field(
        default=None, foreign_key="task.id", ondelete="CASCADE", index=True
    )
    message_id: uuid.UUID | None = Field(
        default=None, foreign_key="message.id", ondelete="CASCADE", index=True
    )
    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=10_000)
    author_id: uuid.UUID | None = Field(
        default=None, foreign_key="user.id", ondelete="SET NULL", index=True
    )

    @model_validator(mode="after")
    def _has_target(self) -> FeedbackEntryBase:
        if self.task_id is None and self.message_id is None:
            raise ValueError("feedback needs a task_id or a message_id to be about")
        return self


# The table.
class FeedbackEntry(TimestampMixin, FeedbackEntryBase, TeamScopedMixin, IdMixin, table=True):
    __table_args__ = (
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        sa.CheckConstraint("task_id IS NOT NULL OR message_id IS NOT NULL", name="has_target"),
    )


# Input.
class FeedbackEntryCreate(FeedbackEntryBase):
    pass


# Output.
class FeedbackEntryRead(FeedbackEntryBase):
    id: uuid.UUID
    team_id: uuid.UUID
    created_at: datetime
    updated_at: datetime


# Patch (the target is fixed once given).
class FeedbackEntryUpdate(Schema):
    rating: int | None = Field(default=None, ge=1, le=5)
    comment: str | None = Field(default=None, max_length=10_000)
