from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import col

from skillstore.db.types import utcnow
from skillstore.errors import ConflictError, NotFoundError, ValidationError
from skillstore.models import (
    Conversation,
    ConversationRead,
    ConversationStatus,
    Message,
    MessageCreate,
    MessageRole,
    TeamRead,
)
from skillstore.store import Store
from tests.factories import make_agent, make_team


async def new_conversation(store: Store, team: TeamRead, **fields: object) -> ConversationRead:
    if "agent_id" not in fields:
        fields["agent_id"] = (await make_agent(store, team)).id
    data: dict[str, object] = {"user_id": team.owner_id, **fields}
    async with store.session(team_id=team.id) as s:
        return await s.conversations.create(data)


async def count_messages(store: Store, conversation_id: uuid.UUID) -> int:
    async with store.session() as s:
        stmt = sa.select(sa.func.count()).where(col(Message.conversation_id) == conversation_id)
        return int((await s.execute(stmt)).scalar_one())


async def test_append_updates_counters_and_last_message_at(store: Store) -> None:
    team = await make_team(store)
    conv = await new_conversation(store, team, title="Hello")
    assert (conv.message_count, conv.token_count, conv.last_message_at) == (0, 0, None)
    async with store.session(team_id=team.id) as s:
        first = await s.messages.append(
            conv.id, MessageCreate(role=MessageRole.USER, content="hi", token_count=3)
        )
        second = await s.messages.append(
            conv.id,
            {
                "role": "assistant",
                "content": "hello",
                "token_count": 7,
                "tool_calls": [{"name": "x"}],
            },
        )
        fresh = await s.conversations.get(conv.id)
    assert fresh is not None
    assert (fresh.message_count, fresh.token_count) == (2, 10)
    assert fresh.last_message_at == second.created_at >= first.created_at
    assert second.role is MessageRole.ASSISTANT and second.tool_calls == [{"name": "x"}]
    assert second.conversation_id == conv.id and second.team_id == team.id


async def test_append_to_closed_conversation_is_refused_and_stores_nothing(store: Store) -> None:
    team = await make_team(store)
    conv = await new_conversation(store, team)
    async with store.session(team_id=team.id) as s:
        await s.messages.append(conv.id, {"role": "user", "content": "one", "token_count": 1})
        closed = await s.conversations.close(conv.id)
        assert closed.status is ConversationStatus.CLOSED
        with pytest.raises(ConflictError, match="closed") as info:
            await s.messages.append(conv.id, {"role": "user", "content": "two", "token_count": 5})
        assert "start a new conversation" in str(info.value)
        after = await s.conversations.get(conv.id)
    assert after is not None and (after.message_count, after.token_count) == (1, 1)
    assert await count_messages(store, conv.id) == 1


async def test_append_to_another_teams_conversation_is_not_found(store: Store) -> None:
    team, other = await make_team(store), await make_team(store)
    conv = await new_conversation(store, team)
    async with store.session(team_id=other.id) as s:
        with pytest.raises(NotFoundError, match="Conversation"):
            await s.messages.append(conv.id, {"role": "user", "content": "x"})
        assert await s.conversations.get(conv.id) is None
    assert await count_messages(store, conv.id) == 0


async def test_bad_message_input_is_refused(store: Store) -> None:
    team = await make_team(store)
    conv = await new_conversation(store, team)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(ValidationError, match="role"):
            await s.messages.append(conv.id, {"role": "robot", "content": "x"})
        with pytest.raises(ValidationError, match="token_count"):
            await s.messages.append(conv.id, {"role": "user", "content": "x", "token_count": -1})
        with pytest.raises(ValidationError, match="append"):
            await s.messages.create({"role": "user", "content": "x"})
    assert await count_messages(store, conv.id) == 0


