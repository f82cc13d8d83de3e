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

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skillstore.vector import Neighbour, VectorQuery
from skillstore.vector.sqlite_cache import Entry, cache_for, entry_key
from skillstore.vector.sqlite_vec import CONNECTION_FLAG

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from skillstore.db.unit import UnitOfWork
    from skillstore.store import Store

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

    def __init__(self, store: Store) -> None:
        self.store = store
        self.settings = store.settings

    async def nearest(self, uow: UnitOfWork, query: VectorQuery) -> list[Neighbour]:
        import numpy as np

        unit = query.vector / np.float32(np.linalg.norm(query.vector))
        budget = self.settings.sqlite_vector_cache_mb * MIB
        cache = cache_for(self.store)
        key = entry_key(query)
        token = None
        if budget and cache.cacheable(query):
            token = await cache.token(uow, query)
            if token is not None:
                entry = cache.get(key, token)
                if entry is not None:
                    sims = similarities(entry.matrix, entry.norms, unit)
                    none = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
                    best = top_k(*none, entry.rowids, sims, query.k)
                    return await self._winners(uow, query, *best)
        keep = token if token is not None and not cache.too_big(key, token) else None
        if keep is None and self.settings.sqlite_vec and uow.connection_info.get(CONNECTION_FLAG):
            return await self._winners(uow, query, *await self._score_in_sql(uow, query))
        best, kept = await self._scan(uow, query, unit, keep, budget)
        if keep is not None:
            cache.put(key, kept, keep, budget)
        return await self._winners(uow, query, *best)

    async def _scan(
        self,
        uow: UnitOfWork,
        query: VectorQuery,
        unit: npt.NDArray[np.float32],
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

        def candidates() -> sa.Executable:
            blob = sa.type_coerce(query.column, sa.LargeBinary())
            after = rowid > sa.bindparam("after", type_=sa.Integer())
            return (
                sa.select(rowid, blob, *extra)
                .select_from(query.table)
                .where(*query.where(), _right_size(query), after)
                .order_by(rowid)
                .limit(sa.bindparam("chunk", type_=sa.Integer()))
            )

        prepared = self.store.statements.get(
            ("sqlite-candidates", query.shape, bool(extra)), candidates
        )
        best_ids = np.empty(0, dtype=np.int64)
        best_sims = np.empty(0, dtype=np.float32)
        kept: list[tuple[Ids, npt.NDArray[np.float32], npt.NDArray[np.float32]]] = []
        kept_bytes, soonest = 0, None
        after, chunk_rows = -1, self.settings.vector_chunk_rows
        params: dict[str, Any] = {
            **query.params,
            "blob_bytes": query.dimensions * FLOAT32_BYTES,
            "chunk": chunk_rows,
        }
        while True:
            # One round trip per chunk (a tenant's candidates usually fit in one): pages by
            # rowid so that memory stays bounded however many rows match.
            chunk = await uow.rows(prepared, {**params, "after": after})
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

    async def _score_in_sql(self, uow: UnitOfWork, query: VectorQuery) -> tuple[Ids, Sims]:
        """The top ``k`` scored by sqlite-vec inside SQLite (exact, same ranking as numpy)."""
        import numpy as np

        rowid = _rowid(query)

        def scored() -> sa.Executable:
            distance = sa.func.vec_distance_cosine(
                sa.type_coerce(query.column, sa.LargeBinary()),
                sa.bindparam("q", type_=sa.LargeBinary()),
                type_=sa.Float(),
            )
            return (
                sa.select(rowid, distance)
                .select_from(query.table)
                .where(*query.where(), _right_size(query))
                .order_by(distance, rowid)
                .limit(sa.bindparam("k", type_=sa.Integer()))
            )

        prepared = self.store.statements.get(("sqlite-vec", query.shape), scored)
        params = {
            **query.params,
            "blob_bytes": query.dimensions * FLOAT32_BYTES,
            "q": query.vector.astype("<f4").tobytes(),
            "k": query.k,
        }
        rows = await uow.rows(prepared, params)
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        sims = np.array([1.0 - r[1] for r in rows], dtype=np.float32)
        return ids, sims

    async def _winners(
        self, uow: UnitOfWork, query: VectorQuery, best_ids: Ids, best_sims: Sims
    ) -> list[Neighbour]:
        """The winners best first (ties by rowid), with their ids and ``returning`` values."""
        import numpy as np

        if best_ids.size == 0:
            return []
        order = np.lexsort((best_ids, -best_sims))
        winners = [int(i) for i in best_ids[order]]
        rowid = _rowid(query)

        def rows_of() -> sa.Executable:
            returning = [query.table.c[name] for name in query.returning]
            return (
                sa.select(rowid, query.table.c.id, *returning)
                .select_from(query.table)
                .where(rowid.in_(sa.bindparam("winners", expanding=True)))
            )

        prepared = self.store.statements.get(
            ("sqlite-rows", query.table.name, query.returning), rows_of
        )
        rows = await uow.rows(prepared, {"winners": winners})
        by_rowid = {int(r[0]): r[1:] for r in rows}
        return [
            Neighbour(by_rowid[w][0], float(s), tuple(by_rowid[w][1:]))
            for w, s in zip(winners, best_sims[order], strict=True)
        ]


def _earliest(soonest: datetime | None, values: Any) -> datetime | None:
    found = [v for v in values if v is not None]
    if soonest is not None:
        found.append(soonest)
    return min(found) if found else None
