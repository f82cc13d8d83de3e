"""SQLite benchmark 4: tenant-scoped top-10 search with no extension.

The figure is printed next to its physical limit measured in the same run: numpy's
top-10 over an in-memory float32 matrix of the same tenant's rows (no database, no I/O).
4 is the steady state (the team's vectors kept in memory between searches); 4b is a
search that must read them from the file (the first after any write to the table), and
4c the same with sqlite-vec scoring inside SQLite, when this Python can load it.

    python -m bench.memory_sqlite [--rows 100000] [--queries 100]
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np

from bench._common import (
    DIM,
    TEAMS,
    K,
    creates,
    ground_truth,
    make_teams,
    open_store,
    p50_ms,
    paired_latencies,
    recall,
    report,
    settings,
    workload,
)
from skillstore import Store
from skillstore.vector import sqlite_vec


async def main() -> None:
    work = workload(__doc__)
    rows, per, matrix, queries = work.rows, work.per, work.matrix, work.queries
    with tempfile.TemporaryDirectory(prefix="skillstore-bench-sqlite-") as root:
        store = await open_store(f"sqlite+aiosqlite:///{Path(root) / 'bench.db'}")
        teams = await make_teams(store)
        print(f"SQLite, {rows:,} memories x {DIM} dims across {TEAMS} teams, "
              f"{len(queries)} queries, structured (low-rank + noise) vectors\n")  # fmt: skip
        ids = []
        start = time.perf_counter()
        for t in range(TEAMS):
            part = matrix[t * per : (t + 1) * per]
            batch = creates(part, t * per)
            async with store.session(team_id=teams[t]) as s:
                ids.append(await s.memories.add_many(batch, embeddings=part))
        print(f"    (loaded with add_many at {rows / (time.perf_counter() - start):,.0f} rows/s, "
              "memory and log rows, validation included)")  # fmt: skip

        team = 7
        team_rows = matrix[team * per : (team + 1) * per]
        truth = [{ids[team][i] for i in ground_truth(team_rows, q)} for q in queries]
        unit = team_rows / np.linalg.norm(team_rows, axis=1, keepdims=True)

        async def numpy_top_k(q: np.ndarray) -> np.ndarray:
            sims = unit @ (q / np.linalg.norm(q))
            top = np.argpartition(-sims, K)[:K]
            return top[np.argsort(-sims[top])]

        await store.close()
        url = store.settings.database_url
        variants = [
            ("4. SQLite tenant-scoped top-10, vectors kept in memory", {}),
            ("4b. the same, read from the file (first search after a write)",
             {"sqlite_vector_cache_mb": 0, "sqlite_vec": False}),
        ]  # fmt: skip
        if sqlite_vec.unavailable() is None:
            variants.append(("4c. the same, scored by sqlite-vec", {"sqlite_vector_cache_mb": 0}))
        else:
            print(f"    (4c skipped: sqlite-vec {sqlite_vec.unavailable()})")
        for title, overrides in variants:
            variant = await Store.open(settings=settings(url).model_copy(update=overrides))
            async with variant.session(team_id=teams[team]) as s:
                found = [{h.memory.id for h in await s.memories.search(q, k=K)} for q in queries]
                times, limit = await paired_latencies(
                    lambda q, s=s: s.memories.search(q, k=K), numpy_top_k, list(queries)
                )
            report(f"{title}, {per:,}-row team of {rows:,} (p50 ms)",
                   p50_ms(times), p50_ms(limit), "ms", goal="p50 <= 3 ms",
                   note=f"recall@10 {recall(found, truth):.3f} (goal 1.0)")  # fmt: skip
            await variant.close()


if __name__ == "__main__":
    asyncio.run(main())
