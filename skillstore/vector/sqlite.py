"""SQLite: exact search with numpy over the float32 blobs of the filtered candidates.

Every search here is exact, and answered the first of three ways that applies:

1. From memory (`skillstore.vector.sqlite_cache`): the candidates' vectors as read by an
   earlier search with the same filters, still valid by the table's version token. One
   matrix product; no blob is read.
2. With ``sqlite-vec`` (`skillstore.vector.sqlite_vec`), when it is loaded and the
   vectors are not being kept (they do not fit, or the cache is off): SQLite scores the
   blobs itself, ``ORDER BY vec_distance_cosine(...) LIMIT k``.
3. Otherwise the candidates' blobs are read in chunks of ``vector_chunk_rows`` and
   scored with one matrix product per chunk, keeping a running top ``k``, so memory
   stays bounded however many rows match; when the cache is on and they fit, the chunks
   are kept for (1).

The candidate rows are found with the ordinary indexed filters (team, agent, type). Only
``rowid`` and the raw blob are read per candidate, on the driver connection
(`skillstore.db.driver`): one aiosqlite call, one thread hop, per chunk. The winners' ids
(and ``returning`` columns) are fetched afterwards in one more call.

Rejected: an approximate index (sqlite-vec's ``vec0`` tables need a second copy of every
vector and cannot take our filters inside the scan); loading candidates into Python
lists (an order of magnitude slower than ``numpy.frombuffer`` over the joined blobs).
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from skillstore.db.driver import AnySelect, Shaped, driver_rows
from skillstore.settings import StoreSettings
from skillstore.vector import Neighbour, VectorQuery
from skillstore.vector.sqlite_cache import Entry, cache_for, entry_key
from skillstore.vector.sqlite_vec import CONNECTION_FLAG

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Ids = npt.NDArray[np.int64]
    Sims = npt.NDArray[np.float32]

FLOAT32_BYTES = 4
MIB = 1 << 20


def top_k(best_ids: Ids, best_sims: Sims, ids: Ids, sims: Sims, k: int) -> tuple[Ids, Sims]:
    """Merge a scored chunk into the running best ``k`` (unordered)."""
    import numpy as np

    all_ids = np.concatenate([best_ids, ids])
    all_sims = np.concatenate([best_sims, sims])
    if all_sims.size <= k:
        return all_ids, all_sims
    keep = np.argpartition(-all_sims, k - 1)[:k]
    return all_ids[keep], all_sims[keep]


def similarities(
    matrix: npt.NDArray[np.float32], norms: npt.NDArray[np.float32], unit: npt.NDArray[np.float32]
) -> Sims:
    """Cosine similarity of each row with the unit query (-2 where a row has no direction)."""
    import numpy as np

    # einsum, not ``matrix @ unit``: BLAS threads a product this small, and on a busy
    # machine waiting for its threads cost 10-50x the product itself (0.15 ms here).
    with np.errstate(divide="ignore", invalid="ignore"):
        sims = np.einsum("ij,j->i", matrix, unit) / norms
    scored: Sims = np.nan_to_num(sims, nan=-2.0).astype(np.float32)
    return scored


def _rowid(query: VectorQuery) -> sa.ColumnElement[int]:
    return sa.literal_column(f'"{query.table.name}".rowid', sa.Integer())


def _right_size(query: VectorQuery) -> sa.ColumnElement[bool]:
    # Vectors written under another dimension setting are not comparable.
    return sa.func.length(query.column) == sa.bindparam("blob_bytes", type_=sa.Integer())


class SQLiteBackend:
    """Exact cosine search; the candidates come from the indexed filters."""

    name = "sqlite-numpy"

    async def nearest(
        self, session: AsyncSession, query: VectorQuery, settings: StoreSettings
    ) -> list[Neighbour]:
        import numpy as np

        unit = query.vector / np.float32(np.linalg.norm(query.vector))
        budget = settings.sqlite_vector_cache_mb * MIB
        cache = cache_for(session)
        key: Hashable = None
        token = None
        if budget and cache.cacheable(query):
            token = await cache.token(session, query)
            if token is not None:
                key = entry_key(query)
                entry = cache.get(key, token)
                if entry is not None:
                    sims = similarities(entry.matrix, entry.norms, unit)
                    none = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
                    best = top_k(*none, entry.rowids, sims, query.k)
                    return await _winners(session, query, *best)
        keep = token if token is not None and not cache.too_big(key, token) else None
        if keep is None and settings.sqlite_vec and await _vec_loaded(session):
            return await _winners(session, query, *await _score_in_sql(session, query))
        best, kept = await _scan(session, query, unit, settings, keep, budget)
        if keep is not None:
            cache.put(key, kept, keep, budget)
        return await _winners(session, query, *best)


async def _scan(
    session: AsyncSession,
    query: VectorQuery,
    unit: npt.NDArray[np.float32],
    settings: StoreSettings,
    token: bytes | None,
    budget: int,
) -> tuple[tuple[Ids, Sims], Entry | None]:
    """Score every candidate's blob in chunks; with a ``token``, also return them as an
    `Entry` under it if they fit in ``budget`` bytes."""
    import numpy as np

    keep_bytes = budget if token is not None else 0
    rowid = _rowid(query)
    expires = query.table.c.get("expires_at") if keep_bytes else None
    extra = () if expires is None else (expires,)

    def candidates() -> AnySelect:
        blob = sa.type_coerce(query.column, sa.LargeBinary())
        return (
            sa.select(rowid, blob, *extra)
            .select_from(query.table)
            .where(
                *query.where, _right_size(query), rowid > sa.bindparam("after", type_=sa.Integer())
            )
            .order_by(rowid)
            .limit(sa.bindparam("chunk", type_=sa.Integer()))
        )

    best_ids = np.empty(0, dtype=np.int64)
    best_sims = np.empty(0, dtype=np.float32)
    kept: list[tuple[Ids, npt.NDArray[np.float32], npt.NDArray[np.float32]]] = []
    kept_bytes, soonest = 0, None
    after, chunk_rows = -1, settings.vector_chunk_rows
    while True:
        # One round trip per chunk (a tenant's candidates usually fit in one): pages by
        # rowid so that memory stays bounded however many rows match.
        chunk = await driver_rows(
            session,
            Shaped(
                shape=("sqlite-candidates", *query.shape(bool(extra))),
                filters=query.filters,
                build=candidates,
                params={
                    "blob_bytes": query.dimensions * FLOAT32_BYTES,
                    "after": after,
                    "chunk": chunk_rows,
                },
            ),
        )
        if not chunk:
            break
        ids = np.fromiter((row[0] for row in chunk), dtype=np.int64, count=len(chunk))
        matrix = np.frombuffer(b"".join([row[1] for row in chunk]), dtype="<f4")
        matrix = matrix.reshape(len(chunk), query.dimensions)
        norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))
        best_ids, best_sims = top_k(
            best_ids, best_sims, ids, similarities(matrix, norms, unit), query.k
        )
        if keep_bytes:
            kept_bytes += ids.nbytes + matrix.nbytes + norms.nbytes
            kept.append((ids, matrix, norms))
            soonest = _earliest(soonest, (row[2] for row in chunk) if extra else ())
            if kept_bytes > keep_bytes:
                keep_bytes, kept = 0, []
        if len(chunk) < chunk_rows:
            break
        after = int(ids[-1])
    entry = None
    if token is not None and keep_bytes:
        entry = Entry.of(token, kept, query.dimensions, valid_until=soonest)
    return (best_ids, best_sims), entry


def _earliest(soonest: datetime | None, values: Any) -> datetime | None:
    found = [v for v in values if v is not None]
    if soonest is not None:
        found.append(soonest)
    return min(found) if found else None


async def _vec_loaded(session: AsyncSession) -> bool:
    return bool((await session.connection()).info.get(CONNECTION_FLAG))


async def _score_in_sql(session: AsyncSession, query: VectorQuery) -> tuple[Ids, Sims]:
    """The top ``k`` scored by sqlite-vec inside SQLite (exact, same ranking as numpy)."""
    import numpy as np

    rowid = _rowid(query)
    distance = sa.func.vec_distance_cosine(
        sa.type_coerce(query.column, sa.LargeBinary()),
        sa.bindparam("q", type_=sa.LargeBinary()),
        type_=sa.Float(),
    )

    def scored() -> AnySelect:
        return (
            sa.select(rowid, distance)
            .select_from(query.table)
            .where(*query.where, _right_size(query))
            .order_by(distance, rowid)
            .limit(sa.bindparam("k", type_=sa.Integer()))
        )

    rows = await driver_rows(
        session,
        Shaped(
            shape=("sqlite-vec", *query.shape()),
            filters=query.filters,
            build=scored,
            params={
                "blob_bytes": query.dimensions * FLOAT32_BYTES,
                "q": query.vector.astype("<f4").tobytes(),
                "k": query.k,
            },
        ),
    )
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    sims = np.array([1.0 - r[1] for r in rows], dtype=np.float32)
    return ids, sims


async def _winners(
    session: AsyncSession, query: VectorQuery, best_ids: Ids, best_sims: Sims
) -> list[Neighbour]:
    """The winners best first (ties by rowid), with their ids and ``returning`` values."""
    import numpy as np

    if best_ids.size == 0:
        return []
    order = np.lexsort((best_ids, -best_sims))
    winners = [int(i) for i in best_ids[order]]
    rowid = _rowid(query)
    stmt = Shaped(
        shape=("sqlite-rows", *query.shape()),
        filters=None,
        build=lambda: (
            sa.select(rowid, query.table.c.id, *query.returning)
            .select_from(query.table)
            .where(rowid.in_(sa.bindparam("winners", expanding=True)))
        ),
        params={"winners": winners},
    )
    rows = await driver_rows(session, stmt)
    by_rowid = {int(r[0]): r[1:] for r in rows}
    return [
        Neighbour(by_rowid[w][0], float(s), tuple(by_rowid[w][1:]))
        for w, s in zip(winners, best_sims[order], strict=True)
    ]
