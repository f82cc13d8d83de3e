"""Conversations and messages: appends keep the conversation's counters exact.

`MessageRepository.append` is one guarded ``UPDATE conversation SET message_count =
message_count + 1, token_count = token_count + :n, … WHERE id = :id AND status <>
'closed' RETURNING …`` followed by the INSERT, in one savepoint. The database does the
arithmetic under its row lock (PostgreSQL) or write lock (SQLite, whose transactions
begin IMMEDIATE), so concurrent writers cannot lose an update; a read-modify-write in
Python was rejected because two writers would both read the same count.

History pages by keyset ``(created_at, id)``, not OFFSET: a page is as cheap at message
10,000 as at message 10 and does not shift when new messages arrive. The cursor is an
opaque string so that its format can change without breaking callers.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from skillstore.db.translate import translated
from skillstore.db.types import utcnow
from skillstore.errors import ConflictError, NotFoundError, ValidationError
from skillstore.models.agent import AgentConfig
from skillstore.models.conversation import (
    Conversation,
    ConversationBase,
    ConversationCreate,
    ConversationRead,
    ConversationStatus,
    ConversationUpdate,
    Message,
    MessageCreate,
    MessagePage,
    MessageRead,
    MessageUpdate,
)
from skillstore.models.tenancy import Team, User
from skillstore.repositories.base import TenantRepository, coerce

_REFRESH = {"synchronize_session": False, "populate_existing": True}


class ConversationRepository(TenantRepository[Conversation, ConversationRead]):
    """Conversations of the session's team."""

    model = Conversation
    read_model = ConversationRead
    base_model = ConversationBase
    create_model = ConversationCreate
    update_model = ConversationUpdate
    references = {"user_id": User, "agent_id": AgentConfig}

    async def close(self, id: uuid.UUID) -> ConversationRead:
        """Close the conversation: it keeps its history and takes no new messages."""
        return await self.update(id, ConversationUpdate(status=ConversationStatus.CLOSED))

    async def purge_older_than(
        self, days: int | None = None, *, now: datetime | None = None
    ) -> int:
        """Delete conversations (and their messages) idle for more than ``days``.

        ``days`` defaults to the team's ``conversation_retention_days``; a team without
        one keeps everything. Idle means no message (or, without messages, no creation)
        since ``now - days``. Returns how many conversations were deleted.
        """
        if days is None:
            stmt = sa.select(col(Team.conversation_retention_days)).where(
                col(Team.id) == self.team_id
            )
            with translated():
                days = (await self._session.execute(stmt)).scalar_one_or_none()
            if days is None:
                return 0
        if days < 1:
            raise ValidationError(f"days must be at least 1, got {days}")
        cutoff = (now or utcnow()) - timedelta(days=days)
        activity = sa.func.coalesce(col(Conversation.last_message_at), col(Conversation.created_at))
        stmt_delete = sa.delete(Conversation).where(*self._scope(), activity < cutoff)
        async with self._write():
            result = await self._session.execute(
                stmt_delete, execution_options={"synchronize_session": False}
            )
        return int(getattr(result, "rowcount", 0))


def encode_cursor(message: MessageRead) -> str:
    """The opaque position just past ``message``."""
    raw = f"{message.created_at.isoformat()}|{message.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Undo `encode_cursor`, or raise `ValidationError`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, ident = raw.partition("|")
        when = datetime.fromisoformat(stamp)
        if when.tzinfo is None:
            raise ValueError("naive")
        return when, uuid.UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError(
            "cursor is not one returned by messages.history(); pass next_cursor unchanged "
            "or omit it for the first page"
        ) from None


