"""Pool exhaustion is a clear `PoolTimeoutError` after ``pool_timeout``, never a hang,
and the store serves again as soon as a connection is free."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack

import pytest

from skillstore import DatabaseError, PoolTimeoutError, SkillstoreError, Store
from tests.backends import Backend, store_settings
from tests.factories import make_team

SQLITE_POOL = 5 + 10
"""SQLAlchemy's own pool limits for a SQLite file (the store sizes only PostgreSQL's)."""


async def test_an_exhausted_pool_raises_pool_timeout_error_after_pool_timeout(
    backend: Backend,
) -> None:
    settings = store_settings(
        await backend.migrated_url(), pool_size=1, pool_overflow=0, pool_timeout=0.3
    )
    store = await Store.open(settings=settings)
    try:
        team = await make_team(store)
        held = 1 if backend.name == "postgres" else SQLITE_POOL
        async with AsyncExitStack() as stack:
            for _ in range(held):
                s = await stack.enter_async_context(store.session(team.id, readonly=True))
                await s.agents.count()  # the session now holds a connection
            started = time.monotonic()
            with pytest.raises(PoolTimeoutError, match="no database connection became free") as e:
                async with store.session(team.id) as s:
                    await asyncio.wait_for(s.agents.count(), timeout=20)
            waited = time.monotonic() - started
        assert isinstance(e.value, DatabaseError) and isinstance(e.value, SkillstoreError)
        assert e.value.__cause__ is None
        assert "pool_timeout=0.3 s" in str(e.value)
        assert 0.25 <= waited < 10
        async with store.session(team.id) as s:  # a connection is free again
            assert await s.agents.count() == 0
    finally:
        await store.close()
