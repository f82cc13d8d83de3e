"""Conversations and their messages (seed 003).

A conversation's ``message_count``, ``token_count`` and ``last_message_at`` are
server-managed: `MessageRepository.append` changes them in the same statement that checks
the conversation is open, so they stay exact under concurrent writers. They are therefore
on the table and the Read model only, never on Create or Update.

``message`` carries ``team_id`` although its conversation already has one: it lets the
tenant repository filter messages with the same single predicate as every other table,
instead of joining on every read.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from skillstore.db.base import CreatedAtMixin, IdMixin, Schema, TeamScopedMixin, TimestampMixin
from skillstore.db.types import JSON, UTCDateTime, enum_type


class ConversationStatus(enum.StrEnum):
    """Whether a conversation takes new messages (``closed`` does not)."""

    ACTIVE = "active"
    IDLE = "idle"
    CLOSED = "closed"


class MessageRole(enum.StrEnum):
    """Who wrote a message."""

    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    TOOL = "tool"


# Fields a caller may set on a conversation.
class ConversationBase(Schema):
    agent_id: uuid.UUID = Field(foreign_key="agent_config.id", ondelete="CASCADE", index=True)
    user_id: uuid.UUID | None = Field(
        default=None, foreign_key="user.id", ondelete="CASCADE", index=True
    )
    title: str | None = Field(default=None, max_length=500)
    status: ConversationStatus = Field(
        default=ConversationStatus.ACTIVE,
        sa_type=enum_type(ConversationStatus, "conversation_status"),
    )


# The table: + the team and the counters that only `messages.append` changes.
class Conversation(TimestampMixin, ConversationBase, TeamScopedMixin, IdMixin, table=True):
    __table_args__ = (
        sa.CheckConstraint("message_count >= 0", name="message_count_not_negative"),
        sa.CheckConstraint("token_count >= 0", name="token_count_not_negative"),
    )

    message_count: int = Field(default=0, ge=0, sa_column_kwargs={"server_default": "0"})
    token_count: int = Field(default=0, ge=0, sa_column_kwargs={"server_default": "0"})
    last_message_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


# Input.
class ConversationCreate(ConversationBase):
    id: uuid.UUID | None = None
    """A caller-chosen id (rows synced from elsewhere keep theirs); a new one if None."""


# Output: + counters and timestamps.
class ConversationRead(ConversationBase):
    id: uuid.UUID
    team_id: uuid.UUID
    message_count: int
    token_count: int
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime | None


# Patch: the title and the status; counters are never patched.
class ConversationUpdate(Schema):
    title: str | None = Field(default=None, max_length=500)
    status: ConversationStatus | None = None


# Fields a caller may set on a message.
class MessageBase(Schema):
    role: MessageRole = Field(sa_type=enum_type(MessageRole, "message_role"))
    content: str = Field(sa_type=sa.Text)
    tool_calls: list[dict[str, Any]] | None = Field(default=None, sa_type=JSON)
    token_count: int = Field(default=0, ge=0, le=10_000_000)


# The table: + the conversation, the team and the (1-5) feedback a reader gave.
class Message(CreatedAtMixin, MessageBase, TeamScopedMixin, IdMixin, table=True):
    __table_args__ = (
        sa.Index("ix_message_conversation_id_created_at", "conversation_id", "created_at", "id"),
        sa.CheckConstraint("token_count >= 0", name="token_count_not_negative"),
        sa.CheckConstraint(
            "feedback_rating IS NULL OR feedback_rating BETWEEN 1 AND 5",
            name="feedback_rating_range",
        ),
    )

    conversation_id: uuid.UUID = Field(foreign_key="conversation.id", ondelete="CASCADE")
    feedback_rating: int | None = Field(default=None, ge=1, le=5)
    feedback_comment: str | None = Field(default=None, max_length=4000)


# Input: `messages.append(conversation_id, MessageCreate(...))`.
class MessageCreate(MessageBase):
    pass


# Output.
class MessageRead(MessageBase):
    id: uuid.UUID
    team_id: uuid.UUID
    conversation_id: uuid.UUID
    feedback_rating: int | None
    feedback_comment: str | None
    created_at: datetime


# Patch: only feedback; a message's content is history and is not edited.
class MessageUpdate(Schema):
    feedback_rating: int | None = Field(default=None, ge=1, le=5)
    feedback_comment: str | None = Field(default=None, max_length=4000)


# One page of a conversation's history and the cursor of the next page.
class MessagePage(Schema):
    items: list[MessageRead]
    next_cursor: str | None = None
