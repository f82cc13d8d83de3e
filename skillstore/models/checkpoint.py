"""LangGraph's checkpoints, pending writes and channel values, per team.

The tables behind `skillstore.integrations.langgraph.SkillstoreSaver` (defined here,
without LangGraph, so that the schema and its migrations do not depend on an optional
extra). Every key starts with ``team_id``: two teams' threads of the same name never
meet, and a team's rows go with it (``ON DELETE CASCADE``). Channel values are stored
once per ``(channel, version)`` in ``checkpoint_blob`` and referenced by the versions
each checkpoint lists, so a step re-writes only the channels it changed; values are
LangGraph's serializer's ``(type, bytes)``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from skillstore.db.types import JSON, UTCDateTime


class ThreadKey(SQLModel):
    """The start of every key: the team, the thread and its namespace."""

    team_id: uuid.UUID = Field(foreign_key="team.id", ondelete="CASCADE", primary_key=True)
    thread_id: str = Field(primary_key=True)
    checkpoint_ns: str = Field(default="", primary_key=True)


class LangGraphCheckpoint(ThreadKey, table=True):
    """One checkpoint of a thread's namespace; ``checkpoint`` holds it without values."""

    __tablename__ = "checkpoint"

    checkpoint_id: str = Field(primary_key=True)
    parent_checkpoint_id: str | None = None
    type: str
    checkpoint: bytes = Field(sa_type=sa.LargeBinary)
    metadata_type: str
    metadata_: bytes = Field(sa_type=sa.LargeBinary, sa_column_kwargs={"name": "metadata"})


class LangGraphBlob(ThreadKey, table=True):
    """One channel's value at one version (``type`` "empty" when the channel was cleared)."""

    __tablename__ = "checkpoint_blob"

    channel: str = Field(primary_key=True)
    version: str = Field(primary_key=True)
    type: str
    blob: bytes | None = Field(default=None, sa_type=sa.LargeBinary)


class LangGraphWrite(ThreadKey, table=True):
    """A pending write of a task against a checkpoint."""

    __tablename__ = "checkpoint_write"

    checkpoint_id: str = Field(primary_key=True)
    task_id: str = Field(primary_key=True)
    idx: int = Field(primary_key=True)
    channel: str
    type: str
    blob: bytes = Field(sa_type=sa.LargeBinary)
    task_path: str = ""


class LangGraphItem(SQLModel, table=True):
    """One item of LangGraph's long-term store: ``prefix`` is the namespace joined by
    ``"."`` (which LangGraph forbids inside a label), so a namespace prefix is a range
    of the primary key's index. ``expires_at`` is set for items put with a TTL."""

    __tablename__ = "store_item"

    team_id: uuid.UUID = Field(foreign_key="team.id", ondelete="CASCADE", primary_key=True)
    prefix: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    value: dict[str, Any] = Field(sa_type=JSON)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    ttl_minutes: float | None = None
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
