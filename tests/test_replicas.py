"""Read-only sessions on a real streaming standby: which server served them, and when
the library falls back to the primary (standby stopped, replay paused, commit tokens)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from skillstore import BackendNotSupportedError, HashingEmbedder, Store, ValidationError
from skillstore.settings import StoreSettings
from skillstore.store import StoreSession
from tests.backends import TEST_DIMENSIONS, store_settings
from tests.factories import make_team
from tests.servers import ReplicatedPostgres, _psql

pytestmark = pytest.mark.replica


@pytest.fixture(scope="module")
async def replica_database(replicated_postgres: ReplicatedPostgres) -> AsyncIterator[str]:
    """A database migrated to head on the pair's primary (and so on its standby)."""
    name = f"skillstore_replicas_{uuid.uuid4().hex[:10]}"
    _psql(replicated_postgres.primary_url, f'CREATE DATABASE "{name}"')
    url = make_url(replicated_postgres.primary_url).set(database=name)
    primary = url.render_as_string(hide_password=False)
    store = await Store.open(settings=store_settings(primary))
    await store.upgrade()
    await store.close()
    replicated_postgres.wait_replayed()
    yield primary
    _psql(replicated_postgres.primary_url, f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
async def pair(replicated_postgres: ReplicatedPostgres) -> AsyncIterator[ReplicatedPostgres]:
    yield replicated_postgres
    if not replicated_postgres.standby_running:
        replicated_postgres.start_standby()
    if replicated_postgres.replay_paused():
        replicated_postgres.resume_replay()


async def open_store(pair: ReplicatedPostgres, primary: str, **overrides: Any) -> Store:
    settings = store_settings(primary, replica_urls=[pair.on_standby(primary)], **overrides)
    return await Store.open(settings=settings, embedder=HashingEmbedder(TEST_DIMENSIONS))


@pytest.fixture
async def store(pair: ReplicatedPostgres, replica_database: str) -> AsyncIterator[Store]:
    store = await open_store(pair, replica_database)
    yield store
    await store.close()


async def in_recovery(s: StoreSession) -> bool:
    return bool((await s.execute(sa.select(sa.func.pg_is_in_recovery()))).scalar_one())


async def add_memory(store: Store, team_id: uuid.UUID, content: str) -> tuple[uuid.UUID, str]:
    async with store.session(team_id) as s:
        memory = await s.memories.add({"memory_type": "semantic", "content": content})
    assert s.commit_token is not None
    return memory.id, s.commit_token


async def test_readonly_sessions_run_on_the_standby_and_read_write_ones_on_the_primary(
    store: Store, pair: ReplicatedPostgres
) -> None:
    team = await make_team(store)
    memory_id, token = await add_memory(store, team.id, "replicated")
    pair.wait_replayed(token)
    async with store.session(team.id, readonly=True) as s:
        assert await in_recovery(s)
        found = await s.memories.get(memory_id)
        assert found is not None and found.content == "replicated"
        assert [m.id for m in await s.memories.find()] == [memory_id]
    async with store.session(team.id) as s:
        assert not await in_recovery(s)


async def test_writes_in_a_replica_session_are_refused_before_reaching_the_standby(
    store: Store,
) -> None:
    team = await make_team(store)
    with pytest.raises(Exception, match="read-only") as refused:
        async with store.session(team.id, readonly=True) as s:
            await s.memories.add({"memory_type": "semantic", "content": "nope"})
    assert type(refused.value).__module__ == "skillstore.errors"


async def test_a_stopped_standby_is_skipped_and_used_again_once_back(
    store: Store, pair: ReplicatedPostgres
) -> None:
    team = await make_team(store)
    memory_id, _ = await add_memory(store, team.id, "written while the standby is down")
    store.replicas.retry_down_s = 0.0
    pair.stop_standby()
    async with store.session(team.id, readonly=True) as s:
        assert not await in_recovery(s)
        assert await s.memories.get(memory_id) is not None
    pair.start_standby()
    pair.wait_replayed()
    async with store.session(team.id, readonly=True) as s:
        assert await in_recovery(s)
        assert await s.memories.get(memory_id) is not None


async def test_a_down_standby_is_not_retried_for_a_while(
    store: Store, pair: ReplicatedPostgres
) -> None:
    team = await make_team(store)
    pair.stop_standby()
    async with store.session(team.id, readonly=True) as s:
        assert not await in_recovery(s)
    pair.start_standby()
    async with store.session(team.id, readonly=True) as s:
        assert not await in_recovery(s), "a replica found down is skipped for retry_down_s"


async def test_paused_replay_without_a_token_serves_stale_reads_within_the_lag_limit(
    store: Store, pair: ReplicatedPostgres
) -> None:
    team = await make_team(store)
    pair.wait_replayed()
    pair.pause_replay()
    memory_id, _ = await add_memory(store, team.id, "not replayed yet")
    async with store.session(team.id, readonly=True) as s:
        assert await in_recovery(s)
        assert await s.memories.get(memory_id) is None  # stale, as replicas are
    pair.resume_replay()


async def test_paused_replay_beyond_the_lag_limit_sends_reads_to_the_primary(
    pair: ReplicatedPostgres, replica_database: str
) -> None:
    store = await open_store(pair, replica_database, replica_max_lag_s=0.2)
    try:
        team = await make_team(store)
        pair.wait_replayed()
        pair.pause_replay()
        memory_id, _ = await add_memory(store, team.id, "lagging")
        pair_lsn = pair.primary_lsn()
        for _ in range(250):  # the standby has received the commit it cannot replay
            if _psql(pair.standby_url, f"SELECT pg_last_wal_receive_lsn() >= '{pair_lsn}'") == "t":
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        async with store.session(team.id, readonly=True) as s:
            assert not await in_recovery(s)
            assert await s.memories.get(memory_id) is not None
        pair.resume_replay()
        pair.wait_replayed()
        async with store.session(team.id, readonly=True) as s:
            assert await in_recovery(s)
    finally:
        await store.close()


async def test_a_commit_token_the_standby_has_not_replayed_reads_on_the_primary(
    store: Store, pair: ReplicatedPostgres
) -> None:
    team = await make_team(store)
    pair.wait_replayed()
    pair.pause_replay()
    memory_id, token = await add_memory(store, team.id, "read your writes")
    async with store.session(team.id, readonly=True, after=token) as s:
        assert not await in_recovery(s)
        assert await s.memories.get(memory_id) is not None
    pair.resume_replay()
    pair.wait_replayed(token)
    async with store.session(team.id, readonly=True, after=token) as s:
        assert await in_recovery(s)
        assert await s.memories.get(memory_id) is not None


async def test_a_commit_token_waits_for_the_standby_to_catch_up(
    pair: ReplicatedPostgres, replica_database: str
) -> None:
    store = await open_store(pair, replica_database, replica_wait_s=10.0)
    try:
        team = await make_team(store)
        pair.wait_replayed()
        pair.pause_replay()
        memory_id, token = await add_memory(store, team.id, "worth the wait")
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, pair.resume_replay)
        async with store.session(team.id, readonly=True, after=token) as s:
            assert await in_recovery(s)
            assert await s.memories.get(memory_id) is not None
    finally:
        await store.close()


