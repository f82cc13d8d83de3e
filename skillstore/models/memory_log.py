"""The memory audit trail (``memory_log``, append-only) and categorical tags (``memory_tag``).

``memory_log`` has no foreign key on purpose (seed 003, ADR-8): it must outlive the
memory, and the team, it describes. It carries ``team_id`` (not in the seed) so that a
team's history can be read without the memory row, which may be gone. Database
triggers refuse UPDATE and DELETE on both backends (created by the migrations); the
repository writes a row in the same transaction as every change it records.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from skillstore.db.base import CreatedAtMixin, IdMixin, Schema
from skillstore.db.schema import APPEND_ONLY, DELETABLE, ERASED_TEXT, REDACTED
from skillstore.db.types import JSON


class MemoryAction(enum.StrEnum):
    """What happened to a memory (stored as text: the seed leaves the set open)."""

    CREATED = "created"
    UPDATED = "updated"
    SUPERSEDED = "superseded"
    PROMOTED = "promoted"
    DEMOTED = "demoted"
    STATUS_CHANGED = "status_changed"
    CONTRADICTED = "contradicted"
    DELETED = "deleted"
    EXPIRED = "expired"


# Fields of one log entry.
class MemoryLogBase(Schema):
    memory_id: uuid.UUID = Field(index=True)
    team_id: uuid.UUID = Field(index=True)
    user_id: uuid.UUID | None = Field(default=None, index=True)
    """The user the memory is about (so the user's erasure finds rows of gone memories)."""
    action: MemoryAction = Field(sa_type=sa.String(32))
    old_content: str | None = Field(default=None, sa_type=sa.Text)
    new_content: str | None = Field(default=None, sa_type=sa.Text)
    old_importance: int | None = None
    new_importance: int | None = None
    changed_by: str = Field(default="system", min_length=1, max_length=100)
    reason: str | None = Field(default=None, max_length=2000)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


# The table: insert-only, guarded by triggers.
class MemoryLog(CreatedAtMixin, MemoryLogBase, IdMixin, table=True):
    __table_args__ = (
        {
            "info": {
                APPEND_ONLY: True,
                DELETABLE: False,
                REDACTED: {
                    "old_content": None,
                    "new_content": None,
                    "reason": None,
                    "changed_by": ERASED_TEXT,
                    "details": {},
                },
            }
        },
    )

    erasure_id: uuid.UUID | None = Field(default=None, index=True)


# Output of `MemoryRepository.history`.
class MemoryLogRead(MemoryLogBase):
    id: uuid.UUID
    erasure_id: uuid.UUID | None = None
    created_at: datetime


# Fields of one tag.
class MemoryTagBase(Schema):
    tag: str = Field(min_length=1, max_length=100, index=True)


# The table: one row per (memory, tag).
class MemoryTag(MemoryTagBase, IdMixin, table=True):
    __table_args__ = (sa.UniqueConstraint("memory_id", "tag"),)

    memory_id: uuid.UUID = Field(foreign_key="memory.id", ondelete="CASCADE", index=True)


# Output.
class MemoryTagRead(MemoryTagBase):
    id: uuid.UUID
    memory_id: uuid.UUID
