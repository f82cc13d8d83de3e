from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from skillstore.db.base import table_of
from skillstore.errors import EmbeddingError, ValidationError
from skillstore.models import Memory, MemoryRead, MemoryTier, MemoryType
from skillstore.store import Store
from skillstore.vector import VectorQuery, backend_for, live_filters, nearest
from skillstore.vector.pgvector import PgVectorBackend, Plan, _statement
from tests.memory_data import (
    clustered,
    dim,
    make_agents,
    make_conversation,
    memory,
    memory_team,
    numpy_top_k,
)

ROWS = 600
AGENTS = [uuid.uuid4(), uuid.uuid4()]
TYPES = [MemoryType.SEMANTIC, MemoryType.EPISODIC]


async def seeded(store: Store) -> tuple[uuid.UUID, list[uuid.UUID], np.ndarray]:
    """A team of ``ROWS`` clustered memories over two agents and two types, next to a
    noisy neighbour team with vectors from the same distribution."""
    team_id, other = await memory_team(store), await memory_team(store)
    vectors = clustered(ROWS, dim(store), seed=11)
    async with store.session(team_id=other) as s:
        await s.memories.add_many([memory(v) for v in clustered(300, dim(store), seed=12)])
    await make_agents(store, team_id, *AGENTS)
    async with store.session(team_id=team_id) as s:
        ids = await s.memories.add_many(
            [
                memory(v, agent_id=AGENTS[i % 2], memory_type=TYPES[(i // 2) % 2])
                for i, v in enumerate(vectors)
            ]
        )
    return team_id, ids, vectors


def queries(store: Store, n: int = 12) -> np.ndarray:
    return clustered(n, dim(store), seed=99, noise=0.6)


def subset(agent: int | None, kind: int | None) -> list[int]:
    return [
        i
        for i in range(ROWS)
        if (agent is None or i % 2 == agent) and (kind is None or (i // 2) % 2 == kind)
    ]


@pytest.mark.parametrize(("agent", "kind"), [(None, None), (0, None), (1, 1)])
async def test_search_is_exactly_numpys_top_k_for_tenant_scoped_sets(
    store: Store, agent: int | None, kind: int | None
) -> None:
    team_id, ids, vectors = await seeded(store)
    rows = subset(agent, kind)
    async with store.session(team_id=team_id) as s:
        for q in queries(store):
            hits = await s.memories.search(
                q,
                k=10,
                agent_id=None if agent is None else AGENTS[agent],
                memory_types=None if kind is None else [TYPES[kind]],
            )
            expected = [ids[rows[i]] for i in numpy_top_k(vectors[rows], q, 10)]
            assert [h.memory.id for h in hits] == expected
            sims = [h.score for h in hits]
            assert sims == sorted(sims, reverse=True) and -1 <= sims[-1] <= sims[0] <= 1


@pytest.mark.parametrize(("agent", "kind"), [(None, None), (0, 1)])
async def test_large_candidate_sets_keep_recall_through_hnsw(
    hnsw_store: Store, agent: int | None, kind: int | None
) -> None:
    store = hnsw_store
    team_id, ids, vectors = await seeded(store)
    rows = subset(agent, kind)
    found = 0
    async with store.session(team_id=team_id) as s:
        if store.dialect == "postgresql":
            await s.execute(sa.text("ANALYZE memory"))  # the planner's statistics
            table = table_of(Memory)
            where = tuple(live_filters(table, team_id=team_id))
            query = VectorQuery(table, table.c.embedding, queries(store)[0], 10, where, 32)
            assert (await PgVectorBackend(store).plan(s._ctx.uow, query))[0] == "hnsw"
        for q in queries(store):
            hits = await s.memories.search(
                q,
                k=10,
                agent_id=None if agent is None else AGENTS[agent],
                memory_types=None if kind is None else [TYPES[kind]],
            )
            assert len(hits) == 10
            expected = {ids[rows[i]] for i in numpy_top_k(vectors[rows], q, 10)}
            found += len(expected & {h.memory.id for h in hits})
    assert found / (10 * len(queries(store))) >= 0.95


async def test_min_similarity_and_k_limit_hits(store: Store) -> None:
    team_id, _, _ = await seeded(store)
    q = queries(store)[0]
    async with store.session(team_id=team_id) as s:
        hits = await s.memories.search(q, k=50)
        cut = hits[20].similarity
        above = await s.memories.search(q, k=50, min_similarity=cut)
        assert [h.memory.id for h in above] == [h.memory.id for h in hits[:21]]
        assert len(await s.memories.search(q, k=3)) == 3
        # k is part of the statement's text: each k has its own, reused on the next call
        assert [len(await s.memories.search(q, k=k)) for k in (3, 7, 3, 7)] == [3, 7, 3, 7]
        with pytest.raises(ValidationError, match="k must be"):
            await s.memories.search(q, k=0)
        with pytest.raises(ValidationError, match="unknown memory type"):
            await s.memories.search(q, memory_types=["dream"])
        with pytest.raises(EmbeddingError, match="dimensions"):
            await s.memories.search([1.0, 2.0])


async def test_search_hits_carry_the_same_memory_as_get(store: Store) -> None:
    team_id = await memory_team(store)
    (agent_id,) = await make_agents(store, team_id)
    conversation_id = await make_conversation(store, team_id)
    v = clustered(2, dim(store))
    async with store.session(team_id=team_id) as s:
        said = await s.messages.append(conversation_id, {"role": "user", "content": "dark"})
        other = await s.memories.add(memory(v[1]))
        added = await s.memories.add(
            memory(
                v[0],
                subject="theme",
                agent_id=agent_id,
                importance=9,
                confidence=0.5,
                is_pinned=True,
                source_type="explicit",
                related_to=[other.id],
                source_message_ids=[said.id],
                metadata={"lang": "en", "n": [1, 2]},
                tier="hot",
                status="disputed",
                expires_at=datetime(2999, 1, 1, 12, 30, 15, 250000, tzinfo=UTC),
            )
        )
        (hit,) = await s.memories.search(v[0], k=1, agent_id=agent_id)
        got = await s.memories.get(added.id)
    assert got is not None and hit.memory == got and hit.memory.model_dump() == got.model_dump()
    assert isinstance(hit.memory, MemoryRead) and hit.memory.tier is MemoryTier.HOT
    assert hit.memory.memory_type is MemoryType.SEMANTIC and hit.memory.is_pinned is True
    assert hit.memory.created_at.tzinfo is not None and hit.memory.related_to == [other.id]


async def test_statements_reused_across_filters_bind_each_calls_values(store: Store) -> None:
    teams = [await memory_team(store), await memory_team(store)]
    v = clustered(4, dim(store))
    ids = []
    for i, team_id in enumerate(teams):
        async with store.session(team_id=team_id) as s:
            ids.append(await s.memories.add_many([memory(v[2 * i]), memory(v[2 * i + 1])]))
    for _ in range(2):  # the second round runs on the statements the first one compiled
        for i, team_id in enumerate(teams):
            async with store.session(team_id=team_id) as s:
                found = {h.memory.id for h in await s.memories.search(v[0], k=10)}
                typed = await s.memories.search(v[0], k=10, memory_types=["episodic"])
            assert found == set(ids[i]) and typed == []


async def test_search_only_compares_vectors_of_the_same_model(store: Store) -> None:
    team_id = await memory_team(store)
    v = clustered(2, dim(store))
    async with store.session(team_id=team_id) as s:
        ours = await s.memories.add(memory(v[0]))
        await s.memories.add(memory(v[0], embedding_model="another-model"))
        assert [h.memory.id for h in await s.memories.search(v[0], k=10)] == [ours.id]


async def test_nearest_serves_any_table_without_a_team(store: Store) -> None:
    team_id, ids, vectors = await seeded(store)
    q = queries(store)[0]
    async with store.session() as s:
        uow, table = s._ctx.uow, table_of(Memory)
        found = await nearest(uow, store, table, q, k=5)
        scoped = await nearest(
            uow, store, table, q, k=5, filters=live_filters(table, team_id=team_id)
        )
    assert len(found) == 5 and [n.id for n in scoped] == [
        ids[i] for i in numpy_top_k(vectors, q, 5)
    ]
    with pytest.raises(ValidationError, match="no column"):
        live_filters(table_of(Memory), equals={"colour": "red"})


def test_backend_for_each_dialect(store: Store) -> None:
    expected = {"sqlite": "sqlite-numpy", "postgresql": "pgvector"}[store.dialect]
    assert backend_for(store).name == expected


@pytest.mark.parametrize("plan", ["exact", "hnsw"])
async def test_postgres_search_sql_writes_k_and_the_searchable_statuses_as_constants(
    store: Store, plan: Plan
) -> None:
    table = table_of(Memory)
    async with store.session(team_id=uuid.uuid4()) as s:
        filters = s.memories._search.live()  # what memories.search filters by
    query = VectorQuery(
        table=table,
        column=table.c.embedding,
        vector=np.ones(4, dtype=np.float32),
        k=7,
        filters=tuple(filters),
        dimensions=4,
    )
    compiled = _statement(query, plan).compile(dialect=postgresql.dialect())  # type: ignore[no-untyped-call]
    values = compiled.construct_params(params={"query_vector": query.vector, **query.params})
    sql = compiled.construct_expanded_state(values).statement
    # bound, these two made PostgreSQL re-plan the prepared search or rebuild an array
    # per candidate row
    assert "LIMIT 7" in sql and "status IN ('active', 'disputed')" in sql
