"""Search stays exact across every way of answering it and every change to the rows.

SQLite answers from vectors kept in memory, with sqlite-vec, or by scanning blobs
(`skillstore.vector.sqlite`); these tests hold each path to numpy's ranking and make
sure no write (through the repositories, raw SQL, or another engine) and no passing
of time is missed by the vectors kept in memory. They run on PostgreSQL too, where the
same sequences must give the same answers.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from skillstore.db.base import table_of
from skillstore.errors import EmbeddingError
from skillstore.models import Memory, MemoryStatus, MemoryUpdate
from skillstore.store import Store
from skillstore.vector import nearest, sqlite_vec
from skillstore.vector.sqlite_cache import Entry, VectorCache, cache_for
from tests.backends import TEST_DIMENSIONS, Backend, store_settings
from tests.memory_data import clustered, dim, memory, memory_team, numpy_top_k

K = 5


class Live:
    """The team's live memories as the test knows them, and numpy's answer over them."""

    def __init__(self) -> None:
        self.vectors: dict[uuid.UUID, np.ndarray] = {}

    def expected(self, q: np.ndarray, k: int = K) -> list[uuid.UUID]:
        ids = list(self.vectors)
        matrix = np.stack([self.vectors[i] for i in ids])
        return [ids[i] for i in numpy_top_k(matrix, q, k)]


async def found(store: Store, team_id: uuid.UUID, q: np.ndarray, **filters: Any) -> list[Any]:
    async with store.session(team_id=team_id) as s:
        return [h.memory.id for h in await s.memories.search(q, k=K, **filters)]


async def seeded(store: Store, n: int = 40) -> tuple[uuid.UUID, Live]:
    team_id, live = await memory_team(store), Live()
    vectors = clustered(n, dim(store), seed=5)
    async with store.session(team_id=team_id) as s:
        ids = await s.memories.add_many([memory(v) for v in vectors])
    live.vectors.update(zip(ids, vectors, strict=True))
    return team_id, live


async def test_search_follows_every_change_made_after_an_earlier_search(store: Store) -> None:
    team_id, live = await seeded(store)
    q = clustered(1, dim(store), seed=77)[0]
    assert await found(store, team_id, q) == live.expected(q)
    assert await found(store, team_id, q) == live.expected(q)  # answered again, unchanged

    async with store.session(team_id=team_id) as s:
        added = await s.memories.add(memory(q))
    live.vectors[added.id] = q
    assert (await found(store, team_id, q))[0] == added.id

    moved, far = live.expected(q)[1], -q
    async with store.session(team_id=team_id) as s:
        await s.memories.update(moved, MemoryUpdate(embedding=[float(x) for x in far]))
    live.vectors[moved] = far
    assert await found(store, team_id, q) == live.expected(q)

    async with store.session(team_id=team_id) as s:
        await s.memories.set_status(added.id, MemoryStatus.ARCHIVED)
        deleted = live.expected(q)[1]
        await s.memories.delete(deleted)
    del live.vectors[added.id], live.vectors[deleted]
    assert await found(store, team_id, q) == live.expected(q)

    old, newer = live.expected(q)[0], q + 0.01
    async with store.session(team_id=team_id) as s:
        successor = await s.memories.supersede(
            old, memory(newer, content="corrected"), reason="test"
        )
        with pytest.raises(EmbeddingError):  # refused: leaves nothing, changes nothing
            await s.memories.add(memory([1.0, 2.0]))
    del live.vectors[old]
    live.vectors[successor.id] = newer
    assert await found(store, team_id, q) == live.expected(q)


class Abandon(Exception):
    pass


async def test_vectors_seen_inside_a_rolled_back_unit_of_work_are_never_reused(
    committed_store: Store,
) -> None:
    store = committed_store
    team_id, live = await seeded(store)
    q = clustered(1, dim(store), seed=84)[0]
    with pytest.raises(Abandon):
        async with store.session(team_id=team_id) as s:
            phantom = await s.memories.add(memory(q))
            assert (await s.memories.search(q, k=K))[0].memory.id == phantom.id
            raise Abandon
    # The next change comes before any search: a counter would now be back at the
    # value the rolled-back search saw, and its vectors would look current.
    async with store.session(team_id=team_id) as s:
        kept = await s.memories.add(memory(-q))  # likely the phantom's rowid, not its vector
    live.vectors[kept.id] = -q
    assert await found(store, team_id, q) == live.expected(q)
    assert await found(store, team_id, -q) == live.expected(-q)


async def test_search_sees_rows_another_engine_and_raw_sql_changed(
    committed_store: Store,
) -> None:
    store = committed_store
    team_id, live = await seeded(store)
    q = clustered(1, dim(store), seed=78)[0]
    assert await found(store, team_id, q) == live.expected(q)

    # Another engine (as another process would be): its own connections and memory.
    other = await Store.open(settings=store.settings)
    try:
        async with other.session(team_id=team_id) as s:
            added = await s.memories.add(memory(q))
            gone = live.expected(q)[0]
            table = table_of(Memory)
            await s.execute(sa.delete(table).where(table.c.id == gone))
    finally:
        await other.close()
    live.vectors[added.id] = q
    del live.vectors[gone]
    assert await found(store, team_id, q) == live.expected(q)


async def test_counting_hits_keeps_the_vectors_in_memory(store: Store) -> None:
    team_id, live = await seeded(store)
    q = clustered(1, dim(store), seed=79)[0]
    async with store.session(team_id=team_id) as s:
        hits = [h.memory.id for h in await s.memories.search(q, k=K)]
        assert await s.memories.touch(hits) == K
        cache = cache_for(store)
        before = cache.hits
        again = [h.memory.id for h in await s.memories.search(q, k=K)]
        assert again == hits == live.expected(q)
        if store.dialect == "sqlite":
            assert cache.hits == before + 1  # the touch did not invalidate them
            await s.memories.update(hits[-1], MemoryUpdate(importance=9))
            await s.memories.search(q, k=K)
            assert cache.hits == before + 1  # a real change did


async def test_one_teams_writes_leave_other_teams_vectors_in_memory(store: Store) -> None:
    team_id, live = await seeded(store)
    other_id, _ = await seeded(store, n=5)
    q = clustered(1, dim(store), seed=83)[0]
    async with store.session(team_id=team_id) as s:
        uow, table = s._ctx.uow, table_of(Memory)
        cache = cache_for(store)
        assert await found(store, team_id, q) == live.expected(q)
        everywhere = [n.id for n in await nearest(uow, store, table, q, k=K)]
        before = cache.hits
        async with store.session(team_id=other_id) as o:
            elsewhere = await o.memories.add(memory(q))
        assert await found(store, team_id, q) == live.expected(q)
        assert (await nearest(uow, store, table, q, k=K))[0].id == elsewhere.id
        assert elsewhere.id not in everywhere
        if store.dialect == "sqlite":  # the team's vectors were kept; the table-wide ones not
            assert cache.hits == before + 1


async def test_memories_leave_search_results_when_they_expire(store: Store) -> None:
    team_id, live = await seeded(store)
    q = clustered(1, dim(store), seed=80)[0]
    soon = datetime.now(UTC) + timedelta(seconds=1)
    async with store.session(team_id=team_id) as s:
        brief = await s.memories.add(memory(q, expires_at=soon))
    live.vectors[brief.id] = q
    assert await found(store, team_id, q) == live.expected(q)
    await asyncio.sleep((soon - datetime.now(UTC)).total_seconds() + 0.05)
    del live.vectors[brief.id]
    assert await found(store, team_id, q) == live.expected(q)


def _paths(dialect: str) -> dict[str, dict[str, Any]]:
    if dialect != "sqlite":
        return {"default": {}}
    paths: dict[str, dict[str, Any]] = {
        "kept in memory": {},
        "kept in memory, read in chunks": {"vector_chunk_rows": 64},
        "scanned": {"sqlite_vector_cache_mb": 0, "sqlite_vec": False, "vector_chunk_rows": 64},
    }
    if sqlite_vec.unavailable() is None:
        paths["sqlite-vec"] = {"sqlite_vector_cache_mb": 0}
    return paths


async def test_every_search_path_returns_numpys_ranking(backend: Backend) -> None:
    url = await backend.migrated_url()
    seeder = await Store.open(settings=store_settings(url))
    try:
        team_id, live = await seeded(seeder, n=300)
        neighbour = await memory_team(seeder)  # another team with the same vectors
        async with seeder.session(team_id=neighbour) as s:
            await s.memories.add_many([memory(v) for v in live.vectors.values()])
    finally:
        await seeder.close()
    queries = clustered(6, TEST_DIMENSIONS, seed=81)
    for name, overrides in _paths(backend.name).items():
        store = await Store.open(settings=store_settings(url, **overrides))
        try:
            for _ in range(2):  # the second round is answered from memory where kept
                for q in queries:
                    assert await found(store, team_id, q) == live.expected(q), name
        finally:
            await store.close()


async def test_sqlite_vec_scores_inside_sqlite_when_it_loads(tmp_path: Any) -> None:
    why = sqlite_vec.unavailable()
    if why is not None:
        pytest.skip(f"sqlite-vec cannot be used here: {why}")
    url = f"sqlite+aiosqlite:///{tmp_path / 'vec.db'}"
    store = await Store.open(settings=store_settings(url, sqlite_vector_cache_mb=0))
    try:
        await store.upgrade()
        team_id, live = await seeded(store, n=120)
        async with store.session(team_id=team_id) as s:
            q = clustered(1, TEST_DIMENSIONS, seed=82)[0]
            hits = await s.memories.search(q, k=K)
            assert s._ctx.uow.connection_info.get(sqlite_vec.CONNECTION_FLAG)
            row = (await s.execute(sa.text("SELECT vec_version()"))).scalar()
        assert [h.memory.id for h in hits] == live.expected(q) and str(row).startswith("v")
        sims = [h.score for h in hits]
        assert sims == sorted(sims, reverse=True)
        assert sims[0] == pytest.approx(float(_cos(live.vectors[hits[0].memory.id], q)), abs=1e-5)
    finally:
        await store.close()


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _entry(token: bytes, rows: int) -> Entry:
    return Entry.of(
        token,
        [(np.arange(rows), np.ones((rows, 4), dtype=np.float32), np.ones(rows, np.float32))],
        4,
        valid_until=None,
    )


def test_vector_cache_keeps_the_most_recently_used_within_its_budget(store: Store) -> None:
    cache, size = VectorCache(store), _entry(b"t", 10).nbytes
    for key in ("a", "b", "c"):
        cache.put(key, _entry(b"t", 10), b"t", budget=2 * size)
    assert cache.get("a", b"t") is None  # evicted first
    assert cache.get("b", b"t") is not None  # now the most recent
    cache.put("d", _entry(b"t", 10), b"t", budget=2 * size)
    assert cache.get("c", b"t") is None and cache.get("b", b"t") is not None
    assert cache.get("b", b"other") is None  # another token: not the same rows
    cache.put("e", None, b"t", budget=2 * size)  # did not fit
    assert cache.too_big("e", b"t") and not cache.too_big("e", b"t2")
