"""Knowledge the agents search: document chunks and skill files, each with embeddings.

Embeddings are write-only on the way in (``…Create.embedding``) and are not part of the
``…Read`` models: a 1536-float list per row would dominate every listing, and callers
get at them through search. The length is checked against
``StoreSettings.embedding_dimensions`` by the repository, before any SQL runs.

A skill file's ``content_hash`` is the SHA-256 of its content: computed when it is not
given, refused when it does not match (so a caller's hash is a checksum, never a
label). The check runs on the merged row of an update too, so sending a hash without
the content it belongs to fails.
"""

from __future__ import annotations

import hashlib
import uuid
from contextlib import suppress
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import model_validator
from sqlmodel import Field

from skillstore.db.base import (
    CreatedAtMixin,
    IdMixin,
    ReadsMetadata,
    Schema,
    TeamScopedMixin,
    TimestampMixin,
    VersionMixin,
)
from skillstore.db.types import JSON, Embedding


def content_hash(content: str) -> str:
    """The SHA-256 of ``content`` (UTF-8), as 64 lower-case hex digits."""
    return hashlib.sha256(content.encode()).hexdigest()


# Fields a caller may set on one chunk of a document.
class DocumentEmbeddingBase(Schema):
    document_id: str = Field(min_length=1, max_length=1024)
    chunk_index: int = Field(default=0, ge=0)
    content: str = Field(min_length=1)
    metadata_: dict[str, Any] = Field(
        default_factory=dict, alias="metadata", sa_type=JSON, sa_column_kwargs={"name": "metadata"}
    )


# The table: one row per chunk, unique per document in a team.
class DocumentEmbedding(
    TimestampMixin, DocumentEmbeddingBase, TeamScopedMixin, IdMixin, table=True
):
    __table_args__ = (
        sa.UniqueConstraint("team_id", "document_id", "chunk_index"),
        sa.CheckConstraint("chunk_index >= 0", name="chunk_index_non_negative"),
    )

    embedding: list[float] = Field(sa_type=Embedding(), repr=False)


# Input: the embedding is write-only.
class DocumentEmbeddingCreate(DocumentEmbeddingBase):
    id: uuid.UUID | None = None
    """A caller-chosen id (rows synced from elsewhere keep theirs); a new one if None."""
    embedding: list[float] = Field(repr=False)


# Output: no embedding.
class DocumentEmbeddingRead(ReadsMetadata, DocumentEmbeddingBase):
    id: uuid.UUID
    team_id: uuid.UUID
    created_at: datetime
    updated_at: datetime


# Patch.
class DocumentEmbeddingUpdate(Schema):
    content: str | None = Field(default=None, min_length=1)
    metadata_: dict[str, Any] | None = Field(default=None, alias="metadata")
    embedding: list[float] | None = Field(default=None, repr=False)


class _HashedContent(Schema):
    """Fills in a missing ``content_hash`` and refuses one that does not match."""

    @model_validator(mode="before")
    @classmethod
    def _fill_hash(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        given = data.get("content_hash")
        if isinstance(given, str):
            data = {**data, "content_hash": given.lower()}
        elif given is None and isinstance(data.get("content"), str):
            with suppress(UnicodeEncodeError):  # not text at all: the content field says so
                data = {**data, "content_hash": content_hash(data["content"])}

        return data

    @model_validator(mode="after")
    def _check_hash(self) -> Any:
        content, given = getattr(self, "content", None), getattr(self, "content_hash", None)
        if content is not None and given is not None and given != content_hash(content):
            raise ValueError(
                "content_hash is not the SHA-256 of content; leave it out to have it "
                "computed, or send the content it was computed from"
            )
        return self


# Fields a caller may set on a skill file.
class SkillFileBase(_HashedContent):
    name: str = Field(min_length=1, max_length=200)
    path: str = Field(min_length=1, max_length=1024)
    content: str
    content_hash: str | None = Field(default=None, min_length=64, max_length=64)


# The table: one file per path in a team; the version guards concurrent edits.
class SkillFile(TimestampMixin, VersionMixin, SkillFileBase, TeamScopedMixin, IdMixin, table=True):
    __table_args__ = (sa.UniqueConstraint("team_id", "path"),)

    content_hash: str = Field(max_length=64)


# Input: content_hash may be left out (it is computed).
class SkillFileCreate(SkillFileBase):
    id: uuid.UUID | None = None
    """A caller-chosen id (rows synced from elsewhere keep theirs); a new one if None."""


# Output.
class SkillFileRead(SkillFileBase):
    content_hash: str
    id: uuid.UUID
    team_id: uuid.UUID
    version: int
    created_at: datetime
    updated_at: datetime


# Patch: new content without a hash gets its hash computed.
class SkillFileUpdate(_HashedContent):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    path: str | None = Field(default=None, min_length=1, max_length=1024)
    content: str | None = None
    content_hash: str | None = Field(default=None, min_length=64, max_length=64)


# Fields a caller may set on one embedded chunk of a skill file.
class SkillEmbeddingBase(Schema):
    chunk_index: int = Field(default=0, ge=0)
    content: str = Field(min_length=1)


# The table.
class SkillEmbedding(CreatedAtMixin, SkillEmbeddingBase, TeamScopedMixin, IdMixin, table=True):
    __table_args__ = (
        sa.UniqueConstraint("skill_file_id", "chunk_index"),
        sa.CheckConstraint("chunk_index >= 0", name="chunk_index_non_negative"),
    )

    skill_file_id: uuid.UUID = Field(foreign_key="skill_file.id", ondelete="CASCADE", index=True)
    embedding: list[float] = Field(sa_type=Embedding(), repr=False)


# Input (the skill file comes from skill_files.set_embeddings).
class SkillEmbeddingCreate(SkillEmbeddingBase):
    embedding: list[float] = Field(repr=False)


# Output: no embedding.
class SkillEmbeddingRead(SkillEmbeddingBase):
    id: uuid.UUID
    team_id: uuid.UUID
    skill_file_id: uuid.UUID
    created_at: datetime


# A document search result: the chunk, its cosine similarity and BM25 score (None when
# that list did not find it) and the score it was ranked by (as `MemoryHit`).
class DocumentHit(Schema):
    chunk: DocumentEmbeddingRead
    similarity: float | None = None
    lexical_score: float | None = None
    score: float = 0.0


# A skill search result: the chunk, the file it belongs to, and its cosine similarity.
class SkillHit(Schema):
    chunk: SkillEmbeddingRead
    skill_file: SkillFileRead
    similarity: float | None = None
    lexical_score: float | None = None
    score: float = 0.0
