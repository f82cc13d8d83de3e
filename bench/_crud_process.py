"""``bench.crud`` 7 and 8: a fresh process's first query, and SQLite readers under a writer.

7 spawns a new interpreter per run (``sys.executable``), so it pays everything a
short-lived worker or a CLI pays: interpreter start, imports, engine and pool set-up, the
first connection and the first query. Runs of the kinds alternate; no run is left
out, since the benchmark's own process has already imported (and byte-compiled)
everything the children import.

8 is one event loop, as one web process is: eight reader tasks loop ``agents.get``, each
in its own session, while one writer task makes ``n`` ``messages.append``. It is run with one Store
(one pool: how one web process uses the library), with a Store per reader (separate
pools: the locking eight worker processes would see, without their separate GILs), and
with raw aiosqlite readers (``BEGIN`` deferred) under the same library writer: the limit.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiosqlite
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench import _crud_raw
from skillstore import MessageCreate, MessageRole, Store, StoreSettings

FRESH_GOAL_S = 0.4
READERS = 8
P99_GOAL_MS = 50.0

LIBRARY = """
import asyncio, sys, uuid
from skillstore import Store

async def main():
    store = await Store.open(sys.argv[1])
    async with store.session(team_id=uuid.UUID(sys.argv[2])) as s:
        assert await s.agents.get(uuid.UUID(sys.argv[3])) is not None
    await store.close()

asyncio.run(main())
"""
RAW_POSTGRES = f"""
import asyncio, sys, uuid
import asyncpg

async def main():
    conn = await asyncpg.connect(sys.argv[1])
    agent, team = uuid.UUID(sys.argv[3]), uuid.UUID(sys.argv[2])
    row = await conn.fetchrow({_crud_raw.GET_AGENT!r}, agent, team)
    assert row is not None
    await conn.close()

asyncio.run(main())
"""
RAW_SQLITE = f"""
import asyncio, sys, uuid
import aiosqlite

async def main():
    async with aiosqlite.connect(sys.argv[1]) as conn:
        sql = {_crud_raw.GET_AGENT.replace("$", "?")!r}
        agent, team = uuid.UUID(sys.argv[3]).hex, uuid.UUID(sys.argv[2]).hex
        rows = await conn.execute_fetchall(sql, (agent, team))
        assert rows

asyncio.run(main())
"""


def _run(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


async def fresh_process(url: str, team: uuid.UUID, agent: uuid.UUID, runs: int) -> None:
    """7: median wall time of a fresh process reaching its first ``agents.get``."""
    env = {**os.environ, "SKILLSTORE_EMBEDDING_DIMENSIONS": "32"}
    py = sys.executable
    if make_url(url).get_backend_name() == "sqlite":
        raw = [py, "-c", RAW_SQLITE, make_url(url).database or ""]
    else:
        raw = [py, "-c", RAW_POSTGRES, _crud_raw.asyncpg_dsn(url)]
    ids = [str(team), str(agent)]
    argvs = {
        "skillstore": [py, "-c", LIBRARY, url, *ids],
        "raw driver": [*raw, *ids],
        "import sqlmodel": [py, "-c", "import sqlmodel"],
        "python -c pass": [py, "-c", "pass"],
    }
    names = list(argvs)
    times: dict[str, list[float]] = {k: [] for k in names}
    loop = asyncio.get_running_loop()
    for i in range(runs):
        for j in range(len(names)):
            k = names[(i + j) % len(names)]
            times[k].append(await loop.run_in_executor(None, _run, argvs[k], env))
    med = {k: statistics.median(v) for k, v in times.items()}
    ours = med["skillstore"]
    print(f"  7 fresh process -> first agents.get, median of {runs} runs (s):")
    print(
        f"    skillstore {ours:.3f}   raw driver {med['raw driver']:.3f}   "
        f"floor `import sqlmodel` {med['import sqlmodel']:.3f}   "
        f"`python -c pass` {med['python -c pass']:.3f}"
    )
    floor = med["import sqlmodel"]
    print(
        f"    lib/raw {ours / med['raw driver']:.2f}   lib/floor {ours / floor:.2f}   "
        f"goal <= {FRESH_GOAL_S} s: {'ok' if ours <= FRESH_GOAL_S else 'MISS'}"
    )


def import_times(top: int = 15) -> None:
    """The ``top`` cumulative entries of ``python -X importtime -c 'import skillstore'``."""
    argv = [sys.executable, "-X", "importtime", "-c", "import skillstore"]
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    entries = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, total, module = line.removeprefix("import time:").split("|")
        entries.append((int(total), module.rstrip()))
    entries.sort(reverse=True)
    print(f"`python -X importtime -c 'import skillstore'`, top {top} cumulative (ms):")
    for cumulative, name in entries[:top]:
        print(f"  {cumulative / 1000:8.1f}  {name}")


@dataclass(frozen=True)
class _Scene:
    """What every variant of 8 shares: the writer's store and the rows both sides touch."""

    writer: Store
    team: uuid.UUID
    agents: list[uuid.UUID]
    conversation: uuid.UUID
    appends: int


