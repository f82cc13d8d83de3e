"""Fixtures: every database test runs on SQLite and on PostgreSQL with pgvector.

- ``backend``: parametrizes a test over ``sqlite`` and ``postgres`` (narrow it with
  ``SKILLSTORE_TEST_BACKENDS=sqlite``, as ``nox -s tests`` does per backend).
- ``store``: a `Store` on a migrated database, inside an outer transaction that is rolled
  back after the test (SQLAlchemy's "join a session into an external transaction"
  recipe), so tests are isolated and fast. ``embedding_store``: the same, with the local
  `HashingEmbedder`.
- ``committed_store``: a `Store` on its own freshly migrated database with a real pool,
  for tests that need several connections at once (concurrency) or real commits.
- ``replicated_postgres``, ``pgbouncer_url``: a primary with a streaming standby, and
  the run's PostgreSQL behind PgBouncer in transaction mode (`tests.servers`); tests
  using them are marked ``replica`` / ``pooler``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from skillstore.db.engine import create_engine
from skillstore.embedding import Embedder, HashingEmbedder
from skillstore.store import Store
from tests import servers
from tests.backends import TEST_DIMENSIONS, Backend, postgres_server, store_settings


@pytest.fixture(scope="session")
def _resources() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


@pytest.fixture(scope="session")
def _postgres_admin_url(_resources: ExitStack) -> str:
    return _resources.enter_context(postgres_server())


BACKENDS = os.environ.get("SKILLSTORE_TEST_BACKENDS", "sqlite,postgres").split(",")


@pytest.fixture(scope="session", params=BACKENDS)
async def backend(request: pytest.FixtureRequest, _resources: ExitStack) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        root = _resources.enter_context(tempfile.TemporaryDirectory(prefix="skillstore-sqlite-"))
    else:
        root = request.getfixturevalue("_postgres_admin_url")
    made = Backend(request.param, root)
    yield made
    await made.drop_all()


@pytest.fixture(scope="session")
async def _shared_engine(backend: Backend) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(store_settings(await backend.migrated_url()))
    yield engine
    await engine.dispose()


@asynccontextmanager
async def _rolled_back(
    engine: AsyncEngine, embedder: Embedder | None, **overrides: Any
) -> AsyncIterator[Store]:
    settings = store_settings(engine.url.render_as_string(hide_password=False), **overrides)
    async with engine.connect() as connection:
        # The store's connections are SQLAlchemy-AUTOCOMMIT and transactions are the
        # store's own (`skillstore.db.unit`): the outer one is begun on the driver too.
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        sqlite = engine.dialect.name == "sqlite"
        send = raw.execute_fetchall if sqlite else raw.execute
        await send("BEGIN IMMEDIATE" if sqlite else "BEGIN")
        try:
            yield Store(engine, settings, bind=connection, embedder=embedder)
        finally:
            await send("ROLLBACK")


@pytest.fixture
async def store(_shared_engine: AsyncEngine) -> AsyncIterator[Store]:
    async with _rolled_back(_shared_engine, None) as store:
        yield store


@pytest.fixture
async def embedding_store(_shared_engine: AsyncEngine) -> AsyncIterator[Store]:
    """Like ``store``, with the local `HashingEmbedder`: text works where vectors do."""
    async with _rolled_back(_shared_engine, HashingEmbedder(TEST_DIMENSIONS)) as store:
        yield store


@pytest.fixture
async def committed_store(backend: Backend) -> AsyncIterator[Store]:
    store = await Store.open(settings=store_settings(await backend.migrated_url()))
    yield store
    await store.close()


@pytest.fixture
async def hnsw_store(_shared_engine: AsyncEngine) -> AsyncIterator[Store]:
    """Like ``store``, with the exact-scan threshold below the test data's size, so that
    PostgreSQL answers vector searches through the HNSW index."""
    async with _rolled_back(_shared_engine, None, vector_exact_max_rows=50) as store:
        yield store


@pytest.fixture(scope="session")
def replicated_postgres(_resources: ExitStack) -> servers.ReplicatedPostgres:
    """A primary and a streaming hot standby of their own, shared by the run (see
    `tests.servers.replicated_postgres`). Skipped, with the reason, when the binaries or
    the ``pgserver`` user are missing. A test that stops the standby or pauses replay
    undoes it (``start_standby``, ``resume_replay``) before it ends."""
    try:
        return _resources.enter_context(servers.replicated_postgres())
    except servers.ServerUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def pgbouncer_url(_resources: ExitStack, _postgres_admin_url: str) -> str:
    """The run's PostgreSQL admin URL, through PgBouncer in transaction mode without
    prepared-statement support (see `tests.servers.pgbouncer`). Any database of that
    server is reachable by changing the URL's database. Skipped when pgbouncer is not
    installed."""
    try:
        return _resources.enter_context(servers.pgbouncer(_postgres_admin_url))
    except servers.ServerUnavailable as exc:
        pytest.skip(str(exc))