async def test_only_sessions_that_wrote_have_a_commit_token(store: Store) -> None:
    team = await make_team(store)
    async with store.session(team.id) as s:
        await s.memories.find()
    assert s.commit_token is None
    async with store.session(team.id, readonly=True) as s:
        await s.memories.find()
    assert s.commit_token is None


async def test_a_bad_commit_token_is_refused(store: Store) -> None:
    with pytest.raises(ValidationError, match="commit token"):
        async with store.session(readonly=True, after="not-a-position"):
            pass
    with pytest.raises(ValidationError, match="read-only sessions"):
        async with store.session(after="0/1"):
            pass


async def test_vector_search_is_identical_on_primary_and_standby(
    pair: ReplicatedPostgres, replica_database: str
) -> None:
    store = await open_store(pair, replica_database, vector_exact_max_rows=20)
    try:
        team = await make_team(store)
        rng = random.Random(11)
        rows = [
            {
                "memory_type": "semantic",
                "content": f"fact {i}",
                "embedding": [rng.uniform(-1, 1) for _ in range(TEST_DIMENSIONS)],
            }
            for i in range(300)
        ]
        async with store.session(team.id) as s:
            await s.memories.add_many(rows)
        assert s.commit_token is not None
        pair.wait_replayed(s.commit_token)
        query = [rng.uniform(-1, 1) for _ in range(TEST_DIMENSIONS)]
        found = []
        for readonly in (False, True):
            async with store.session(team.id, readonly=readonly) as s:
                assert await in_recovery(s) is readonly
                hits = await s.memories.search(query, k=10)
                found.append([(h.memory.id, round(h.similarity or 0.0, 6)) for h in hits])
        assert len(found[0]) == 10
        assert found[0] == found[1]
    finally:
        await store.close()


def test_replica_urls_hide_their_passwords() -> None:
    settings = StoreSettings.model_validate(
        {
            "database_url": "postgresql+asyncpg://app:s3cret@db/app",
            "replica_urls": "postgresql+asyncpg://app:hunter2@r1/app, postgresql+asyncpg://r2/app",
        }
    )
    assert len(settings.replica_urls) == 2
    assert "hunter2" not in repr(settings) and "s3cret" not in repr(settings)
    assert "r1" in repr(settings)


@pytest.mark.parametrize(
    "overrides",
    [
        {"replica_urls": ["postgresql+asyncpg://r1/app"]},
        {"transaction_pooler": True},
        {"replica_max_lag_s": 1.0},
    ],
)
async def test_replica_and_pooler_settings_are_refused_on_sqlite(
    tmp_path: Any, overrides: dict[str, Any]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(BackendNotSupportedError, match="need PostgreSQL"):
        await Store.open(settings=store_settings(url, **overrides))


async def test_a_replica_url_that_is_not_postgres_is_refused(replica_database: str) -> None:
    settings = store_settings(replica_database, replica_urls=["sqlite+aiosqlite:///r.db"])
    with pytest.raises(BackendNotSupportedError, match="must be a PostgreSQL URL"):
        await Store.open(settings=settings)
