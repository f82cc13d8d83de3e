"""The unit of work: who takes which lock, and that a refusal never poisons a session."""

from __future__ import annotations

import asyncio
import time
import uuid

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from skillstore.errors import EmbeddingError, SkillstoreError, ValidationError
from skillstore.models import AgentConfigUpdate, RetrievalContext, UserCreate
from skillstore.store import Store
from tests.backends import store_settings
from tests.factories import make_agent, make_team
from tests.memory_data import clustered, dim, memory, memory_team
from tests.servers import ReplicatedPostgres


async def test_readers_do_not_wait_for_an_open_writer(committed_store: Store) -> None:
    store = committed_store
    team = await make_team(store)
    agent = await make_agent(store, team, tagline="before")
    writing, done = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        async with store.session(team_id=team.id) as s:
            await s.agents.update(agent.id, AgentConfigUpdate(tagline="after"))
            writing.set()
            await done.wait()  # the write transaction stays open meanwhile

    task = asyncio.create_task(writer())
    await writing.wait()
    try:
        started = time.perf_counter()
        for _ in range(8):
            async with store.session(team_id=team.id) as s:
                seen = await s.agents.get(agent.id)
                assert seen is not None and seen.tagline == "before"  # the last commit
        # Far below the 5 s busy timeout a reader that wanted the write lock would wait.
        assert time.perf_counter() - started < 2.0
    finally:
        done.set()
        await task
    async with store.session(team_id=team.id, readonly=True) as s:
        seen = await s.agents.get(agent.id)
        assert seen is not None and seen.tagline == "after"


async def test_a_session_that_reads_and_then_writes_keeps_both(committed_store: Store) -> None:
    store = committed_store
    team = await make_team(store)
    agent = await make_agent(store, team)
    async with store.session(team_id=team.id) as s:
        assert (await s.agents.get(agent.id)) is not None
        await s.agents.update(agent.id, AgentConfigUpdate(tagline="read, then written"))
        assert (await s.agents.find(limit=5))[0].tagline == "read, then written"
    async with store.session(team_id=team.id) as s:
        seen = await s.agents.get(agent.id)
        assert seen is not None and seen.tagline == "read, then written"


async def test_a_read_only_session_refuses_to_write(store: Store) -> None:
    team = await make_team(store)
    agent = await make_agent(store, team)
    async with store.session(team_id=team.id, readonly=True) as s:
        assert s.readonly and (await s.agents.get(agent.id)) is not None
        with pytest.raises(SkillstoreError, match="read-only"):
            await s.agents.update(agent.id, AgentConfigUpdate(tagline="no"))
        assert (await s.agents.get(agent.id)) == agent


async def test_a_read_only_session_runs_every_read(store: Store) -> None:
    # Searches plan themselves (PostgreSQL: EXPLAIN, a capped count) before they read:
    # none of that is a write.
    team_id = await memory_team(store)
    v = clustered(40, dim(store))
    async with store.session(team_id=team_id) as s:
        added = await s.memories.add_many([memory(x) for x in v])
    async with store.session(team_id=team_id, readonly=True) as s:
        hits = await s.memories.search(v[3].tolist(), k=5)
        assert hits[0].memory.id == added[3]
        assert await s.memories.count() == 40
        assert len(await s.memories.find(limit=50)) == 40
        scored = await s.memories.retrieve(v[3].tolist(), context=RetrievalContext())
        assert added[3] in {m.memory.id for m in scored}


async def test_a_batch_refused_mid_copy_leaves_the_session_usable(store: Store) -> None:
    team_id = await memory_team(store)
    v = clustered(700, dim(store))
    bad = v.copy()
    bad[600] = 0.0  # found while the batch is being sent, after whole chunks went out
    async with store.session(team_id=team_id) as s:
        first = await s.memories.add_many([memory(x) for x in v[:10]])
        with pytest.raises(EmbeddingError, match="item 600"):
            await s.memories.add_many(
                [memory(x).model_copy(update={"embedding": None}) for x in bad],
                embeddings=np.asarray(bad, dtype=np.float32),
            )
        again = await s.memories.add_many([memory(x) for x in v[10:20]])
        assert await s.memories.count() == len(first) + len(again) == 20
    async with store.session(team_id=team_id) as s:
        assert await s.memories.count() == 20


async def test_hostile_text_in_a_lookup_is_refused_the_same_everywhere(store: Store) -> None:
    async with store.session() as s:
        user = await s.users.create(
            UserCreate.model_validate(
                {"email": "lookup@example.com", "password": "long enough", "display_name": "L"}
            )
        )
        for hostile in ("a\x00b@example.com", "x\udfff@example.com"):
            with pytest.raises(ValidationError, match="email"):
                await s.users.authenticate(hostile, "long enough")
        assert await s.users.authenticate("lookup@example.com", "long enough") == user


@pytest.mark.replica
async def test_a_server_restart_under_a_live_pool_costs_no_request_an_error(
    replicated_postgres: ReplicatedPostgres,
) -> None:
    pair = replicated_postgres
    name = f"skillstore_restart_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(pair.primary_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(pair.primary_url).set(database=name).render_as_string(hide_password=False)
    store = await Store.open(settings=store_settings(url, pool_size=3))
    try:
        await store.upgrade()
        team = await make_team(store)

        # Three connections wait in the pool, each with work done on it.
        async def read() -> None:
            async with store.session(team_id=team.id) as s:
                assert await s.agents.count() >= 0
                await asyncio.sleep(0.05)

        await asyncio.gather(read(), read(), read())
        pair.restart_primary()  # every pooled connection is now dead
        await asyncio.gather(read(), read(), read())  # reads: retried on fresh connections
        agent = await make_agent(store, team)  # a write: its BEGIN is retried the same way
        async with store.session(team_id=team.id) as s:
            assert await s.agents.get(agent.id) == agent
    finally:
        await store.close()
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await admin.dispose()
