"""The scaling test servers work, and what a transaction pooler breaks.

Plain asyncpg and SQLAlchemy only, not the library: these tests prove the
infrastructure (`tests.servers`) the replica and pooler tests of the library stand on,
and pin down, against a real PgBouncer in transaction mode without prepared-statement
support, which driver settings fail and which work.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests import servers
from tests.servers import (
    PGBOUNCER_MISSING,
    PREPARED_STATEMENTS_SINCE,
    ReplicatedPostgres,
    ServerUnavailable,
    pgbouncer,
)

replica = pytest.mark.replica
pooler = pytest.mark.pooler

POOLER_SAFE: dict[str, Any] = {
    "statement_cache_size": 0,  # asyncpg: unnamed statements, re-parsed with each Bind
    "prepared_statement_cache_size": 0,  # SQLAlchemy: no statement kept across transactions
    "prepared_statement_name_func": lambda: f"__asyncpg_{uuid.uuid4()}__",  # no collisions
}
"""Connect arguments of a SQLAlchemy asyncpg engine that works through the pooler."""

PARAMETERISED = "SELECT pg_backend_pid() WHERE $1::int = 1"


def dsn(url: str) -> str:
    """asyncpg's own form of a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def connect(url: str, **kwargs: Any) -> AsyncIterator[Any]:
    connection = await asyncpg.connect(dsn(url), **kwargs)
    try:
        yield connection
    finally:
        await connection.close()


@asynccontextmanager
async def fresh_database(admin_url: str, through: str) -> AsyncIterator[str]:
    """A new database on ``admin_url``'s server, as a URL through ``through`` (a pooler):
    its pool starts empty, so which server connection serves whom is predictable."""
    name = f"skillstore_pooler_{uuid.uuid4().hex[:12]}"
    async with connect(admin_url) as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(through).set(database=name).render_as_string(hide_password=False)
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def pair(replicated_postgres: ReplicatedPostgres) -> Iterator[ReplicatedPostgres]:
    yield replicated_postgres
    if not replicated_postgres.standby_running:
        replicated_postgres.start_standby()
    if replicated_postgres.replay_paused():
        replicated_postgres.resume_replay()


@pytest.fixture
def admin_url(_postgres_admin_url: str) -> str:
    return _postgres_admin_url


@pytest.fixture
async def pooled(admin_url: str, pgbouncer_url: str) -> AsyncIterator[str]:
    async with fresh_database(admin_url, pgbouncer_url) as url:
        yield url


def new_table() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@replica
async def test_the_standby_is_in_recovery_and_the_primary_is_not(pair: ReplicatedPostgres) -> None:
    async with connect(pair.primary_url) as primary, connect(pair.standby_url) as standby:
        assert await primary.fetchval("SELECT pg_is_in_recovery()") is False
        assert await standby.fetchval("SELECT pg_is_in_recovery()") is True


@replica
async def test_the_standby_serves_a_row_written_on_the_primary_once_replayed(
    pair: ReplicatedPostgres,
) -> None:
    table = new_table()
    async with connect(pair.primary_url) as primary:
        await primary.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, note text)")
        await primary.execute(f"INSERT INTO {table} VALUES (1, 'written on the primary')")
    pair.wait_replayed()
    async with connect(pair.standby_url) as standby:
        assert await standby.fetchval(f"SELECT note FROM {table}") == "written on the primary"
        with pytest.raises(asyncpg.exceptions.ReadOnlySQLTransactionError):
            await standby.execute(f"INSERT INTO {table} VALUES (2, 'refused')")


@replica
async def test_paused_replay_keeps_the_standby_behind_until_resumed(
    pair: ReplicatedPostgres,
) -> None:
    table = new_table()
    async with connect(pair.primary_url) as primary:
        await primary.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
        pair.wait_replayed()
        pair.pause_replay()
        await primary.execute(f"INSERT INTO {table} VALUES (1)")
    lsn = pair.primary_lsn()
    async with connect(pair.standby_url) as standby:
        received = f"SELECT pg_last_wal_receive_lsn() >= '{lsn}'::pg_lsn"
        for _ in range(250):
            if await standby.fetchval(received):
                break
            await asyncio.sleep(0.02)
        assert await standby.fetchval(received), "the standby never received the insert"
        assert await standby.fetchval(f"SELECT count(*) FROM {table}") == 0
        with pytest.raises(TimeoutError, match="paused: True"):
            pair.wait_replayed(lsn, timeout=0.3)
        pair.resume_replay()
        pair.wait_replayed(lsn)
        assert await standby.fetchval(f"SELECT count(*) FROM {table}") == 1


