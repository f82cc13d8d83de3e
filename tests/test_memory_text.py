"""Memories from text: embedding through the store's embedder, on both backends."""

from __future__ import annotations

import pytest

from skillstore import EmbeddingError, HashingEmbedder, Memory, MemoryType, Store
from tests.backends import TEST_DIMENSIONS
from tests.factories import count_rows, make_agent, make_team

FACTS = [
    "Dana prefers to be contacted by email, never by phone",
    "the quarterly invoice for Acme was sent on the first of March",
    "deploys happen on Tuesdays after the standup",
    "Dana's favourite programming language is Rust",
]


async def test_search_text_finds_memories_added_as_text(embedding_store: Store) -> None:
    team = await make_team(embedding_store)
    agent = await make_agent(embedding_store, team)
    async with embedding_store.session(team_id=team.id) as s:
        ids = await s.memories.add_many(
            [{"content": f, "memory_type": "semantic", "agent_id": agent.id} for f in FACTS]
        )
        single = await s.memories.add(
            {"content": "Dana works from Lisbon", "memory_type": MemoryType.EPISODIC}
        )
        hits = await s.memories.search_text("how is Dana contacted", k=2, agent_id=agent.id)
        assert hits[0].memory.id == ids[0]
        hits = await s.memories.search_text("where does Dana work from", k=1)
        assert hits[0].memory.id == single.id
    assert single.embedding_model == HashingEmbedder(TEST_DIMENSIONS).model
    assert embedding_store.settings.embedding_model == single.embedding_model


async def test_text_memories_record_the_embedders_model_not_the_callers(
    embedding_store: Store,
) -> None:
    team = await make_team(embedding_store)
    async with embedding_store.session(team_id=team.id) as s:
        memory = await s.memories.add(
            {"content": "likes tea", "memory_type": "semantic", "embedding_model": "other-model"}
        )
        hits = await s.memories.search_text("tea")
    assert memory.embedding_model == "skillstore-hashing-v1"
    assert [h.memory.id for h in hits] == [memory.id]


async def test_supersede_with_text_embeds_the_new_version(embedding_store: Store) -> None:
    team = await make_team(embedding_store)
    async with embedding_store.session(team_id=team.id) as s:
        old = await s.memories.add({"content": "lives in Paris", "memory_type": "semantic"})
        new = await s.memories.supersede(
            old.id, {"content": "lives in Lyon", "memory_type": "semantic"}, reason="moved"
        )
        hits = await s.memories.search_text("lives in Lyon", k=5)
    assert [h.memory.id for h in hits] == [new.id]


async def test_search_text_without_an_embedder_is_lexical_and_retrieve_text_says_how(
    store: Store,
) -> None:
    team = await make_team(store)
    async with store.session(team_id=team.id) as s:
        assert await s.memories.search_text("anything") == []
        with pytest.raises(EmbeddingError) as caught:
            await s.memories.retrieve_text("anything", context={})
    assert "embedder=HashingEmbedder" in str(caught.value)
    assert "SKILLSTORE_EMBEDDING_API_KEY" in str(caught.value)


async def test_text_without_words_is_refused_and_nothing_is_stored(
    embedding_store: Store,
) -> None:
    team = await make_team(embedding_store)
    before = await count_rows(embedding_store, Memory)
    async with embedding_store.session(team_id=team.id) as s:
        with pytest.raises(EmbeddingError, match="no words"):
            await s.memories.add_many(
                [
                    {"content": "fine", "memory_type": "semantic"},
                    {"content": "...", "memory_type": "semantic"},
                ]
            )
    assert await count_rows(embedding_store, Memory) == before


async def test_an_embedder_of_another_dimension_is_refused_at_open(store: Store) -> None:
    with pytest.raises(EmbeddingError, match=f"store uses {TEST_DIMENSIONS}"):
        Store(store.engine, store.settings, embedder=HashingEmbedder(TEST_DIMENSIONS * 2))
