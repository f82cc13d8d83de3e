from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from sqlmodel import col

from skillstore.errors import (
    AppendOnlyError,
    ConflictError,
    NotFoundError,
    SkillstoreError,
    ValidationError,
)
from skillstore.models import Client, ClientProfileEntry, ClientRead, FeedbackEntry
from skillstore.models.client import fold_profile
from skillstore.store import Store
from tests.factories import count_rows, make_agent, make_team, make_user


async def new_client(store: Store, team_id: uuid.UUID, **fields: object) -> ClientRead:
    async with store.session(team_id=team_id) as s:
        return await s.clients.create({"name": "Acme Corp", **fields})


async def test_profile_is_the_fold_of_entries_in_order(store: Store) -> None:
    team = await make_team(store)
    client = await new_client(store, team.id)
    patches: list[dict[str, object]] = [
        {"name": "Ada", "prefs": {"tone": "formal"}, "tier": "gold"},
        {"prefs": {"lang": "de"}},
        {"tier": None, "prefs": {"tone": "casual"}},
    ]
    async with store.session(team_id=team.id) as s:
        for patch in patches:
            await s.clients.append_profile(client.id, patch, source="agent")
        profile = await s.clients.profile(client.id)
        history = await s.clients.profile_history(client.id)
    assert profile.data == {"name": "Ada", "prefs": {"tone": "casual", "lang": "de"}}
    assert profile.sequence == 3 and profile.updated_at == history[-1].created_at
    assert [e.sequence for e in history] == [1, 2, 3]
    assert [e.data for e in history] == patches and {e.source for e in history} == {"agent"}


async def test_empty_profile(store: Store) -> None:
    team = await make_team(store)
    client = await new_client(store, team.id)
    async with store.session(team_id=team.id) as s:
        profile = await s.clients.profile(client.id)
    assert (profile.data, profile.sequence, profile.updated_at) == ({}, 0, None)


def test_fold_replaces_non_objects_and_removes_nulls() -> None:
    assert fold_profile([{"a": {"b": 1}}, {"a": [1, 2]}, {"c": None}]) == {"a": [1, 2]}
    assert fold_profile([{"a": 1}, {"a": {"b": None, "c": 2}}]) == {"a": {"c": 2}}


async def test_profile_entries_cannot_be_updated_or_deleted(store: Store) -> None:
    team = await make_team(store)
    client = await new_client(store, team.id)
    async with store.session(team_id=team.id) as s:
        entry = await s.clients.append_profile(client.id, {"name": "Ada"})
    by_id = col(ClientProfileEntry.id) == entry.id
    attempts: list[sa.Executable] = [
        sa.update(ClientProfileEntry).where(by_id).values(data={"name": "Eve"}),
        sa.delete(ClientProfileEntry).where(by_id),
    ]
    for statement in attempts:
        with pytest.raises(AppendOnlyError, match="client_profile_entry is append-only"):
            async with store.session(team_id=team.id) as s:
                await s.execute(statement)
    async with store.session(team_id=team.id) as s:
        assert await s.clients.profile_history(client.id) == [entry]


async def test_client_with_history_is_archived_not_deleted(store: Store) -> None:
    team = await make_team(store)
    client = await new_client(store, team.id)
    async with store.session(team_id=team.id) as s:
        await s.clients.append_profile(client.id, {"name": "Ada"})
        with pytest.raises(ConflictError, match=r"append-only.*clients\.archive"):
            await s.clients.delete(client.id)
        archived = await s.clients.archive(client.id)
        assert archived.archived_at is not None
        assert (await s.clients.archive(client.id)).archived_at == archived.archived_at
        assert await s.clients.get(client.id) == archived
        assert len(await s.clients.profile_history(client.id)) == 1


async def test_the_database_refuses_deleting_a_client_with_history(store: Store) -> None:
    team = await make_team(store)
    client = await new_client(store, team.id)
    async with store.session(team_id=team.id) as s:
        await s.clients.append_profile(client.id, {"name": "Ada"})
    with pytest.raises(SkillstoreError):
        async with store.session(team_id=team.id) as s:
            await s.execute(sa.delete(Client).where(col(Client.id) == client.id))
    async with store.session(team_id=team.id) as s:
        assert await s.clients.get(client.id) == client


