"""The migration history on both backends: Alembic's invariants and a full round trip."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from alembic.config import Config
from pytest_alembic import tests as builtin
from pytest_alembic.runner import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from skillstore import _migrate
from skillstore.db.base import metadata
from skillstore.db.engine import create_engine
from skillstore.errors import MigrationError
from skillstore.store import Store
from tests.backends import Backend, store_settings


@pytest.fixture
def alembic_config() -> Config:
    return _migrate.alembic_config(store_settings("sqlite+aiosqlite://"))


@pytest.fixture
async def alembic_engine(backend: Backend) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(store_settings(await backend.empty_url()), pooled=False)
    yield engine
    await engine.dispose()


def test_single_head_revision(alembic_runner: MigrationContext) -> None:
    builtin.test_single_head_revision(alembic_runner)


def test_upgrade(alembic_runner: MigrationContext) -> None:
    builtin.test_upgrade(alembic_runner)


def test_model_definitions_match_ddl(alembic_runner: MigrationContext) -> None:
    builtin.test_model_definitions_match_ddl(alembic_runner)


def test_up_down_consistency(alembic_runner: MigrationContext) -> None:
    builtin.test_up_down_consistency(alembic_runner)


async def _schema(store: Store) -> tuple[set[str], set[str]]:
    """Tables and (PostgreSQL) enum types in the database."""

    def inspect(connection: sa.Connection) -> set[str]:
        return set(sa.inspect(connection).get_table_names()) - {"alembic_version"}

    async with store.engine.connect() as connection:
        tables = await connection.run_sync(inspect)
        enums: set[str] = set()
        if store.dialect == "postgresql":
            rows = await connection.execute(
                sa.text("SELECT typname FROM pg_type WHERE typtype = 'e'")
            )
            enums = {r[0] for r in rows}
    return tables, enums


async def test_round_trip_upgrade_check_downgrade_upgrade(backend: Backend) -> None:
    store = await Store.open(settings=store_settings(await backend.empty_url()))
    try:
        await store.upgrade()
        await store.upgrade()  # idempotent
        assert await _migrate.current(store.engine) == _migrate.head()
        assert await _migrate.check(store.engine, store.settings) == []
        tables, _ = await _schema(store)
        assert tables == set(metadata.tables)

        await _migrate.downgrade(store.engine, store.settings, "base")
        assert await _migrate.current(store.engine) is None
        assert await _schema(store) == (set(), set())

        await store.upgrade()
        assert (await _schema(store))[0] == set(metadata.tables)
    finally:
        await store.close()


async def test_check_refuses_a_database_behind_head(backend: Backend) -> None:
    store = await Store.open(settings=store_settings(await backend.empty_url()))
    try:
        with pytest.raises(MigrationError, match="skillstore db upgrade"):
            await _migrate.check(store.engine, store.settings)
    finally:
        await store.close()
