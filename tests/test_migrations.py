"""The migration history on both backends: Alembic's invariants and a full round trip."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from pytest_alembic import tests as builtin
from pytest_alembic.runner import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from skillstore import _migrate
from skillstore._migrate import ddl
from skillstore._migrate.lexical import LEXICAL_TABLES
from skillstore.db.base import metadata
from skillstore.db.engine import create_engine
from skillstore.db.schema import VECTOR_VERSION
from skillstore.errors import AppendOnlyError, MigrationError
from skillstore.store import Store
from tests.backends import Backend, store_settings
from tests.memory_data import clustered, dim, memory, memory_team


@pytest.fixture
def alembic_config() -> Config:
    return _migrate.alembic_config(store_settings("sqlite+aiosqlite://"))


@pytest.fixture
async def alembic_engine(backend: Backend) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(store_settings(await backend.empty_url()), migrations=True)
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
    # SQLite also has the vector version table and the FTS5 tables (with their shadow
    # tables), which live in migrations only.
    fts = {
        f"{t}_fts{suffix}"
        for t in LEXICAL_TABLES
        for suffix in ("", "_data", "_idx", "_docsize", "_config")
    }
    expected = set(metadata.tables) | (
        {VECTOR_VERSION, *fts} if store.dialect == "sqlite" else set()
    )
    try:
        await store.upgrade()
        await store.upgrade()  # idempotent
        assert await _migrate.current(store.settings) == _migrate.head()
        assert await _migrate.check(store.settings) == []
        tables, _ = await _schema(store)
        assert tables == expected

        await _migrate.downgrade(store.settings, "base")
        assert await _migrate.current(store.settings) is None
        assert await _schema(store) == (set(), set())

        await store.upgrade()
        assert (await _schema(store))[0] == expected
    finally:
        await store.close()


async def test_check_refuses_a_database_behind_head(backend: Backend) -> None:
    store = await Store.open(settings=store_settings(await backend.empty_url()))
    try:
        with pytest.raises(MigrationError, match="skillstore db upgrade"):
            await _migrate.check(store.settings)
    finally:
        await store.close()


LATER_REVISION = '''"""a later revision that rebuilds memory and memory_log on SQLite"""
import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    recreate = "always" if op.get_bind().dialect.name == "sqlite" else "auto"
    for table in ("memory", "memory_log"):
        with op.batch_alter_table(table, recreate=recreate) as batch:
            batch.add_column(sa.Column("probe", sa.Integer(), nullable=True))


def downgrade() -> None:
    pass
'''


async def test_triggers_survive_a_later_revision_that_rebuilds_their_tables(
    backend: Backend, tmp_path: Path
) -> None:
    (tmp_path / "9001_later.py").write_text(LATER_REVISION.format(head=_migrate.head()))
    store = await Store.open(settings=store_settings(await backend.empty_url()))
    try:
        await store.upgrade()
        team_id = await memory_team(store)
        q = clustered(1, dim(store), seed=3)[0]
        async with store.session(team_id=team_id) as s:
            before_rebuild = await s.memories.add(memory(q, content="zebracorn was here"))

        def later(config: Config) -> None:
            versions = _migrate.script_location() / "versions"
            config.set_main_option("path_separator", "os")
            config.set_main_option(
                "version_locations", os.pathsep.join([str(versions), str(tmp_path)])
            )
            command.upgrade(config, "heads")

        await _migrate._run(store.settings, later)
        async with store.session(team_id=team_id) as s:
            # the lexical index was rebuilt with the table (new rowids, triggers back)
            found = await s.memories.search(text="zebracorn")
            assert [h.memory.id for h in found] == [before_rebuild.id]
            await s.memories.delete(before_rebuild.id)
            assert await s.memories.search(text="zebracorn") == []
            first = await s.memories.add(memory(-q))
            assert [h.memory.id for h in await s.memories.search(q)] == [first.id]
        async with store.session(team_id=team_id) as s:
            second = await s.memories.add(memory(q))
        async with store.session(team_id=team_id) as s:
            assert [h.memory.id for h in await s.memories.search(q)] == [second.id, first.id]
            with pytest.raises(AppendOnlyError):
                await s.execute(sa.text("UPDATE memory_log SET reason = 'rewritten'"))
            if store.dialect == "sqlite":  # the new column is watched too
                token = sa.text(
                    f"SELECT token FROM {VECTOR_VERSION} "
                    "WHERE table_name = 'memory' AND scope = '*'"
                )
                before = (await s.execute(token)).scalar()
                await s.execute(sa.text("UPDATE memory SET probe = 1"))
                assert (await s.execute(token)).scalar() != before
    finally:
        await store.close()


FROZEN = {
    "append_only/postgresql": "7f9ab545112e0bfb",
    "append_only/sqlite": "d80edd69754c7bea",
    "vector_triggers": "4f357c248cfa7ca7",
    "hnsw/384": "415b664f0cb199ad",
    "hnsw/3072": "dec20a3697a7ccd9",
    "no_replace": "a2341f68d4aa1ce1",
}


def test_revisions_install_the_sql_they_always_did() -> None:
    # A revision must install the same SQL forever (databases migrated at different times
    # must not differ): a different trigger or index is a new helper in a new revision.
    installed = {
        "append_only/postgresql": ddl.append_only_sql("t", "postgresql"),
        "append_only/sqlite": ddl.append_only_sql("t", "sqlite"),
        "vector_triggers": ddl._vector_triggers("t", ["id", "team_id", "embedding", "updated_at"]),
        "hnsw/384": ddl.hnsw_index_sql("t", "embedding", 384),
        "hnsw/3072": ddl.hnsw_index_sql("t", "embedding", 3072),
        "no_replace": ddl.no_replace_sql("t"),
    }
    digests = {
        k: hashlib.sha256("\n".join(v).encode()).hexdigest()[:16] for k, v in installed.items()
    }
    assert digests == FROZEN
