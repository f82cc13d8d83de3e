from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from sqlmodel import col

from skillstore.errors import (
    AppendOnlyError,
    EmbeddingError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from skillstore.models import (
    Memory,
    MemoryAction,
    MemoryCreate,
    MemoryLog,
    MemoryStatus,
    MemoryTier,
)
from skillstore.store import Store
from tests.factories import make_user
from tests.memory_data import (
    clustered,
    dim,
    make_agents,
    make_conversation,
    memory,
    memory_team,
)


async def count(store: Store, model: type[Memory] | type[MemoryLog]) -> int:
    async with store.session() as s:
        return int((await s.execute(sa.select(sa.func.count()).select_from(model))).scalar_one())


async def test_add_stores_every_field_and_logs_creation(store: Store) -> None:
    team_id = await memory_team(store)
    user = await make_user(store)
    (agent_id,) = await make_agents(store, team_id)
    conversation_id = await make_conversation(store, team_id)
    vector = clustered(1, dim(store))[0]
    async with store.session(team_id=team_id) as s:
        added = await s.memories.add(
            memory(
                vector,
                content="prefers dark mode",
                subject="user.preference.theme",
                agent_id=agent_id,
                user_id=user.id,
                importance=8,
                confidence=0.75,
                source_type="explicit",
                source_conversation_id=conversation_id,
                metadata={"lang": "en"},
                tier="hot",
            )
        )
        history = await s.memories.history(added.id)
    assert (added.team_id, added.agent_id, added.user_id) == (team_id, agent_id, user.id)
    assert (added.importance, added.confidence, added.tier) == (8, 0.75, MemoryTier.HOT)
    assert added.metadata == {"lang": "en"} and added.version == 1
    assert added.embedding_model == store.settings.embedding_model
    assert "embedding" not in added.model_dump()
    assert [(h.action, h.new_content, h.changed_by) for h in history] == [
        (MemoryAction.CREATED, "prefers dark mode", "explicit")
    ]


@pytest.mark.parametrize(
    ("fields", "error", "says"),
    [
        ({"embedding": [0.1] * 5}, EmbeddingError, "dimensions"),
        ({"embedding": [math.nan] * 32}, EmbeddingError, "NaN"),
        ({"embedding": [math.inf] * 32}, EmbeddingError, "NaN"),
        ({"embedding": [0.0] * 32}, EmbeddingError, "zeros"),
        ({"importance": 0}, ValidationError, "importance"),
        ({"importance": 11}, ValidationError, "importance"),
        ({"confidence": 1.5}, ValidationError, "confidence"),
        ({"memory_type": "dream"}, ValidationError, "memory_type"),
    ],
)
async def test_bad_memory_is_refused_with_a_clear_error_and_nothing_stored(
    store: Store, fields: dict[str, object], error: type[Exception], says: str
) -> None:
    team_id = await memory_team(store)
    data: dict[str, object] = {"content": "x", "memory_type": "semantic", "embedding": [0.1] * 32}
    data.update(fields)
    before = (await count(store, Memory), await count(store, MemoryLog))
    async with store.session(team_id=team_id) as s:
        with pytest.raises(error, match=says):
            await s.memories.add(data)
        with pytest.raises(error, match=says):
            await s.memories.add_many([data])
    assert (await count(store, Memory), await count(store, MemoryLog)) == before


async def test_check_constraints_refuse_raw_out_of_range_writes(store: Store) -> None:
    team_id = await memory_team(store)
    async with store.session(team_id=team_id) as s:
        added = await s.memories.add(memory(clustered(1, dim(store))[0]))
    for values in ({"importance": 11}, {"confidence": 1.5}, {"access_count": -1}):
        with pytest.raises(ValidationError, match=r"range|positive"):
            async with store.session() as s:
                await s.execute(sa.update(Memory).where(col(Memory.id) == added.id).values(values))


async def test_add_many_stores_all_with_logs_and_is_all_or_nothing(store: Store) -> None:
    team_id = await memory_team(store)
    vectors = clustered(5, dim(store))
    async with store.session(team_id=team_id) as s:
        ids = await s.memories.add_many(
            [memory(v, content=f"m{i}", metadata={"i": i}) for i, v in enumerate(vectors)]
        )
        assert await s.memories.count() == 5
        first = await s.memories.get(ids[0])
        assert first is not None and first.content == "m0" and first.metadata == {"i": 0}
        assert [h.action for h in await s.memories.history(ids[4])] == [MemoryAction.CREATED]
        hits = await s.memories.search(vectors[3], k=1)
        assert hits[0].memory.id == ids[3] and hits[0].similarity == pytest.approx(1, abs=1e-5)
    before = await count(store, Memory)
    async with store.session(team_id=team_id) as s:
        with pytest.raises(NotFoundError, match="user_id"):
            await s.memories.add_many(
                [memory(vectors[0]), memory(vectors[1], user_id=uuid.uuid4())]
            )
    assert await count(store, Memory) == before


async def test_add_many_stores_every_field_exactly_as_add_does(store: Store) -> None:
    team_id = await memory_team(store)
    user = await make_user(store)
    (agent_id,) = await make_agents(store, team_id)
    conversation_id = await make_conversation(store, team_id)
    vectors = clustered(3, dim(store))
    async with store.session(team_id=team_id) as s:
        linked = await s.memories.add(memory(vectors[0]))
        said = [
            (await s.messages.append(conversation_id, {"role": "user", "content": text})).id
            for text in ("I like dark mode", "always")
        ]
        fields = {
            "content": "prefers dark mode ✓",
            "subject": "user.preference.theme",
            "agent_id": agent_id,
            "user_id": user.id,
            "importance": 8,
            "confidence": 0.75,
            "is_pinned": True,
            "source_type": "explicit",
            "source_conversation_id": conversation_id,
            "source_message_ids": said,
            "extraction_model": "extractor-1",
            "related_to": [linked.id],
            "metadata": {"lang": "en", "tags": [1, 2]},
            "tier": "hot",
            "status": "disputed",
            "expires_at": datetime(2999, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        }
        one = await s.memories.add(memory(vectors[1], **fields))
        (many_id,) = await s.memories.add_many([memory(vectors[1], **fields)])
        many = await s.memories.get(many_id)
        with pytest.raises(EmbeddingError, match="no search could ever find it"):
            await s.memories.add_many([{"content": "no vector", "memory_type": "shared"}])
        history = await s.memories.history(many_id)
    server_managed = {"id", "created_at", "updated_at"}
    assert many is not None and many.model_dump(exclude=server_managed) == one.model_dump(
        exclude=server_managed
    )
    assert [(h.action, h.new_content, h.new_importance, h.changed_by) for h in history] == [
        (MemoryAction.CREATED, "prefers dark mode ✓", 8, "explicit")
    ]


async def test_add_many_refuses_a_bad_vector_in_a_later_chunk_and_stores_nothing(
    store: Store,
) -> None:
    team_id = await memory_team(store)
    vectors = clustered(300, dim(store))
    items = [memory(v) for v in vectors]
    items[280] = MemoryCreate.model_validate(
        {"content": "bad", "memory_type": "semantic", "embedding": [math.nan] * dim(store)}
    )
    before = (await count(store, Memory), await count(store, MemoryLog))
    async with store.session(team_id=team_id) as s:
        with pytest.raises(EmbeddingError, match="item 280"):
            await s.memories.add_many(items)
        assert await s.memories.count() == 0
        assert len(await s.memories.add_many(items[:3])) == 3  # the session is still usable
    assert (await count(store, Memory), await count(store, MemoryLog)) == (
        before[0] + 3,
        before[1] + 3,
    )


async def test_another_teams_memory_is_invisible_and_cannot_be_superseded(store: Store) -> None:
    mine, theirs = await memory_team(store), await memory_team(store)
    vector = clustered(1, dim(store))[0]
    async with store.session(team_id=theirs) as s:
        other = await s.memories.add(memory(vector, content="theirs"))
    before = (await count(store, Memory), await count(store, MemoryLog))
    async with store.session(team_id=mine) as s:
        assert await s.memories.get(other.id) is None
        assert await s.memories.search(vector) == []
        with pytest.raises(NotFoundError, match=str(other.id)):
            await s.memories.supersede(other.id, memory(vector), reason="steal")
        with pytest.raises(NotFoundError):
            await s.memories.add(memory(vector, related_to=[other.id]))
    assert (await count(store, Memory), await count(store, MemoryLog)) == before


async def test_supersede_makes_a_new_version_and_logs_both(store: Store) -> None:
    team_id = await memory_team(store)
    v = clustered(2, dim(store))
    async with store.session(team_id=team_id) as s:
        old = await s.memories.add(memory(v[0], content="lives in Paris", importance=4))
        new = await s.memories.supersede(
            old.id, memory(v[1], content="lives in Lyon", importance=6), reason="moved"
        )
        stale = await s.memories.get(old.id)
        assert stale is not None and stale.status is MemoryStatus.SUPERSEDED
        assert stale.superseded_by == new.id and new.version == old.version + 1
        assert [h.memory.id for h in await s.memories.search(v[0], k=5)] == [new.id]
        old_log, new_log = await s.memories.history(old.id), await s.memories.history(new.id)
        with pytest.raises(InvalidTransitionError, match="superseded"):
            await s.memories.supersede(old.id, memory(v[1]), reason="again")
    assert [h.action for h in old_log] == [MemoryAction.CREATED, MemoryAction.SUPERSEDED]
    assert (old_log[1].old_content, old_log[1].new_content) == ("lives in Paris", "lives in Lyon")
    assert old_log[1].reason == "moved"
    assert [(h.action, h.reason) for h in new_log] == [(MemoryAction.CREATED, "moved")]


async def test_updates_tier_and_status_changes_are_logged(store: Store) -> None:
    team_id = await memory_team(store)
    async with store.session(team_id=team_id) as s:
        m = await s.memories.add(memory(clustered(1, dim(store))[0], content="a", importance=3))
        await s.memories.update(m.id, {"content": "b", "importance": 9}, reason="fix")
        await s.memories.set_tier(m.id, "hot")
        await s.memories.set_tier(m.id, MemoryTier.COLD)
        archived = await s.memories.set_status(m.id, "archived")
        with pytest.raises(InvalidTransitionError, match="supersede"):
            await s.memories.set_status(m.id, "superseded")
        log = await s.memories.history(m.id)
    assert archived.version == 5
    assert [h.action for h in log] == [
        MemoryAction.CREATED,
        MemoryAction.UPDATED,
        MemoryAction.PROMOTED,
        MemoryAction.DEMOTED,
        MemoryAction.STATUS_CHANGED,
    ]
    assert (log[1].old_content, log[1].new_content, log[1].old_importance) == ("a", "b", 3)
    assert log[4].details == {"status": "archived"}


async def test_mark_contradiction_disputes_the_other_memory(store: Store) -> None:
    team_id = await memory_team(store)
    v = clustered(2, dim(store))
    async with store.session(team_id=team_id) as s:
        a = await s.memories.add(memory(v[0], content="likes tea"))
        b = await s.memories.add(memory(v[1], content="hates tea"))
        marked = await s.memories.mark_contradiction(a.id, b.id, reason="user said so")
        disputed = await s.memories.get(b.id)
        with pytest.raises(ValidationError, match="itself"):
            await s.memories.mark_contradiction(a.id, a.id)
        a_log, b_log = await s.memories.history(a.id), await s.memories.history(b.id)
    assert marked.contradicts == [b.id]
    assert disputed is not None and disputed.status is MemoryStatus.DISPUTED
    assert a_log[-1].action is MemoryAction.CONTRADICTED
    assert b_log[-1].action is MemoryAction.STATUS_CHANGED


async def test_delete_keeps_history_and_log_rows_cannot_be_changed(store: Store) -> None:
    team_id = await memory_team(store)
    async with store.session(team_id=team_id) as s:
        m = await s.memories.add(memory(clustered(1, dim(store))[0], content="gone soon"))
        assert await s.memories.delete(m.id)
        assert not await s.memories.delete(m.id)
        log = await s.memories.history(m.id)
    assert [(h.action, h.old_content) for h in log] == [
        (MemoryAction.CREATED, None),
        (MemoryAction.DELETED, "gone soon"),
    ]
    table = MemoryLog.__table__  # type: ignore[attr-defined]
    for statement in (
        sa.update(table).where(table.c.memory_id == m.id).values(reason="rewritten"),
        sa.delete(table).where(table.c.memory_id == m.id),
    ):
        with pytest.raises(AppendOnlyError, match="append-only"):
            async with store.session() as s:
                await s.execute(statement)
    async with store.session(team_id=team_id) as s:
        assert len(await s.memories.history(m.id)) == 2


async def test_tags_add_remove_and_find(store: Store) -> None:
    team_id = await memory_team(store)
    v = clustered(2, dim(store))
    async with store.session(team_id=team_id) as s:
        a = await s.memories.add(memory(v[0], content="a"))
        b = await s.memories.add(memory(v[1], content="b"))
        assert await s.memories.add_tags(a.id, "Billing", "vip", "billing") == ["billing", "vip"]
        assert await s.memories.add_tags(b.id, "billing") == ["billing"]
        assert await s.memories.add_tags(a.id, "vip") == ["billing", "vip"]
        assert {m.id for m in await s.memories.find_by_tag("BILLING")} == {a.id, b.id}
        assert await s.memories.remove_tags(a.id, "billing", "absent") == ["vip"]
        assert [m.id for m in await s.memories.find_by_tag("billing")] == [b.id]
        with pytest.raises(ValidationError, match="tag"):
            await s.memories.add_tags(a.id, "x" * 101)
        with pytest.raises(NotFoundError):
            await s.memories.add_tags(uuid.uuid4(), "vip")


async def test_touch_counts_access_in_one_statement_without_new_version(store: Store) -> None:
    team_id = await memory_team(store)
    v = clustered(2, dim(store))
    async with store.session(team_id=team_id) as s:
        a = await s.memories.add(memory(v[0]))
        b = await s.memories.add(memory(v[1]))
        assert await s.memories.touch([a.id, b.id, uuid.uuid4()]) == 2
        assert await s.memories.touch([a.id]) == 1
        touched = await s.memories.get(a.id)
    assert touched is not None and touched.access_count == 2
    assert touched.last_accessed_at is not None and touched.last_accessed_at >= a.created_at
    assert touched.version == a.version and touched.updated_at == a.updated_at


async def test_expired_memories_are_not_searched_and_are_purged_with_a_log(store: Store) -> None:
    team_id = await memory_team(store)
    v = clustered(2, dim(store))
    past = datetime.now(UTC) - timedelta(minutes=1)
    future = datetime.now(UTC) + timedelta(days=1)
    async with store.session(team_id=team_id) as s:
        old = await s.memories.add(memory(v[0], expires_at=past))
        live = await s.memories.add(memory(v[0], expires_at=future))
        await s.memories.add(memory(v[1]))
        assert [h.memory.id for h in await s.memories.search(v[0], k=1)] == [live.id]
        assert await s.memories.purge_expired() == 1
        assert await s.memories.get(old.id) is None and await s.memories.count() == 2
        assert [h.action for h in await s.memories.history(old.id)][-1] is MemoryAction.EXPIRED


async def test_dedup_returns_the_existing_near_duplicate(store: Store) -> None:
    team_id = await memory_team(store)
    base = clustered(1, dim(store))[0]
    near = base + np.float32(0.001)
    async with store.session(team_id=team_id) as s:
        first = await s.memories.add(memory(base, content="original"))
        again = await s.memories.add(memory(near, content="duplicate"), deduplicate=0.99)
        assert again.id == first.id and await s.memories.count() == 1
        similar = await s.memories.find_similar(near)
        assert [h.memory.id for h in similar] == [first.id]
        other_type = await s.memories.add(
            memory(near, memory_type="episodic", content="other type"), deduplicate=0.99
        )
        assert other_type.id != first.id


def test_memory_create_model_validates_before_any_io() -> None:
    with pytest.raises(ValidationError, match="importance"):
        MemoryCreate(content="x", memory_type="semantic", importance=11)  # type: ignore[arg-type]
    assert "embedding=" not in repr(memory([1.0, 2.0]))