@replica
async def test_a_stopped_standby_refuses_connections_then_starts_and_catches_up(
    pair: ReplicatedPostgres,
) -> None:
    table = new_table()
    pair.stop_standby()
    assert not pair.standby_running
    with pytest.raises(OSError, match=r"Connect call failed|refused"):
        await asyncpg.connect(dsn(pair.standby_url), timeout=5)
    async with connect(pair.primary_url) as primary:
        await primary.execute(f"CREATE TABLE {table} AS SELECT 7 AS written_while_down")
    with pytest.raises(TimeoutError, match="stopped"):
        pair.wait_replayed(timeout=0.2)
    pair.start_standby()
    assert pair.standby_running
    pair.wait_replayed()
    async with connect(pair.standby_url) as standby:
        assert await standby.fetchval(f"SELECT written_while_down FROM {table}") == 7


@replica
async def test_vector_search_through_hnsw_is_identical_on_primary_and_standby(
    pair: ReplicatedPostgres,
) -> None:
    table = new_table()
    rng = random.Random(7)
    vectors = [[rng.uniform(-1, 1) for _ in range(8)] for _ in range(300)]
    async with connect(pair.primary_url) as primary:
        await primary.execute("CREATE EXTENSION IF NOT EXISTS vector")
        await primary.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, embedding vector(8))")
        await primary.executemany(
            f"INSERT INTO {table} VALUES ($1, $2::vector)",
            [(i, str(v)) for i, v in enumerate(vectors)],
        )
        await primary.execute(
            f"CREATE INDEX hnsw_{table} ON {table} USING hnsw (embedding vector_cosine_ops)"
        )
    pair.wait_replayed()
    search = f"SELECT id FROM {table} ORDER BY embedding <=> $1::vector LIMIT 10"
    query = str([rng.uniform(-1, 1) for _ in range(8)])
    found = []
    for url in (pair.primary_url, pair.standby_url):
        async with connect(url) as connection, connection.transaction():
            await connection.execute("SET LOCAL enable_seqscan = off")
            plan = "\n".join(r[0] for r in await connection.fetch(f"EXPLAIN {search}", query))
            assert f"hnsw_{table}" in plan
            found.append([row["id"] for row in await connection.fetch(search, query)])
    assert len(found[0]) == 10
    assert found[0] == found[1]


@pooler
async def test_the_pooler_shares_one_server_connection_between_clients(pooled: str) -> None:
    async with (
        connect(pooled, statement_cache_size=0) as a,
        connect(pooled, statement_cache_size=0) as b,
    ):
        assert await a.fetchval("SELECT $1::int + 1", 41) == 42
        # Both clients stay connected; each transaction borrows the one idle server
        # connection. Session pooling would have given ``b`` a second backend.
        assert await a.fetchval("SELECT pg_backend_pid()") == await b.fetchval(
            "SELECT pg_backend_pid()"
        )


@pooler
async def test_a_session_setting_leaks_to_the_next_client_and_set_local_does_not(
    pooled: str,
) -> None:
    async with (
        connect(pooled, statement_cache_size=0) as a,
        connect(pooled, statement_cache_size=0) as b,
    ):
        await a.execute("SET work_mem = '71MB'")
        assert await b.fetchval("SHOW work_mem") == "71MB"
        async with a.transaction():
            await a.execute("SET LOCAL work_mem = '72MB'")
            assert await a.fetchval("SHOW work_mem") == "72MB"
        assert await b.fetchval("SHOW work_mem") == "71MB"


async def next_transaction_elsewhere(url: str, **kwargs: Any) -> tuple[int, int, int]:
    """``a`` runs a statement, ``b`` then holds the server connection it used, and
    ``a`` runs the statement again, on a second server connection: the backend pids."""
    async with connect(url, **kwargs) as a, connect(url, **kwargs) as b:
        first = await a.fetchval(PARAMETERISED, 1)
        async with b.transaction():
            held = await b.fetchval("SELECT pg_backend_pid()")
            second = await a.fetchval(PARAMETERISED, 1)
    return first, held, second


@pooler
async def test_asyncpg_statement_cache_fails_when_a_transaction_gets_another_server(
    pooled: str,
) -> None:
    with pytest.raises(
        asyncpg.exceptions.InvalidSQLStatementNameError,
        match=r"__asyncpg_stmt_\w+__\" does not exist",
    ):
        await next_transaction_elsewhere(pooled)


@pooler
async def test_asyncpg_without_statement_cache_works_on_another_server(pooled: str) -> None:
    first, held, second = await next_transaction_elsewhere(pooled, statement_cache_size=0)
    assert first == held != second


async def sqlalchemy_next_transaction_elsewhere(url: str, **connect_args: Any) -> None:
    engine = create_async_engine(url, connect_args=connect_args)
    try:
        async with engine.connect() as a, engine.connect() as b:
            query = sa.text("SELECT pg_backend_pid() WHERE CAST(:one AS integer) = 1")
            first = (await a.execute(query, {"one": 1})).scalar()
            await a.commit()
            held = (await b.execute(sa.text("SELECT pg_backend_pid()"))).scalar()
            second = (await a.execute(query, {"one": 1})).scalar()
            assert first == held != second
    finally:
        await engine.dispose()


