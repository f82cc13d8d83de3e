"""Clients and their append-only profile history.

A client's profile is never edited in place: every change is a `ClientProfileEntry`
(a JSON Merge Patch, RFC 7396) appended with the next ``sequence`` number, and the
current profile is the fold of the entries in that order (`fold_profile`). Database
triggers refuse UPDATE and DELETE on the entries, on both backends.

Deleting a client: entries cannot be deleted, so ``ON DELETE CASCADE`` would make the
client's delete fail inside the trigger. The foreign key is ``RESTRICT`` instead, and a
client with history is *archived* (``archived_at``), not deleted; the repository says so
before the database has to. For the same reason a team whose clients have history cannot
be deleted (the cascade reaches the entries and the trigger refuses it).

Per-client ``sequence`` numbers (unique with the client) were chosen over ordering by
``created_at``, which ties when two entries share a clock tick and so cannot give a fold
one order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, EmailStr
from sqlmodel import Field

from skillstore.db.base import CreatedAtMixin, IdMixin, Schema, TeamScopedMixin, TimestampMixin
from skillstore.db.schema import APPEND_ONLY, DELETABLE, REDACTED
from skillstore.db.types import JSON, UTCDateTime


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply one JSON Merge Patch (RFC 7396): objects merge, ``None`` removes a key."""
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def fold_profile(patches: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The profile the patches describe, applied in order."""
    profile: dict[str, Any] = {}
    for patch in patches:
        profile = merge_patch(profile, patch)
    return profile


# Fields a caller may set on a client.
class ClientBase(Schema):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr | None = Field(default=None, max_length=320)
    external_id: str | None = Field(default=None, min_length=1, max_length=200)


# The table: archived_at is set by clients.archive (clients with history are not deleted).
class Client(TimestampMixin, ClientBase, TeamScopedMixin, IdMixin, table=True):
    __table_args__ = (sa.UniqueConstraint("team_id", "external_id"),)

    email: str | None = Field(default=None, max_length=320)
    archived_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# Input.
class ClientCreate(ClientBase):
    id: uuid.UUID | None = None
    """A caller-chosen id (rows synced from elsewhere keep theirs); a new one if None."""


# Output.
class ClientRead(ClientBase):
    id: uuid.UUID
    team_id: uuid.UUID
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime


# Patch.
class ClientUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: EmailStr | None = None
    external_id: str | None = Field(default=None, min_length=1, max_length=200)


# Fields a caller may set on a profile entry: the merge patch and who or what wrote it.
class ClientProfileEntryBase(Schema):
    data: dict[str, Any] = Field(sa_type=JSON)
    source: str | None = Field(default=None, max_length=200)


# The table: append-only; sequence orders the entries of one client.
class ClientProfileEntry(
    CreatedAtMixin, ClientProfileEntryBase, TeamScopedMixin, IdMixin, table=True
):
    __table_args__ = (
        sa.UniqueConstraint("client_id", "sequence"),
        sa.CheckConstraint("sequence >= 1", name="sequence_positive"),
        {"info": {APPEND_ONLY: True, DELETABLE: True, REDACTED: {"data": {}, "source": None}}},
    )

    erasure_id: uuid.UUID | None = Field(default=None, index=True)

    client_id: uuid.UUID = Field(foreign_key="client.id", ondelete="RESTRICT", index=True)
    sequence: int = Field(ge=1)


# Input (the client and sequence come from clients.append_profile).
class ClientProfileEntryCreate(ClientProfileEntryBase):
    pass


# Output.
class ClientProfileEntryRead(ClientProfileEntryBase):
    id: uuid.UUID
    erasure_id: uuid.UUID | None = None
    team_id: uuid.UUID
    client_id: uuid.UUID
    sequence: int
    created_at: datetime


class ClientProfile(BaseModel):
    """A client's current profile: the fold of its entries, up to entry ``sequence``."""

    client_id: uuid.UUID
    data: dict[str, Any]
    sequence: int
    updated_at: datetime | None
