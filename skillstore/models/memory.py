"""Long-term agent memory: one table for every kind of memory (seed 003, ADR-6).

A single ``memory`` table with a ``memory_type`` discriminator was kept over one table
per kind: every kind is searched the same way, over the same vector index, and a
per-kind split would need a UNION for every retrieval. Versioning is by supersession
(a new row, the old one ``superseded`` and pointing at it) rather than in-place edits,
so what an agent believed at any time stays answerable; the full trail is in
``memory_log`` (see `skillstore.models.memory_log`).

Vectors are not part of `MemoryRead`: they are large, the caller produced them, and
returning them with every hit would dominate the cost of a search. ``embedding_model``
records which model produced each vector, and a search only compares vectors of the
same model.

The field ``metadata_`` maps to the column ``metadata`` and is called ``metadata`` by
callers (input, JSON, ``find(metadata=…)``, ``hit.memory.metadata``): SQLAlchemy reserves
the attribute name ``metadata`` on declarative classes.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from skillstore.db.base import (
    IdMixin,
    ReadsMetadata,
    Schema,
    TeamScopedMixin,
    TimestampMixin,
    VersionMixin,
)
from skillstore.db.types import JSON, Embedding, UTCDateTime, UUIDList, enum_type


class MemoryType(enum.StrEnum):
    """What kind of knowledge a memory holds."""

    SEMANTIC = "semantic"
    EPISODIC = "episodic"
    PROCEDURAL = "procedural"
    AGENT_PRIVATE = "agent_private"
    SHARED = "shared"
    IDENTITY = "identity"
    USER_PROFILE = "user_profile"


class MemoryStatus(enum.StrEnum):
    """Lifecycle: only ``active`` and ``disputed`` memories are searched by default."""

    ACTIVE = "active"
    SUPERSEDED = "superseded"
    ARCHIVED = "archived"
    DISPUTED = "disputed"


class MemoryTier(enum.StrEnum):
    """Storage temperature, hottest first."""

    HOT = "hot"
    WARM = "warm"
    COLD = "cold"


class MemorySource(enum.StrEnum):
    """How a memory came to exist."""

    EXTRACTION = "extraction"
    EXPLICIT = "explicit"
    SYSTEM = "system"
    FEEDBACK = "feedback"
    CONSOLIDATION = "consolidation"
    COMPACTION = "compaction"


SEARCHABLE_STATUSES = (MemoryStatus.ACTIVE, MemoryStatus.DISPUTED)
"""Statuses a search returns unless asked otherwise (superseded/archived are history)."""


# Fields a caller may set on a memory.
class MemoryBase(Schema):
    agent_id: uuid.UUID | None = Field(
        default=None, foreign_key="agent_config.id", ondelete="CASCADE", index=True
    )
    user_id: uuid.UUID | None = Field(
        default=None, foreign_key="user.id", ondelete="CASCADE", index=True
    )
    memory_type: MemoryType = Field(sa_type=enum_type(MemoryType, "memory_type_enum"))
    content: str = Field(min_length=1, max_length=100_000, sa_type=sa.Text)
    subject: str | None = Field(default=None, max_length=500)
    embedding_model: str | None = Field(default=None, max_length=200)
    importance: int = Field(default=5, ge=1, le=10)
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    is_pinned: bool = False
    source_type: MemorySource = Field(
        default=MemorySource.EXTRACTION, sa_type=enum_type(MemorySource, "memory_source")
    )
    source_conversation_id: uuid.UUID | None = Field(
        default=None, foreign_key="conversation.id", ondelete="SET NULL", index=True
    )
    source_message_ids: list[uuid.UUID] = Field(default_factory=list, sa_type=UUIDList)
    extraction_model: str | None = Field(default=None, max_length=200)
    contradicts: list[uuid.UUID] = Field(default_factory=list, sa_type=UUIDList)
    related_to: list[uuid.UUID] = Field(default_factory=list, sa_type=UUIDList)
    metadata_: dict[str, Any] = Field(
        default_factory=dict, alias="metadata", sa_type=JSON, sa_column_kwargs={"name": "metadata"}
    )
    tier: MemoryTier = Field(default=MemoryTier.WARM, sa_type=enum_type(MemoryTier, "memory_tier"))
    status: MemoryStatus = Field(
        default=MemoryStatus.ACTIVE, sa_type=enum_type(MemoryStatus, "memory_status")
    )
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


# The table: adds the vector, counters, the supersession link and the version.
class Memory(TimestampMixin, MemoryBase, VersionMixin, TeamScopedMixin, IdMixin, table=True):
    __table_args__ = (
        sa.CheckConstraint("importance BETWEEN 1 AND 10", name="importance_range"),
        sa.CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_range"),
        sa.CheckConstraint("access_count >= 0", name="access_count_positive"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        sa.Index("ix_memory_team_id_memory_type", "team_id", "memory_type"),
    )

    embedding: list[float] | None = Field(default=None, sa_type=Embedding(), repr=False)
    access_count: int = Field(default=0, ge=0, sa_column_kwargs={"server_default": "0"})
    last_accessed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    superseded_by: uuid.UUID | None = Field(
        default=None, foreign_key="memory.id", ondelete="SET NULL", index=True
    )


# Input: the vector travels in, never back out.
class MemoryCreate(MemoryBase):
    id: uuid.UUID | None = None
    """A caller-chosen id (rows synced from elsewhere keep theirs); a new one if None."""
    embedding: list[float] | None = Field(default=None, repr=False)


# Output: everything but the vector.
class MemoryRead(ReadsMetadata, MemoryBase):
    id: uuid.UUID
    team_id: uuid.UUID
    access_count: int
    last_accessed_at: datetime | None
    superseded_by: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime


# Patch: only fields sent are applied (content changes that need a trail: `supersede`).
class MemoryUpdate(Schema):
    content: str | None = Field(default=None, min_length=1, max_length=100_000)
    subject: str | None = Field(default=None, max_length=500)
    embedding: list[float] | None = Field(default=None, repr=False)
    embedding_model: str | None = Field(default=None, max_length=200)
    importance: int | None = Field(default=None, ge=1, le=10)
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    is_pinned: bool | None = None
    related_to: list[uuid.UUID] | None = None
    metadata_: dict[str, Any] | None = Field(default=None, alias="metadata")
    tier: MemoryTier | None = None
    status: MemoryStatus | None = None
    expires_at: datetime | None = None


# A search hit: the memory, its cosine similarity (1 - cosine distance; None when only
# the lexical list found it), its BM25 score (None when only the vector list did) and the
# score it was ranked by (the similarity, the BM25 score, or the fused score).
class MemoryHit(Schema):
    memory: MemoryRead
    similarity: float | None = None
    lexical_score: float | None = None
    score: float = 0.0


# A scored retrieval result: every signal, its weighted total and its token cost.
class ScoredMemory(Schema):
    memory: MemoryRead
    similarity: float
    semantic: float
    recency: float
    importance: float
    continuity: float
    relationship: float
    lexical: float = 0.0
    total: float
    tokens: int


# Who is asking, for `retrieve`: continuity and visibility come from here.
class RetrievalContext(Schema):
    """The situation a retrieval serves.

    ``agent_id``/``user_id`` limit the candidates to that agent's (or shared, agent-less)
    memories about that user (or team-wide, user-less ones); ``conversation_id`` and
    ``user_id`` drive the continuity signal.
    """

    agent_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    memory_types: list[MemoryType] | None = None
    now: datetime | None = None