@pooler
async def test_sqlalchemy_statement_cache_fails_when_a_transaction_gets_another_server(
    pooled: str,
) -> None:
    with pytest.raises(
        DBAPIError, match=r"prepared statement \"__asyncpg_stmt_\w+__\" does not exist"
    ):
        await sqlalchemy_next_transaction_elsewhere(pooled)


@pooler
async def test_sqlalchemy_with_caches_off_works_on_another_server(pooled: str) -> None:
    await sqlalchemy_next_transaction_elsewhere(pooled, **POOLER_SAFE)


@pooler
async def test_a_pooler_that_tracks_prepared_statements_serves_asyncpg_defaults(
    admin_url: str,
) -> None:
    binary = servers.pgbouncer_binary()
    if binary is None:
        pytest.skip(PGBOUNCER_MISSING)
    version = servers.pgbouncer_version(binary)
    if version < PREPARED_STATEMENTS_SINCE:
        shown = ".".join(map(str, version))
        pytest.skip(f"pgbouncer {shown} cannot track prepared statements (needs 1.21 or later)")
    with pgbouncer(admin_url, max_prepared_statements=100) as tracking:
        async with fresh_database(admin_url, tracking) as url:
            first, held, second = await next_transaction_elsewhere(url)
    assert first == held != second


def test_a_missing_pgbouncer_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(servers, "pgbouncer_binary", lambda: None)
    with (
        pytest.raises(ServerUnavailable, match=re.escape(PGBOUNCER_MISSING)),
        pgbouncer("postgresql+asyncpg://postgres@127.0.0.1:1/postgres"),
    ):
        pass


def counted_names() -> Callable[[], str]:
    """Statement names as asyncpg makes them: a counter per process, from 1."""
    counter = itertools.count(1)
    return lambda: f"__asyncpg_stmt_{next(counter):x}__"


async def two_processes(url: str, names: Callable[[], Callable[[], str]]) -> None:
    """Two engines standing for two application processes; each leaves its named
    statements on the server connections its transactions used."""
    settings = {**POOLER_SAFE}
    engines: list[AsyncEngine] = []
    try:
        for _ in range(2):
            settings["prepared_statement_name_func"] = names()
            engines.append(create_async_engine(url, connect_args=dict(settings)))
        for engine in engines:
            async with engine.connect() as connection:
                assert (await connection.execute(sa.text("SELECT 1"))).scalar() == 1
    finally:
        for engine in engines:
            await engine.dispose()


@pooler
async def test_statement_names_counted_per_process_collide_on_a_shared_server(
    pooled: str,
) -> None:
    with pytest.raises(
        ProgrammingError, match=r"prepared statement \"__asyncpg_stmt_\w+__\" already exists"
    ):
        await two_processes(pooled, counted_names)


@pooler
async def test_unique_statement_names_do_not_collide(pooled: str) -> None:
    await two_processes(pooled, lambda: POOLER_SAFE["prepared_statement_name_func"])


@pooler
async def test_caches_off_survive_many_clients_sharing_two_server_connections(
    admin_url: str,
) -> None:
    with ExitStack() as stack:
        try:
            small_pool = stack.enter_context(pgbouncer(admin_url, pool_size=2))
        except ServerUnavailable as exc:
            pytest.skip(str(exc))
        async with fresh_database(admin_url, small_pool) as url:
            engine = create_async_engine(url, pool_size=8, max_overflow=0, connect_args=POOLER_SAFE)
            try:
                async with engine.begin() as connection:
                    await connection.execute(sa.text("CREATE TABLE hit (worker int, n int)"))
                seen = await asyncio.gather(*(_worker(engine, w) for w in range(8)))
                async with engine.connect() as connection:
                    rows = (await connection.execute(sa.text("SELECT count(*) FROM hit"))).scalar()
            finally:
                await engine.dispose()
    assert rows == 8 * 25
    assert len(set().union(*seen)) <= 2
    assert any(len(pids) == 2 for pids in seen)


async def _worker(engine: AsyncEngine, worker: int) -> set[int]:
    pids: set[int] = set()
    insert = sa.text("INSERT INTO hit VALUES (:worker, :n)")
    count = sa.text("SELECT count(*), pg_backend_pid() FROM hit WHERE worker = :worker")
    for n in range(25):
        async with engine.begin() as connection:
            await connection.execute(insert, {"worker": worker, "n": n})
            mine, pid = (await connection.execute(count, {"worker": worker})).one()
            assert mine == n + 1
            pids.add(pid)
    return pids
