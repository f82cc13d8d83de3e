from __future__ import annotations

import uuid
from datetime import timedelta

import numpy as np
import pytest

from skillstore.errors import ValidationError
from skillstore.models import RetrievalContext, RetrievalWeights
from skillstore.repositories.retrieval import estimate_tokens
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

SEMANTIC_ONLY = RetrievalWeights(
    semantic=1.0, recency=0.0, importance=0.0, continuity=0.0, relationship=0.0
)


def around(centre: np.ndarray, similarity_rank: int) -> np.ndarray:
    """A vector whose similarity to ``centre`` falls as ``similarity_rank`` grows."""
    rng = np.random.default_rng(similarity_rank)
    return (centre + 0.15 * (similarity_rank + 1) * rng.normal(size=centre.size)).astype(np.float32)


async def test_every_component_and_the_total_follow_the_formula(store: Store) -> None:
    team_id = await memory_team(store)
    user = await make_user(store)
    conversation = await make_conversation(store, team_id)
    q = clustered(1, dim(store))[0]
    async with store.session(team_id=team_id) as s:
        m = await s.memories.add(
            memory(around(q, 0), importance=7, user_id=user.id, source_conversation_id=conversation)
        )
        now = m.created_at + timedelta(hours=store.settings.memory_recency_half_life_hours)
        ctx = RetrievalContext(user_id=user.id, conversation_id=conversation, now=now)
        (scored,) = await s.memories.retrieve(q, context=ctx)
        (other_conversation,) = await s.memories.retrieve(
            q, context={"user_id": user.id, "conversation_id": uuid.uuid4(), "now": now}
        )
    w = RetrievalWeights()
    assert scored.memory.id == m.id
    assert scored.recency == pytest.approx(0.5, abs=1e-3)
    assert scored.importance == pytest.approx(0.7)
    assert scored.continuity == 1.0 and other_conversation.continuity == 0.5
    assert scored.semantic == pytest.approx(scored.similarity) and 0 < scored.similarity < 1
    assert scored.relationship == 0.0
    assert scored.total == pytest.approx(
        w.semantic * scored.semantic
        + w.recency * scored.recency
        + w.importance * scored.importance
        + w.continuity * scored.continuity
    )
    assert scored.tokens == estimate_tokens(m.content)


async def test_pinned_first_then_by_score_with_given_weights(store: Store) -> None:
    team_id = await memory_team(store)
    q = clustered(1, dim(store))[0]
    async with store.session(team_id=team_id) as s:
        near = await s.memories.add(memory(around(q, 0), content="near"))
        middle = await s.memories.add(memory(around(q, 3), content="middle"))
        pinned = await s.memories.add(memory(-q, content="pinned, unrelated", is_pinned=True))
        results = await s.memories.retrieve(q, context={}, weights=SEMANTIC_ONLY)
    assert [r.memory.id for r in results] == [pinned.id, near.id, middle.id]
    assert results[0].semantic == 0.0 and results[1].total > results[2].total


async def test_relationship_pulls_in_memories_linked_to_the_top_hits(store: Store) -> None:
    team_id = await memory_team(store)
    q = clustered(1, dim(store))[0]
    crowd = store.settings.memory_retrieval_candidates + 10
    async with store.session(team_id=team_id) as s:
        await s.memories.add_many([memory(around(q, 1 + i % 5)) for i in range(crowd)])
        far = await s.memories.add(memory(-q, content="linked but dissimilar"))
        hit = await s.memories.add(memory(around(q, 0), content="hit", related_to=[far.id]))
        assert far.id not in {h.memory.id for h in await s.memories.search(q, k=crowd)}
        results = await s.memories.retrieve(q, context={}, token_budget=100_000)
    by_id = {r.memory.id: r for r in results}
    assert by_id[far.id].relationship == 1.0 and by_id[hit.id].relationship == 0.0
    assert by_id[far.id].similarity < 0


async def test_token_budget_packs_greedily_in_score_order(store: Store) -> None:
    team_id = await memory_team(store)
    q = clustered(1, dim(store))[0]
    async with store.session(team_id=team_id) as s:
        best = await s.memories.add(memory(around(q, 0), content="a" * 40))  # 10 tokens
        await s.memories.add(memory(around(q, 2), content="b" * 80))  # 20 tokens
        small = await s.memories.add(memory(around(q, 4), content="c" * 8))  # 2 tokens
        packed = await s.memories.retrieve(q, context={}, weights=SEMANTIC_ONLY, token_budget=25)
        everything = await s.memories.retrieve(q, context={}, weights=SEMANTIC_ONLY)
        with pytest.raises(ValidationError, match="token_budget"):
            await s.memories.retrieve(q, context={}, token_budget=0)
    assert [r.memory.id for r in packed] == [best.id, small.id]
    assert sum(r.tokens for r in packed) <= 25 and len(everything) == 3


async def test_retrieval_sees_only_this_agents_and_users_memories(store: Store) -> None:
    team_id = await memory_team(store)
    me, someone = await make_user(store), await make_user(store)
    agent, other_agent = await make_agents(store, team_id, uuid.uuid4(), uuid.uuid4())
    q = clustered(1, dim(store))[0]
    async with store.session(team_id=team_id) as s:
        mine = await s.memories.add(memory(around(q, 0), agent_id=agent, user_id=me.id))
        shared = await s.memories.add(memory(around(q, 1)))
        await s.memories.add(memory(around(q, 0), agent_id=other_agent))
        await s.memories.add(memory(around(q, 0), user_id=someone.id))
        results = await s.memories.retrieve(q, context={"agent_id": agent, "user_id": me.id})
    assert {r.memory.id for r in results} == {mine.id, shared.id}


async def test_weights_and_budget_default_to_the_agents_memory_config(store: Store) -> None:
    team_id = await memory_team(store)
    (agent,) = await make_agents(store, team_id)
    q = clustered(1, dim(store))[0]
    async with store.session(team_id=team_id) as s:
        await s.agents.update(
            agent,
            {"memory": {"retrieval_weights": SEMANTIC_ONLY.model_dump(), "token_budget": 100}},
        )
        for rank in range(3):
            await s.memories.add(memory(around(q, rank), agent_id=agent, content="x" * 160))
        results = await s.memories.retrieve(q, context={"agent_id": agent})
        seed_defaults = await s.memories.retrieve(q, context={})
    assert len(results) == 2  # 40 tokens each within the agent's budget of 100
    assert all(r.total == pytest.approx(r.semantic) for r in results)
    assert len(seed_defaults) == 3
    assert any(r.total != pytest.approx(r.semantic) for r in seed_defaults)