async def test_client_without_history_can_be_deleted(store: Store) -> None:
    team = await make_team(store)
    client = await new_client(store, team.id)
    async with store.session(team_id=team.id) as s:
        assert await s.clients.delete(client.id)
        assert await s.clients.get(client.id) is None


async def test_concurrent_appends_get_distinct_sequences(committed_store: Store) -> None:
    team = await make_team(committed_store)
    client = await new_client(committed_store, team.id)

    async def append(i: int) -> int:
        async with committed_store.session(team_id=team.id) as s:
            return (await s.clients.append_profile(client.id, {f"k{i}": i})).sequence

    sequences = await asyncio.gather(*(append(i) for i in range(8)))
    assert sorted(sequences) == list(range(1, 9))
    async with committed_store.session(team_id=team.id) as s:
        profile = await s.clients.profile(client.id)
    assert profile.data == {f"k{i}": i for i in range(8)}


async def test_profile_of_another_teams_client_is_not_found(store: Store) -> None:
    team, other = await make_team(store), await make_team(store)
    client = await new_client(store, team.id)
    before = await count_rows(store, ClientProfileEntry)
    async with store.session(team_id=other.id) as s:
        assert await s.clients.get(client.id) is None
        with pytest.raises(NotFoundError):
            await s.clients.append_profile(client.id, {"name": "Eve"})
        with pytest.raises(NotFoundError):
            await s.clients.profile(client.id)
    assert await count_rows(store, ClientProfileEntry) == before


async def test_profile_entry_must_be_an_object(store: Store) -> None:
    team = await make_team(store)
    client = await new_client(store, team.id)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(ValidationError, match="data"):
            await s.clients.append_profile(client.id, ["not", "an", "object"])  # type: ignore[arg-type]
        assert await s.clients.profile_history(client.id) == []


async def test_external_id_is_unique_per_team(store: Store) -> None:
    team, other = await make_team(store), await make_team(store)
    await new_client(store, team.id, external_id="crm-1")
    before = await count_rows(store, Client)
    with pytest.raises(ConflictError):
        await new_client(store, team.id, external_id="crm-1")
    assert await count_rows(store, Client) == before
    assert (await new_client(store, other.id, external_id="crm-1")).external_id == "crm-1"


async def test_feedback_on_task_and_message(store: Store) -> None:
    team = await make_team(store)
    author = await make_user(store)
    agent = await make_agent(store, team)
    async with store.session(team_id=team.id) as s:
        conversation = await s.conversations.create({"agent_id": agent.id})
        message = await s.messages.append(conversation.id, {"role": "assistant", "content": "hi"})
        task = await s.tasks.create({"title": "t"})
        on_task = await s.feedback.create(
            {"task_id": task.id, "rating": 5, "comment": "great", "author_id": author.id}
        )
        on_message = await s.feedback.create({"message_id": message.id, "rating": 2})
        assert await s.feedback.average_rating() == 3.5
        assert await s.feedback.average_rating(task_id=task.id) == 5.0
        assert await s.feedback.average_rating(task_id=uuid.uuid4()) is None
        assert await s.tasks.delete(task.id)
        assert await s.feedback.get(on_task.id) is None
        assert await s.feedback.get(on_message.id) == on_message


async def test_bad_feedback_is_refused_and_nothing_stored(store: Store) -> None:
    team = await make_team(store)
    before = await count_rows(store, FeedbackEntry)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(ValidationError, match="task_id or a message_id"):
            await s.feedback.create({"rating": 3})
        for rating in (0, 6):
            with pytest.raises(ValidationError, match="rating"):
                await s.feedback.create({"message_id": uuid.uuid4(), "rating": rating})
        with pytest.raises(NotFoundError, match="task_id"):
            await s.feedback.create({"task_id": uuid.uuid4(), "rating": 3})
        with pytest.raises(NotFoundError, match="message_id"):
            await s.feedback.create({"message_id": uuid.uuid4(), "rating": 3})
    assert await count_rows(store, FeedbackEntry) == before


async def test_deleting_a_team_erases_its_client_history(store: Store) -> None:
    team = await make_team(store)
    client = await new_client(store, team.id)
    async with store.session(team_id=team.id) as s:
        await s.clients.append_profile(client.id, {"name": "Ada"})
    async with store.session() as s:
        assert await s.teams.delete(team.id) is True
    async with store.session(team_id=team.id) as s:
        assert await s.clients.get(client.id) is None
