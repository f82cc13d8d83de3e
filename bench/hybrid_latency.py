"""Hybrid search latency: hybrid p50 against vector-only p50 on the same tenant.

``python -m bench.hybrid_latency [--backend sqlite|postgres] [--url ADMIN_URL] [--rows N]``

Loads ``rows`` memories over 50 teams (2,000 per team at 100k) whose contents mix a few
hundred words with order numbers, then times, alternating call by call,
``search(vector, k=10)`` and ``search(vector, text="status of ORD-…", k=10)`` (RRF, both
lists 50 deep) in one team. Goals (issue 15): PostgreSQL hybrid p50 <= 1.5x vector p50;
SQLite hybrid p50 <= 3 ms with the team's vectors in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import uuid
from collections.abc import Iterator

from bench._common import (
    BATCH,
    TEAMS,
    create_database,
    interleaved_latencies,
    make_teams,
    open_store,
    p50_ms,
    postgres,
    report,
    vectors,
)
from skillstore import MemoryCreate, MemoryType

WORDS = [f"w{i}" for i in range(400)] + ["status", "refund", "shipped", "billing", "invoice"]


def contents(start: int, n: int) -> list[MemoryCreate]:
    rng = random.Random(start)
    return [
        MemoryCreate(
            content=f"Order ORD-{(start + i) % 20_000} "
            + " ".join(rng.choice(WORDS) for _ in range(14)),
            memory_type=MemoryType.SEMANTIC,
        )
        for i in range(n)
    ]


async def run(url: str, rows: int, queries: int) -> None:
    store = await open_store(url)
    teams = await make_teams(store)
    matrix = vectors(rows, seed=1)
    per = rows // TEAMS
    for t, team in enumerate(teams):
        for start in range(0, per, BATCH):
            n = min(BATCH, per - start)
            offset = t * per + start
            async with store.session(team_id=team) as s:
                await s.memories.add_many(
                    contents(offset, n), embeddings=matrix[offset : offset + n]
                )
    team = teams[TEAMS // 2]
    qs = vectors(queries, seed=2)
    rng = random.Random(5)
    texts = [f"status of ORD-{rng.randrange(20_000)} {rng.choice(WORDS)}" for _ in qs]

    async def vector(i: int) -> None:
        async with store.session(team_id=team) as s:
            await s.memories.search(list(map(float, qs[i])), k=10)

    async def hybrid(i: int) -> None:
        async with store.session(team_id=team) as s:
            await s.memories.search(list(map(float, qs[i])), text=texts[i], k=10)

    async def text(i: int) -> None:
        async with store.session(team_id=team) as s:
            await s.memories.search(text=texts[i], k=10)

    v, h, x = await interleaved_latencies([vector, hybrid, text], list(range(queries)), warmup=5)
    print(f"{store.dialect}: {rows} rows, {per} in the team, {queries} queries")
    print(f"    text-only p50 {p50_ms(x):.2f} ms")
    if store.dialect == "postgresql":
        report("hybrid vs vector-only p50", p50_ms(h), p50_ms(v), "ms", goal="<= 1.50")
    else:
        report("hybrid vs vector-only p50", p50_ms(h), p50_ms(v), "ms", goal="hybrid <= 3 ms")
    await store.close()


@contextlib.contextmanager
def database(backend: str, url: str | None) -> Iterator[str]:
    if backend == "sqlite":
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            yield f"sqlite+aiosqlite:///{d}/bench.db"
        return
    with contextlib.ExitStack() as stack:
        admin = url or stack.enter_context(postgres())
        yield asyncio.run(create_database(admin, f"hybrid_{uuid.uuid4().hex[:8]}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--url", help="PostgreSQL admin URL (else an embedded server)")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    with database(args.backend, args.url) as url:
        asyncio.run(run(url, args.rows - args.rows % TEAMS, args.queries))


if __name__ == "__main__":
    main()
