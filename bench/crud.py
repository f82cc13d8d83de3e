"""The everyday path: single-row CRUD, each call in its own session, against its limits.

Every call runs in its own ``store.session(...)``, as a web request uses it, and is timed
alternately, call by call, with the same work done two other ways in the same run:

- raw: the bare driver (asyncpg with prepared statements / aiosqlite), ``BEGIN;
  statements; COMMIT``, rows returned as the driver gives them (`bench._crud_raw`);
- SQLModel: ``AsyncSession`` on its own engine (a pool, no pre-ping) with the same table
  models, written as SQLModel's documentation writes it.

Goals: each call at most 2x raw and never slower than SQLModel; a fresh process reaches
its first query in 0.4 s; SQLite readers under a writer see p99 <= 50 ms and no "database
is locked". See bench/README.md.

    python -m bench.crud [--backend sqlite|postgres|both] [--n 300] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import defer
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bench import _crud_process, _crud_raw
from bench._common import create_database, interleaved_latencies, postgres
from skillstore import (
    AgentConfig,
    AgentConfigCreate,
    AgentConfigUpdate,
    Conversation,
    ConversationCreate,
    Memory,
    MemoryCreate,
    MemoryType,
    Message,
    MessageCreate,
    MessageRole,
    Store,
    StoreSettings,
    TeamCreate,
    UserCreate,
)
from skillstore.db.engine import register_vector_codec
from skillstore.db.types import utcnow
from skillstore.models.memory_log import MemoryAction, MemoryLog

DIM = 32
SETTINGS_MODEL = StoreSettings().embedding_model  # what the library records for given vectors
AGENTS = 60
MEMORIES = 100
WARMUP = 20
RAW_GOAL = 2.0
SQLMODEL_GOAL = 1.0

Call = Callable[[int], Awaitable[Any]]


def settings(url: str) -> StoreSettings:
    return StoreSettings(database_url=url, embedding_dimensions=DIM, bcrypt_rounds=4)


@dataclass(frozen=True)
class Fixture:
    """What the set-up stored: one team with ``AGENTS`` agents, memories, a conversation,
    and one agent per side for the updates (so each side knows its own version)."""

    team: uuid.UUID
    user: uuid.UUID
    agents: list[uuid.UUID]
    memories: list[uuid.UUID]
    conversation: uuid.UUID
    updated: dict[str, uuid.UUID]


def agent_create(i: int) -> AgentConfigCreate:
    """A configuration of everyday size: a prompt, rules, three skills, two integrations."""
    return AgentConfigCreate.model_validate(
        {
            "name": f"Agent {i}",
            "slug": f"agent-{i}",
            "tagline": "answers billing questions",
            "description": "Handles the billing inbox. " * 4,
            "status": "active",
            "personality": {
                "system_prompt_template": "You are {name}, a careful billing assistant. " * 3,
                "traits": {"warmth": 0.7, "precision": 0.9},
                "always_rules": ["cite the invoice number", "confirm amounts"],
                "never_rules": ["promise refunds"],
            },
            "skills": [{"name": f"skill-{k}", "order": k, "config": {"k": k}} for k in range(3)],
            "integrations": ["github", "slack"],
            "shared_skill_names": ["search", "summarize"],
        }
    )


async def populate(store: Store) -> Fixture:
    async with store.session() as s:
        email = f"crud-{uuid.uuid4().hex[:8]}@example.com"
        user = await s.users.create(
            UserCreate.model_validate(
                {"email": email, "password": "benchmark", "display_name": "crud"}
            )
        )
        team = await s.teams.create(
            TeamCreate(name="crud", slug=f"crud-{uuid.uuid4().hex[:6]}"), owner_id=user.id
        )
    async with store.session(team_id=team.id) as s:
        agents = [
            (await s.agents.create(agent_create(i), created_by=user.id)).id for i in range(AGENTS)
        ]
        updated = {
            side: (await s.agents.create(agent_create(AGENTS + k), created_by=user.id)).id
            for k, side in enumerate(("skillstore", "raw", "sqlmodel"))
        }
        matrix = np.random.default_rng(1).normal(size=(MEMORIES, DIM)).astype(np.float32)
        items = [memory_create(i, agents[0]) for i in range(MEMORIES)]
        memories = await s.memories.add_many(items, embeddings=matrix)
        conversation = await s.conversations.create(
            ConversationCreate(agent_id=agents[0], user_id=user.id, title="crud")
        )
    return Fixture(team.id, user.id, agents, memories, conversation.id, updated)


def memory_create(i: int, agent: uuid.UUID, *, vector: bool = False) -> MemoryCreate:
    embedding = np.random.default_rng(i).normal(size=DIM).tolist() if vector else None
    return MemoryCreate(
        content=f"memory {i}: the customer prefers invoices by email, in PDF",
        memory_type=MemoryType.SEMANTIC,
        agent_id=agent,
        importance=1 + i % 10,
        embedding=embedding,
    )


def sqlmodel_engine(url: str) -> AsyncEngine:
    """SQLModel's own engine: a pool, no pre-ping; on SQLite the library's pragmas, on
    PostgreSQL the binary codec for the vector type (as the library's engine has)."""
    engine = create_async_engine(url)
    if engine.dialect.name == "postgresql":

        @event.listens_for(engine.sync_engine, "connect")
        def _codec(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.run_async(register_vector_codec)

    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in _crud_raw.SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()

    return engine


@dataclass(frozen=True)
class Figure:
    """One row of the table: p50 seconds of each side."""

    label: str
    ours: float
    raw: float
    plain: float


class Sides:
    """The three ways of doing each call, on one database."""

    def __init__(
        self, store: Store, raw: _crud_raw.RawDriver, engine: AsyncEngine, fx: Fixture, n: int
    ) -> None:
        self.store, self.raw, self.engine, self.fx = store, raw, engine, fx
        self.raw_version = 1
        # Inputs arrive validated (as a web framework hands them over): built before timing.
        self.patches = [AgentConfigUpdate(tagline=f"tagline {i}") for i in range(n)]
        self.new_memories = [memory_create(i, fx.agents[0], vector=True) for i in range(n)]
        self.messages = [
            MessageCreate(
                role=MessageRole.USER, content=f"message {i}: my invoice?", token_count=12
            )
            for i in range(n)
        ]

    @asynccontextmanager
    async def plain(self) -> AsyncIterator[AsyncSession]:
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            yield session
            await session.commit()

    # ---- 1. agents.get -------------------------------------------------------------------
    def agent_of(self, i: int) -> uuid.UUID:
        return self.fx.agents[i % len(self.fx.agents)]

    async def get_agent(self, i: int) -> Any:
        async with self.store.session(team_id=self.fx.team) as s:
            return await s.agents.get(self.agent_of(i))

    async def get_agent_raw(self, i: int) -> Any:
        r = self.raw
        args = (r.uuid(self.agent_of(i)), r.uuid(self.fx.team))
        return [await r.read((_crud_raw.GET_AGENT, args))]

    async def get_agent_plain(self, i: int) -> Any:
        async with self.plain() as session:
            return await session.get(AgentConfig, self.agent_of(i))

    # ---- 2. memories.get -----------------------------------------------------------------
    def memory_of(self, i: int) -> uuid.UUID:
        return self.fx.memories[i % len(self.fx.memories)]

    async def get_memory(self, i: int) -> Any:
        async with self.store.session(team_id=self.fx.team) as s:
            return await s.memories.get(self.memory_of(i))

    async def get_memory_raw(self, i: int) -> Any:
        r = self.raw
        args = (r.uuid(self.memory_of(i)), r.uuid(self.fx.team))
        return [await r.read((_crud_raw.GET_MEMORY, args))]

    async def get_memory_plain(self, i: int) -> Any:
        async with self.plain() as session:
            without_vector = defer(Memory.embedding)  # type: ignore[arg-type]
            return await session.get(Memory, self.memory_of(i), options=[without_vector])

    # ---- 3. agents.update ----------------------------------------------------------------
    async def update_agent(self, i: int) -> Any:
        async with self.store.session(team_id=self.fx.team) as s:
            agent = self.fx.updated["skillstore"]
            return await s.agents.update(agent, self.patches[i])

    async def update_agent_raw(self, i: int) -> Any:
        r = self.raw
        agent = self.fx.updated["raw"]
        args = (
            self.patches[i].tagline,
            r.time(utcnow()),
            r.uuid(agent),
            r.uuid(self.fx.team),
            self.raw_version,
        )
        (rows,) = await r.transaction((_crud_raw.UPDATE_AGENT, args))
        assert rows, "the raw update's version guard failed"
        self.raw_version += 1
        return rows

    async def update_agent_plain(self, i: int) -> Any:
        async with self.plain() as session:
            row = await session.get(AgentConfig, self.fx.updated["sqlmodel"])
            assert row is not None
            row.sqlmodel_update(self.patches[i].model_dump(exclude_unset=True))
            row.version += 1
            session.add(row)
            return row

    # ---- 4. agents.find ------------------------------------------------------------------
    async def find_agents(self, i: int) -> Any:
        async with self.store.session(team_id=self.fx.team) as s:
            return await s.agents.find(limit=50)

    async def find_agents_raw(self, i: int) -> Any:
        return [await self.raw.read((_crud_raw.FIND_AGENTS, (self.raw.uuid(self.fx.team),)))]

    async def find_agents_plain(self, i: int) -> Any:
        stmt = (
            select(AgentConfig)
            .where(AgentConfig.team_id == self.fx.team)
            .order_by(col(AgentConfig.created_at).desc(), col(AgentConfig.id).desc())
            .limit(50)
        )
        async with self.plain() as session:
            return (await session.exec(stmt)).all()

    # ---- 5. memories.add -----------------------------------------------------------------
    async def add_memory(self, i: int) -> Any:
        async with self.store.session(team_id=self.fx.team) as s:
            return await s.memories.add(self.new_memories[i])

    async def add_memory_raw(self, i: int) -> Any:
        r, data = self.raw, self.new_memories[i]
        memory, now = uuid.uuid4(), r.time(utcnow())
        team = r.uuid(self.fx.team)
        empty = r.array([])
        memory_args = (
            r.uuid(memory), team, r.uuid(self.fx.agents[0]), data.memory_type.value,
            data.content, data.importance, data.confidence, data.is_pinned,
            data.source_type.value, empty, empty, empty, r.document({}), data.tier.value,
            data.status.value, now, now, SETTINGS_MODEL, r.vector(data.embedding or []),
        )  # fmt: skip
        log_args = (
            r.uuid(uuid.uuid4()), r.uuid(memory), team, data.content, data.importance,
            data.source_type.value, r.document({}), now,
        )  # fmt: skip
        insert = _crud_raw.INSERT_MEMORY.format(vector=r.vector_param("$19"))
        return await r.transaction((insert, memory_args), (_crud_raw.INSERT_MEMORY_LOG, log_args))

    async def add_memory_plain(self, i: int) -> Any:
        data = self.new_memories[i]
        async with self.plain() as session:
            fields = data.model_dump(exclude={"id"})
            fields.update(team_id=self.fx.team, embedding_model=SETTINGS_MODEL)
            row = Memory.model_validate(fields)
            session.add(row)
            session.add(
                MemoryLog(
                    memory_id=row.id,
                    team_id=self.fx.team,
                    action=MemoryAction.CREATED,
                    new_content=row.content,
                    new_importance=row.importance,
                    changed_by=data.source_type.value,
                )
            )
            return row

    # ---- 6. messages.append --------------------------------------------------------------
    async def append(self, i: int) -> Any:
        async with self.store.session(team_id=self.fx.team) as s:
            return await s.messages.append(self.fx.conversation, self.messages[i])

    async def append_raw(self, i: int) -> Any:
        r, data = self.raw, self.messages[i]
        now = r.time(utcnow())
        conversation, team = r.uuid(self.fx.conversation), r.uuid(self.fx.team)
        bump = (data.token_count, now, conversation, team)
        row = (
            r.uuid(uuid.uuid4()), team, data.role.value, data.content, data.token_count, now,
            conversation,
        )  # fmt: skip
        (bumped, _) = await r.transaction(
            (_crud_raw.BUMP_CONVERSATION, bump), (_crud_raw.INSERT_MESSAGE, row)
        )
        assert bumped, "the conversation is missing or closed"
        return bumped

    async def append_plain(self, i: int) -> Any:
        data, now = self.messages[i], utcnow()
        bump = (
            sa.update(Conversation)
            .where(
                col(Conversation.id) == self.fx.conversation,
                col(Conversation.team_id) == self.fx.team,
                col(Conversation.status) != "closed",
            )
            .values(
                message_count=col(Conversation.message_count) + 1,
                token_count=col(Conversation.token_count) + data.token_count,
                last_message_at=now,
            )
            .returning(Conversation)
        )
        async with self.plain() as session:
            assert (await session.exec(bump)).first() is not None
            update = {
                "conversation_id": self.fx.conversation,
                "team_id": self.fx.team,
                "created_at": now,
            }
            row = Message.model_validate(data, update=update)
            session.add(row)
            return row


async def check_first_calls(sides: Sides) -> None:
    """Before timing: the three sides of each read return the same rows."""
    lib, (raw,) = await sides.get_agent(0), await sides.get_agent_raw(0)
    plain = await sides.get_agent_plain(0)
    assert lib is not None and plain is not None and len(raw) == 1
    assert lib.id == plain.id == uuid.UUID(str(raw[0][0]))
    lib, (raw,) = await sides.get_memory(0), await sides.get_memory_raw(0)
    plain = await sides.get_memory_plain(0)
    assert lib is not None and plain is not None and len(raw) == 1 and lib.id == plain.id
    lib, (raw,) = await sides.find_agents(0), await sides.find_agents_raw(0)
    plain = await sides.find_agents_plain(0)
    assert [a.id for a in lib] == [a.id for a in plain] == [uuid.UUID(str(r[0])) for r in raw]


async def check_writes(store: Store, fx: Fixture) -> str:
    """After timing: every side's writes were complete (counters and log rows agree)."""
    async with store.session(team_id=fx.team) as s:
        conversation = await s.conversations.get(fx.conversation)
        messages = await s.messages.count(conversation_id=fx.conversation)
        memories = await s.memories.count()
        logs = await s.execute(
            sa.select(sa.func.count())
            .select_from(MemoryLog)
            .where(col(MemoryLog.team_id) == fx.team)
        )
        log_rows = int(logs.scalar_one())
    assert conversation is not None and conversation.message_count == messages
    assert memories == log_rows
    return (
        f"checked: message_count = {messages} messages; {memories} memories, "
        f"{log_rows} memory_log rows"
    )


async def three_ways(label: str, calls: list[Call], n: int) -> tuple[Figure, list[list[float]]]:
    samples = await interleaved_latencies(calls, list(range(n)), warmup=WARMUP)
    ours, raw, plain = (statistics.median(s) for s in samples)
    return Figure(label, ours, raw, plain), samples


def print_figures(figures: list[Figure]) -> None:
    print(
        f"  {'':34} {'skillstore':>10} {'raw':>8} {'SQLModel':>9} {'lib/raw':>8} "
        f"{'lib/SQLModel':>12}   goal (<= {RAW_GOAL:.0f}x raw, <= {SQLMODEL_GOAL:.0f}x SQLModel)"
    )
    for f in figures:
        to_raw = f.ours / f.raw
        to_plain = f.ours / f.plain
        met = to_raw <= RAW_GOAL and to_plain <= SQLMODEL_GOAL
        print(
            f"  {f.label:34} {f.ours * 1e6:10.0f} {f.raw * 1e6:8.0f} {f.plain * 1e6:9.0f} "
            f"{to_raw:8.2f} {to_plain:12.2f}   {'ok' if met else 'MISS'}"
        )


async def bench_backend(name: str, url: str, n: int, runs: int) -> None:
    start = time.perf_counter()
    store = await Store.open(settings=settings(url))
    await store.upgrade()
    migrated = time.perf_counter()
    fx = await populate(store)
    setup = (
        f"migrated in {migrated - start:.1f} s, populated in {time.perf_counter() - migrated:.1f} s"
    )
    raw = await _crud_raw.connect(url)
    engine = sqlmodel_engine(url)
    sides = Sides(store, raw, engine, fx, n)
    await check_first_calls(sides)
    print(f"\n== {name} ({setup})")
    print(f"  p50 us per call, each call in its own session / transaction, n={n}")
    plan = [
        ("1 agents.get", "get_agent"),
        ("2 memories.get", "get_memory"),
        ("3 agents.update(tagline)", "update_agent"),
        (f"4 agents.find(limit=50), {AGENTS + 3} agents", "find_agents"),
        ("5 memories.add (+ memory_log row)", "add_memory"),
        ("6 messages.append", "append"),
    ]
    figures = []
    rates: list[float] = []
    for label, method in plan:
        calls = [getattr(sides, method + suffix) for suffix in ("", "_raw", "_plain")]
        figure, samples = await three_ways(label, calls, n)
        figures.append(figure)
        if label.startswith("6"):
            rates = [len(s) / sum(s) for s in samples]
    print_figures(figures)
    print(
        f"  6 messages.append throughput, {n} sequential appends: skillstore {rates[0]:,.0f}/s, "
        f"raw {rates[1]:,.0f}/s, SQLModel {rates[2]:,.0f}/s "
        f"(raw/lib {rates[1] / rates[0]:.2f}, SQLModel/lib {rates[2] / rates[0]:.2f})"
    )
    print("  " + await check_writes(store, fx))
    await raw.close()
    await engine.dispose()
    await store.close()
    await _crud_process.fresh_process(url, fx.team, fx.agents[0], runs)
    if name == "sqlite":
        await _crud_process.readers_under_writer(
            url, settings(url), fx.team, fx.agents, fx.conversation, n
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--n", type=int, default=300, help="timed calls per side (300)")
    parser.add_argument(
        "--runs", type=int, default=None, help="fresh processes per kind (7; 3 when n < 100)"
    )
    parser.add_argument(
        "--postgres-url",
        default=None,
        help="an admin URL of a PostgreSQL with pgvector (default: start an embedded one)",
    )
    return parser.parse_args()


async def main() -> None:
    args = parse_args()
    runs = args.runs or (7 if args.n >= 100 else 3)
    _crud_process.import_times()
    if args.backend in {"sqlite", "both"}:
        with tempfile.TemporaryDirectory(prefix="skillstore-bench-crud-") as directory:
            url = f"sqlite+aiosqlite:///{Path(directory) / 'crud.db'}"
            await bench_backend("sqlite", url, args.n, runs)
    if args.backend in {"postgres", "both"}:
        name = f"bench_crud_{uuid.uuid4().hex[:8]}"
        if args.postgres_url:
            admin = (
                make_url(args.postgres_url)
                .set(drivername="postgresql+asyncpg")
                .render_as_string(hide_password=False)
            )
            url = await create_database(admin, name)
            try:
                await bench_backend("postgres", url, args.n, runs)
            finally:
                await _crud_process.drop_database(admin, name)
        else:
            with postgres() as admin:
                await bench_backend("postgres", await create_database(admin, name), args.n, runs)


if __name__ == "__main__":
    asyncio.run(main())
