"""A database that was never migrated: every repository says to run ``skillstore db
upgrade`` (a `MigrationError`), on both backends, instead of "no such table"."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from functools import cached_property

import pytest

from skillstore import HashingEmbedder, MigrationError, Store, StoreSession
from tests.backends import TEST_DIMENSIONS, Backend, store_settings

REPOSITORIES = sorted(
    name
    for name, value in vars(StoreSession).items()
    if isinstance(value, cached_property) and name != "cipher"
)


@pytest.fixture
async def unmigrated(backend: Backend) -> AsyncIterator[Store]:
    settings = store_settings(await backend.unmigrated_url())
    store = await Store.open(settings=settings, embedder=HashingEmbedder(TEST_DIMENSIONS))
    yield store
    await store.close()


def test_every_repository_is_covered() -> None:
    assert {"users", "teams", "agents", "memories", "documents", "audit"} <= set(REPOSITORIES)


@pytest.mark.parametrize("name", REPOSITORIES)
async def test_every_repository_read_says_to_run_db_upgrade(unmigrated: Store, name: str) -> None:
    with pytest.raises(MigrationError, match=r"run `skillstore db upgrade`") as refused:
        async with unmigrated.session(team_id=uuid.uuid4()) as s:
            await getattr(s, name).count()
    assert "has not been migrated" in str(refused.value)
    assert "no such table" not in str(refused.value)


async def test_writes_and_searches_say_to_run_db_upgrade(unmigrated: Store) -> None:
    with pytest.raises(MigrationError, match=r"table user does not exist"):
        async with unmigrated.session() as s:
            await s.users.create(
                {"email": "a@example.com", "password": "correct horse", "display_name": "A"}
            )
    with pytest.raises(MigrationError, match=r"run `skillstore db upgrade`"):
        async with unmigrated.session(team_id=uuid.uuid4()) as s:
            await s.memories.search_text("anything", k=3)
    with pytest.raises(MigrationError, match=r"run `skillstore db upgrade`"):
        async with unmigrated.session(team_id=uuid.uuid4()) as s:
            await s.memories.add({"content": "x", "memory_type": "semantic"})