async def test_concurrent_appends_keep_exact_counters(committed_store: Store) -> None:
    team = await make_team(committed_store)
    conv = await new_conversation(committed_store, team)

    async def writer(n: int) -> None:
        for i in range(5):
            async with committed_store.session(team_id=team.id) as s:
                await s.messages.append(
                    conv.id, {"role": "user", "content": f"{n}-{i}", "token_count": n + 1}
                )

    await asyncio.gather(*(writer(n) for n in range(8)))
    async with committed_store.session(team_id=team.id) as s:
        fresh = await s.conversations.get(conv.id)
        page = await s.messages.history(conv.id, limit=100)
    assert fresh is not None
    assert fresh.message_count == 40 and len(page.items) == 40
    assert fresh.token_count == sum(5 * (n + 1) for n in range(8))
    assert fresh.last_message_at == max(m.created_at for m in page.items)


async def test_history_pages_by_keyset_in_both_directions(store: Store) -> None:
    team = await make_team(store)
    conv = await new_conversation(store, team)
    async with store.session(team_id=team.id) as s:
        sent = [
            (await s.messages.append(conv.id, {"role": "user", "content": str(i)})).id
            for i in range(7)
        ]
        newest, cursor = [], None
        while True:
            page = await s.messages.history(conv.id, limit=3, cursor=cursor)
            newest += [m.id for m in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        oldest_page = await s.messages.history(conv.id, limit=4, newest_first=False)
        rest = await s.messages.history(
            conv.id, limit=4, newest_first=False, cursor=oldest_page.next_cursor
        )
        with pytest.raises(ValidationError, match="cursor"):
            await s.messages.history(conv.id, cursor="not-a-cursor")
    assert newest == sent[::-1]
    assert [m.id for m in oldest_page.items + rest.items] == sent
    assert rest.next_cursor is None


async def test_feedback_is_stored_and_range_checked(store: Store) -> None:
    team = await make_team(store)
    conv = await new_conversation(store, team)
    async with store.session(team_id=team.id) as s:
        msg = await s.messages.append(conv.id, {"role": "assistant", "content": "answer"})
        rated = await s.messages.feedback(msg.id, 4, "useful")
        assert (rated.feedback_rating, rated.feedback_comment) == (4, "useful")
        with pytest.raises(ValidationError, match="feedback_rating"):
            await s.messages.feedback(msg.id, 6)
        again = await s.messages.get(msg.id)
    assert again is not None and again.feedback_rating == 4 and again.content == "answer"


async def test_deleting_a_message_takes_it_off_the_counters(store: Store) -> None:
    team = await make_team(store)
    conv = await new_conversation(store, team)
    async with store.session(team_id=team.id) as s:
        keep = await s.messages.append(conv.id, {"role": "user", "content": "a", "token_count": 2})
        drop = await s.messages.append(conv.id, {"role": "user", "content": "b", "token_count": 5})
        assert await s.messages.delete(drop.id)
        assert not await s.messages.delete(drop.id)
        fresh = await s.conversations.get(conv.id)
    assert fresh is not None and (fresh.message_count, fresh.token_count) == (1, 2)
    assert await count_messages(store, conv.id) == 1 and keep.id != drop.id


async def test_purge_uses_the_teams_retention(store: Store) -> None:
    team = await make_team(store, conversation_retention_days=30)
    old = await new_conversation(store, team)
    recent = await new_conversation(store, team)
    async with store.session(team_id=team.id) as s:
        await s.messages.append(old.id, {"role": "user", "content": "old"})
        await s.messages.append(recent.id, {"role": "user", "content": "new"})
    async with store.session() as s:
        await s.execute(
            sa.update(Conversation)
            .where(col(Conversation.id) == old.id)
            .values(last_message_at=utcnow() - timedelta(days=31))
        )
    async with store.session(team_id=team.id) as s:
        assert await s.conversations.purge_older_than() == 1
        assert await s.conversations.get(old.id) is None
        assert await s.conversations.get(recent.id) is not None
        with pytest.raises(ValidationError, match="at least 1"):
            await s.conversations.purge_older_than(0)
    assert await count_messages(store, old.id) == 0
    assert await count_messages(store, recent.id) == 1


async def test_purge_without_retention_keeps_everything(store: Store) -> None:
    team = await make_team(store)
    conv = await new_conversation(store, team)
    async with store.session(team_id=team.id) as s:
        assert await s.conversations.purge_older_than() == 0
        assert await s.conversations.purge_older_than(1, now=utcnow() + timedelta(days=2)) == 1
        assert await s.conversations.get(conv.id) is None