class MessageRepository(TenantRepository[Message, MessageRead]):
    """Messages: appended through `append`, paged with `history`, rated with `feedback`."""

    model = Message
    read_model = MessageRead
    base_model = MessageUpdate  # only feedback is ever patched
    create_model = MessageCreate
    update_model = MessageUpdate

    async def create(self, data: Any, **extra: Any) -> MessageRead:
        """Same as ``append(conversation_id, data)``; ``conversation_id`` is required."""
        conversation_id = extra.pop("conversation_id", None)
        if conversation_id is None or extra:
            raise ValidationError(
                "messages belong to a conversation: use messages.append(conversation_id, data)"
            )
        return await self.append(conversation_id, data)

    async def append(self, conversation_id: uuid.UUID, data: Any) -> MessageRead:
        """Add a message and bump the conversation's counters in the same transaction.

        Raises:
            NotFoundError: no such conversation in this team.
            ConflictError: the conversation is closed.
        """
        message = coerce(data, MessageCreate)
        now = utcnow()
        last = col(Conversation.last_message_at)
        counters = (
            sa.update(Conversation)
            .where(
                col(Conversation.id) == conversation_id,
                col(Conversation.team_id) == self.team_id,
                col(Conversation.status) != ConversationStatus.CLOSED,
            )
            .values(
                message_count=col(Conversation.message_count) + 1,
                token_count=col(Conversation.token_count) + message.token_count,
                # A writer that took its timestamp earlier but got the lock later must
                # not move last_message_at backwards.
                last_message_at=sa.case((sa.or_(last.is_(None), last < now), now), else_=last),
            )
            .returning(Conversation)
        )
        async with self._write():
            bumped = (await self._session.execute(counters, execution_options=_REFRESH)).first()
            if bumped is None:
                await self._refuse(conversation_id)
            row = Message.model_validate(
                message,
                update={"conversation_id": conversation_id, "created_at": now, **self._stamp()},
            )
            self._session.add(row)
            await self._session.flush()
        return self._to_read(row)

    async def _refuse(self, conversation_id: uuid.UUID) -> None:
        stmt = sa.select(col(Conversation.status)).where(
            col(Conversation.id) == conversation_id, col(Conversation.team_id) == self.team_id
        )
        status = (await self._session.execute(stmt)).scalar_one_or_none()
        if status is None:
            raise NotFoundError(f"Conversation {conversation_id} not found")
        raise ConflictError(
            f"conversation {conversation_id} is closed and takes no new messages; reopen it "
            "(conversations.update(id, {'status': 'active'})) or start a new conversation"
        )

    async def history(
        self,
        conversation_id: uuid.UUID,
        *,
        limit: int = 50,
        cursor: str | None = None,
        newest_first: bool = True,
    ) -> MessagePage:
        """One page of the conversation's messages; pass ``next_cursor`` for the next."""
        if not 0 < limit <= 1000:
            raise ValidationError("limit must be 1-1000")
        created, ident = col(Message.created_at), col(Message.id)
        stmt = sa.select(Message).where(
            *self._scope(), col(Message.conversation_id) == conversation_id
        )
        if cursor is not None:
            when, last_id = decode_cursor(cursor)
            if newest_first:
                after = sa.or_(created < when, sa.and_(created == when, ident < last_id))
            else:
                after = sa.or_(created > when, sa.and_(created == when, ident > last_id))
            stmt = stmt.where(after)
        order: list[sa.UnaryExpression[Any]] = (
            [created.desc(), ident.desc()] if newest_first else [created.asc(), ident.asc()]
        )
        with translated():
            rows = (await self._session.execute(stmt.order_by(*order).limit(limit + 1))).all()
        items = [self._to_read(row[0]) for row in rows[:limit]]
        more = len(rows) > limit
        return MessagePage(items=items, next_cursor=encode_cursor(items[-1]) if more else None)

    async def feedback(
        self, message_id: uuid.UUID, rating: int, comment: str | None = None
    ) -> MessageRead:
        """Record a reader's 1-5 rating (and optional comment) on a message."""
        return await self.update(
            message_id, MessageUpdate(feedback_rating=rating, feedback_comment=comment)
        )

    async def delete(self, id: uuid.UUID) -> bool:
        """Delete a message and take it off its conversation's counters."""
        stmt = (
            sa.delete(Message)
            .where(col(Message.id) == id, *self._scope())
            .returning(col(Message.conversation_id), col(Message.token_count))
        )
        async with self._write():
            gone = (
                await self._session.execute(stmt, execution_options={"synchronize_session": False})
            ).first()
            if gone is None:
                return False
            counters = (
                sa.update(Conversation)
                .where(col(Conversation.id) == gone[0])
                .values(
                    message_count=col(Conversation.message_count) - 1,
                    token_count=col(Conversation.token_count) - gone[1],
                )
                .returning(Conversation)
            )
            await self._session.execute(counters, execution_options=_REFRESH)
        return True