async def readers_under_writer(
    url: str,
    settings: StoreSettings,
    team: uuid.UUID,
    agents: list[uuid.UUID],
    conversation: uuid.UUID,
    n: int,
) -> None:
    """8: ``READERS`` reader tasks doing ``agents.get`` for as long as one writer task
    takes to make ``n`` appends."""
    print(
        f"  8 SQLite: {READERS} readers loop agents.get (own session each) while one writer "
        f"makes {n} messages.append (own session each); goal: reads p99 <= {P99_GOAL_MS:.0f} ms, "
        'no "database is locked"'
    )
    writer = await Store.open(settings=settings)
    scene = _Scene(writer, team, agents, conversation, n)
    shared = await Store.open(settings=settings)
    try:
        await _variant("one Store (one pool)", [_store_reader(shared, team)] * READERS, scene)
        own = [await Store.open(settings=settings) for _ in range(READERS)]
        try:
            await _variant("a Store per reader", [_store_reader(o, team) for o in own], scene)
        finally:
            for store in own:
                await store.close()
        raw = [await _RawReader.open(url, team) for _ in range(READERS)]
        try:
            await _variant("raw aiosqlite readers (limit)", [r.get for r in raw], scene)
        finally:
            for reader in raw:
                await reader.close()
    finally:
        await shared.close()
        await writer.close()


Reader = Callable[[uuid.UUID], Awaitable[Any]]


def _store_reader(store: Store, team: uuid.UUID) -> Reader:
    async def get(agent: uuid.UUID) -> Any:
        async with store.session(team_id=team) as s:
            return await s.agents.get(agent)

    return get


class _RawReader:
    """The limit: a bare aiosqlite connection, ``BEGIN`` (deferred), the SELECT, commit."""

    def __init__(self, conn: aiosqlite.Connection, team: uuid.UUID) -> None:
        self.conn, self.team = conn, team.hex
        self.sql = _crud_raw.GET_AGENT.replace("$", "?")

    @classmethod
    async def open(cls, url: str, team: uuid.UUID) -> _RawReader:
        conn = await aiosqlite.connect(make_url(url).database or "", isolation_level=None)
        for pragma in _crud_raw.SQLITE_PRAGMAS:
            await conn.execute(pragma)
        return cls(conn, team)

    async def get(self, agent: uuid.UUID) -> Any:
        await self.conn.execute("BEGIN")
        rows = await self.conn.execute_fetchall(self.sql, (agent.hex, self.team))
        await self.conn.commit()
        return rows

    async def close(self) -> None:
        await self.conn.close()


def _error_class(exc: BaseException) -> str:
    locked = "database is locked" in str(exc)
    return type(exc).__name__ + (' ("database is locked")' if locked else "")


async def _variant(label: str, readers: list[Reader], scene: _Scene) -> None:
    reads: list[float] = []
    writes: list[float] = []
    errors: Counter[str] = Counter()
    done = asyncio.Event()

    async def read(k: int, get: Reader) -> None:
        i = 0
        while not done.is_set():
            start = time.perf_counter()
            try:
                await get(scene.agents[(k + i * READERS) % len(scene.agents)])
            except Exception as exc:
                errors[_error_class(exc)] += 1
            reads.append(time.perf_counter() - start)
            i += 1

    async def write() -> None:
        message = MessageCreate(role=MessageRole.ASSISTANT, content="on its way", token_count=3)
        try:
            for _ in range(scene.appends):
                start = time.perf_counter()
                try:
                    async with scene.writer.session(team_id=scene.team) as s:
                        await s.messages.append(scene.conversation, message)
                except Exception as exc:
                    errors["writer " + _error_class(exc)] += 1
                writes.append(time.perf_counter() - start)
                await asyncio.sleep(0)
        finally:
            done.set()

    start = time.perf_counter()
    await asyncio.gather(write(), *(read(k, get) for k, get in enumerate(readers)))
    elapsed = time.perf_counter() - start
    ms = sorted(x * 1000 for x in reads)
    p50, p99 = statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    locked = sum(v for k, v in errors.items() if "locked" in k)
    met = p99 <= P99_GOAL_MS and not locked
    shown = ", ".join(f"{k} x{v}" for k, v in sorted(errors.items())) or "none"
    print(
        f"    {label:30} reads p50 {p50:6.2f} ms  p99 {p99:7.2f} ms  ({len(ms) / elapsed:,.0f}/s)"
        f"   writer p50 {statistics.median(writes) * 1000:6.2f} ms ({len(writes) / elapsed:,.0f}/s)"
        f"   errors: {shown}   {'ok' if met else 'MISS'}"
    )


async def drop_database(admin_url: str, name: str) -> None:
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()
