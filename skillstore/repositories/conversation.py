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
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from skillstore.db.base import table_of
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

_CONVERSATION = table_of(Conversation)


class ConversationRepository(
    TenantRepository[Conversation, ConversationCreate, ConversationUpdate, ConversationRead]
):
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
            team = table_of(Team)

            def retention() -> sa.Executable:
                return sa.select(team.c.conversation_retention_days).where(
                    team.c.id == sa.bindparam("team_id")
                )

            days = await self._uow.scalar(self._statement("retention", retention), self._params())
            if days is None:
                return 0
        if days < 1:
            raise ValidationError(f"days must be at least 1, got {days}")
        cutoff = (now or utcnow()) - timedelta(days=days)
        table = self.table

        def build() -> sa.Executable:
            activity = sa.func.coalesce(table.c.last_message_at, table.c.created_at)
            cut = sa.bindparam("cutoff", type_=table.c.created_at.type)
            return sa.delete(table).where(*self._scope(), activity < cut).returning(table.c.id)

        rows = await self._uow.rows(self._statement("purge", build), self._params(cutoff=cutoff))
        return len(rows)


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


class MessageRepository(TenantRepository[Message, MessageCreate, MessageUpdate, MessageRead]):
    """Messages: appended through `append`, paged with `history`, rated with `feedback`."""

    model = Message
    read_model = MessageRead
    base_model = MessageUpdate  # only feedback is ever patched
    create_model = MessageCreate
    update_model = MessageUpdate

    async def create(self, data: MessageCreate | Mapping[str, Any]) -> MessageRead:
        """Refused: a message belongs to a conversation (use ``append``)."""
        raise ValidationError(
            "messages belong to a conversation: use messages.append(conversation_id, data)"
        )

    async def append(
        self, conversation_id: uuid.UUID, data: MessageCreate | Mapping[str, Any]
    ) -> MessageRead:
        """Add a message and bump the conversation's counters in the same transaction.

        Raises:
            NotFoundError: no such conversation in this team.
            ConflictError: the conversation is closed.
        """
        message = coerce(data, MessageCreate)
        now = utcnow()
        bumped = await self._uow.one(
            self._statement("bump", _bump_counters),
            self._params(conversation=conversation_id, tokens=message.token_count, now=now),
        )
        if bumped is None:
            await self._refuse(conversation_id)
        values = await self._insert(
            message, {"conversation_id": conversation_id, "created_at": now}
        )
        return self._read_of(values)

    async def _refuse(self, conversation_id: uuid.UUID) -> None:
        def build() -> sa.Executable:
            return sa.select(_CONVERSATION.c.status).where(
                _CONVERSATION.c.id == sa.bindparam("conversation"),
                _CONVERSATION.c.team_id == sa.bindparam("team_id"),
            )

        status = await self._uow.scalar(
            self._statement("status", build), self._params(conversation=conversation_id)
        )
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
        params = self._params(conversation=conversation_id, limit=limit + 1)
        if cursor is not None:
            params["when"], params["last_id"] = decode_cursor(cursor)
        shape = (cursor is not None, newest_first)
        prepared = self._statement("history", lambda: self._history(*shape), *shape)
        rows = await self._uow.rows(prepared, params)
        items = self._reads(prepared, rows[:limit])
        more = len(rows) > limit
        return MessagePage(items=items, next_cursor=encode_cursor(items[-1]) if more else None)

    def _history(self, paged: bool, newest_first: bool) -> sa.Executable:
        table = self.table
        created, ident = table.c.created_at, table.c.id
        where = [*self._scope(), table.c.conversation_id == sa.bindparam("conversation")]
        if paged:
            when = sa.bindparam("when", type_=created.type)
            last = sa.bindparam("last_id", type_=ident.type)
            if newest_first:
                where.append(sa.or_(created < when, sa.and_(created == when, ident < last)))
            else:
                where.append(sa.or_(created > when, sa.and_(created == when, ident > last)))
        order = [created.desc(), ident.desc()] if newest_first else [created.asc(), ident.asc()]
        query = sa.select(*self._read_columns()).where(*where).order_by(*order)
        return query.limit(sa.bindparam("limit"))

    async def feedback(
        self, message_id: uuid.UUID, rating: int, comment: str | None = None
    ) -> MessageRead:
        """Record a reader's 1-5 rating (and optional comment) on a message."""
        return await self.update(
            message_id, MessageUpdate(feedback_rating=rating, feedback_comment=comment)
        )

    async def delete(self, id: uuid.UUID) -> bool:
        """Delete a message and take it off its conversation's counters."""
        table = self.table

        def gone() -> sa.Executable:
            where = [table.c.id == sa.bindparam("id"), *self._scope()]
            return (
                sa.delete(table)
                .where(*where)
                .returning(table.c.conversation_id, table.c.token_count)
            )

        removed = await self._uow.one(self._statement("delete", gone), self._params(id=id))
        if removed is None:
            return False

        def counters() -> sa.Executable:
            c = _CONVERSATION.c
            return (
                sa.update(_CONVERSATION)
                .where(c.id == sa.bindparam("conversation"))
                .values(
                    message_count=c.message_count - 1,
                    token_count=c.token_count - sa.bindparam("tokens", type_=sa.Integer()),
                    updated_at=sa.bindparam("now", type_=c.updated_at.type),
                )
                .returning(c.id)
            )

        await self._uow.rows(
            self._statement("uncount", counters),
            {"conversation": removed[0], "tokens": removed[1], "now": utcnow()},
        )
        return True


def _bump_counters() -> sa.Executable:
    c = _CONVERSATION.c
    now = sa.bindparam("now", type_=c.last_message_at.type)
    return (
        sa.update(_CONVERSATION)
        .where(
            c.id == sa.bindparam("conversation"),
            c.team_id == sa.bindparam("team_id"),
            c.status != ConversationStatus.CLOSED,
        )
        .values(
            message_count=c.message_count + 1,
            token_count=c.token_count + sa.bindparam("tokens", type_=sa.Integer()),
            # A writer that took its timestamp earlier but got the lock later must not
            # move last_message_at backwards.
            last_message_at=sa.case(
                (sa.or_(c.last_message_at.is_(None), c.last_message_at < now), now),
                else_=c.last_message_at,
            ),
            updated_at=now,
        )
        .returning(c.id)
    )
