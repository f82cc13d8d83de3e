"""Erasure records: the audited, privileged path that may blank append-only rows.

An erasure (a user's, a team's, or a retention run's) is one row here, written when it
starts and closed (``finished_at``) at the end of the same unit of work. The append-only
triggers of ``memory_log``, ``audit_log`` and ``client_profile_entry`` let an UPDATE
through only when it names an *open* erasure in ``erasure_id`` and only blanks the
columns the table lists as personal (`skillstore.db.schema.REDACTED`); nothing else can
change an entry, and no entry can be redacted without leaving the record of who and why.
An open erasure is visible to its own transaction only (PostgreSQL's MVCC; SQLite's one
writer), so no other session can borrow it. Erasure rows themselves are never deleted,
and only ``finished_at`` and ``counts`` may change, once, while they are open.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from skillstore.db.base import IdMixin, Schema
from skillstore.db.types import JSON, UTCDateTime, utcnow


class ErasureKind(enum.StrEnum):
    """What was erased."""

    USER = "user"
    TEAM = "team"
    RETENTION = "retention"


# Fields of one erasure record.
class ErasureBase(Schema):
    kind: ErasureKind = Field(sa_type=sa.String(16))
    subject_id: uuid.UUID | None = Field(default=None, index=True)
    team_id: uuid.UUID | None = Field(default=None, index=True)
    reason: str | None = Field(default=None, max_length=500)
    counts: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


# The table: no foreign keys, it outlives the user or team it names.
class Erasure(ErasureBase, IdMixin, table=True):
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# Output: what an erasure did, table by table (``{"memory": {"deleted": 3}, …}``).
class ErasureRead(ErasureBase):
    id: uuid.UUID
    started_at: datetime
    finished_at: datetime | None
