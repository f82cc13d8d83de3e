"""LangGraph checkpoints: `SkillstoreSaver` against LangGraph's own savers, same database.

One graph step is what a checkpointer does per super-step: ``aput`` of a checkpoint that
changed one channel (a message list growing by one message) and the ``aget_tuple`` the
next step reads. The peer is LangGraph's ``AsyncSqliteSaver`` on the same SQLite file,
or ``AsyncPostgresSaver`` on the same PostgreSQL database; each side has its own thread
and steps are timed alternately, step by step. Goal: at most 1.0 times the peer.

Needs the peers, for the benchmark only::

    pip install langgraph-checkpoint-sqlite langgraph-checkpoint-postgres 'psycopg[binary]'

    python -m bench.langgraph [--steps 300] [--backend sqlite|postgres|both] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver, create_checkpoint, empty_checkpoint
from sqlalchemy.engine import make_url

from bench._common import create_database, interleaved_latencies, make_teams, open_store, p50_ms
from bench._common import postgres as embedded_postgres
from skillstore.integrations.langgraph import SkillstoreSaver

Step = Callable[[int], Any]


def stepper(saver: BaseCheckpointSaver[Any]) -> Step:
    """A closure doing step ``i`` on its own thread: put, then read back the latest."""
    config: Any = {"configurable": {"thread_id": str(uuid.uuid4()), "checkpoint_ns": ""}}
    state = {"checkpoint": empty_checkpoint(), "messages": []}

    async def step(_: int) -> None:
        i = len(state["messages"])  # steps so far (the warm-up included)
        messages = [*state["messages"], {"role": "user", "content": f"message {i} " * 8}]
        checkpoint = create_checkpoint(state["checkpoint"], None, i)
        version = f"{i + 1:032}.0"
        checkpoint["channel_values"] = {"messages": messages, "step": i}
        checkpoint["channel_versions"] = {"messages": version, "step": version}
        saved = await saver.aput(
            config,
            checkpoint,
            {"source": "loop", "step": i},
            {"messages": version, "step": version},
        )
        config["configurable"]["checkpoint_id"] = saved["configurable"]["checkpoint_id"]
        found = await saver.aget_tuple(config)
        assert found is not None and len(found.checkpoint["channel_values"]["messages"]) == i + 1
        state.update(checkpoint=checkpoint, messages=messages)

    return step


@asynccontextmanager
async def peer_sqlite(path: str) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with AsyncSqliteSaver.from_conn_string(path) as saver:
        await saver.setup()
        yield saver


@asynccontextmanager
async def peer_postgres(url: str) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    async with AsyncPostgresSaver.from_conn_string(plain) as saver:
        await saver.setup()
        yield saver


async def compare(name: str, url: str, peer: AbstractAsyncContextManager[Any], steps: int) -> None:
    store = await open_store(url)
    try:
        (team,) = await make_teams(store, 1)
        ours = SkillstoreSaver(store, team_id=team)
        async with peer as theirs:
            times = await interleaved_latencies(
                [stepper(ours), stepper(theirs)], list(range(steps))
            )
        lib, limit = p50_ms(times[0]), p50_ms(times[1])
        print(
            f"{name}: aput + aget_tuple per step, p50 over {steps} steps: skillstore {lib:.2f} ms, "
            f"{type(theirs).__name__} {limit:.2f} ms, ratio {lib / limit:.2f} (goal <= 1.0)"
        )
    finally:
        await store.close()


async def main(args: argparse.Namespace) -> None:
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as root:
            path = f"{root}/bench.db"
            await compare("SQLite", f"sqlite+aiosqlite:///{path}", peer_sqlite(path), args.steps)
    if args.backend in ("postgres", "both"):
        if args.postgres_url:
            url = await create_database(args.postgres_url, f"bench_lg_{uuid.uuid4().hex[:8]}")
            await compare("PostgreSQL", url, peer_postgres(url), args.steps)
        else:
            with embedded_postgres() as admin:
                url = await create_database(admin, f"bench_lg_{uuid.uuid4().hex[:8]}")
                await compare("PostgreSQL", url, peer_postgres(url), args.steps)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--postgres-url", default=None)
    asyncio.run(main(parser.parse_args()))
