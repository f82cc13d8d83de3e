"""SQLite: the vectors of a filter set kept in memory between searches, exact by a token.

Why: reading a 2,000-row team's vectors (3 MB of blobs) out of the SQLite file costs
4-8 ms per search, twenty times what numpy needs to score them; even ``sqlite-vec``
scoring inside SQLite pays the same page reads. Kept in memory, a search is one indexed
point read (the token), one matrix product and one read of the ``k`` winners' rows.

How it stays exact:
- Triggers (`skillstore.db.ddl.VECTOR_VERSION`, created by the migrations) replace a
  random token in the same transaction as any insert, delete or update of a row, whoever
  writes: this process, another one, or raw SQL. There is one token per team and one for
  the whole table: a search filtered by team checks its team's, so other teams' writes
  leave its vectors alone. Only the columns that reading itself writes (``touch``:
  access counts) are left out, and a search filtered on one of those is never answered
  from memory.
- A search reads the token inside its own transaction, so it sees its own uncommitted
  writes (and a new token) and nobody else's. Vectors are used only under the token they
  were read with. Tokens are random, not counters: a rolled-back transaction's counter
  value would come back later for different rows.
- Time: the filters compare ``expires_at`` with the clock; rows expired when the vectors
  were read stay excluded (time only moves forward), and the entry is dropped when the
  earliest ``expires_at`` among its rows has passed.

Entries are keyed by table, column, dimension and the filters with their values, kept
least-recently-used first within ``StoreSettings.sqlite_vector_cache_mb`` per database
and process. A filter set whose vectors do not fit is remembered (per token) and scored
without collecting them.

Rejected: ``PRAGMA data_version`` (per connection and blind to that connection's own
commits, so every pooled connection would need its own bookkeeping), invalidation from
the repositories (misses raw SQL and other processes), and patching entries row by row
on writes (the triggers would have to carry the rows; rebuilding costs one uncached
search).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BinaryExpression, BindParameter

from skillstore.db.ddl import ANY_ROW, EPOCH, VECTOR_VERSION, VECTOR_VOLATILE_COLUMNS
from skillstore.db.driver import Shaped, driver_rows
from skillstore.vector import VectorQuery

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Ids = npt.NDArray[np.int64]

_VERSION = sa.Table(
    VECTOR_VERSION,
    sa.MetaData(),
    sa.Column("table_name", sa.String(100), primary_key=True),
    sa.Column("scope", sa.String(100), primary_key=True),
    sa.Column("token", sa.LargeBinary()),
)
_TOKEN = Shaped(
    shape=("vector-version",),
    filters=None,
    # The scope's own token, else the epoch's (a team nobody wrote to since migrating).
    build=lambda: (
        sa.select(_VERSION.c.token)
        .where(
            _VERSION.c.table_name == sa.bindparam("table", type_=sa.String()),
            _VERSION.c.scope.in_(
                [sa.bindparam("scope", type_=sa.String()), sa.literal_column(f"'{EPOCH}'")]
            ),
        )
        .order_by(_VERSION.c.scope.desc())
        .limit(sa.bindparam("one", type_=sa.Integer()))
    ),
)
_HAS_VERSIONS = Shaped(
    shape=("vector-version-exists",),
    filters=None,
    build=lambda: (
        sa.select(sa.literal_column("1"))
        .select_from(sa.table("sqlite_master"))
        .where(sa.text(f"type = 'table' AND name = '{VECTOR_VERSION}'"))
    ),
)


@dataclass(frozen=True)
class Entry:
    """The candidates' vectors as read under ``token``."""

    token: bytes
    rowids: Ids
    matrix: npt.NDArray[np.float32]
    norms: npt.NDArray[np.float32]
    valid_until: datetime | None
    """The earliest ``expires_at`` among the rows (None: none expires)."""

    @classmethod
    def of(
        cls,
        token: bytes,
        chunks: list[tuple[Ids, npt.NDArray[np.float32], npt.NDArray[np.float32]]],
        dimensions: int,
        *,
        valid_until: datetime | None,
    ) -> Entry:
        """An entry from chunks of (rowids, vectors, norms) read under ``token``."""
        import numpy as np

        return cls(
            token=token,
            rowids=np.concatenate([np.empty(0, dtype=np.int64), *(c[0] for c in chunks)]),
            matrix=np.concatenate(
                [np.empty((0, dimensions), dtype=np.float32), *(c[1] for c in chunks)]
            ),
            norms=np.concatenate([np.empty(0, dtype=np.float32), *(c[2] for c in chunks)]),
            valid_until=valid_until,
        )

    @property
    def nbytes(self) -> int:
        return int(self.rowids.nbytes + self.matrix.nbytes + self.norms.nbytes)


class VectorCache:
    """The entries of one database in this process."""

    def __init__(self) -> None:
        self._entries: OrderedDict[Hashable, Entry] = OrderedDict()
        self._too_big: dict[Hashable, bytes] = {}
        self._bytes = 0
        self._versioned = False
        self._cacheable: dict[Hashable, bool] = {}
        self.hits = 0
        """Searches answered from memory (a diagnostic; the tests watch it)."""

    def cacheable(self, query: VectorQuery) -> bool:
        """Whether ``query``'s filters leave out the columns reading writes."""
        shape = query.filters.key
        known = self._cacheable.get(shape)
        if known is None:
            known = not any(
                isinstance(element, sa.Column)
                and element.table is query.table
                and element.name in VECTOR_VOLATILE_COLUMNS
                for clause in query.where
                for element in visitors.iterate(clause)
            )
            self._cacheable[shape] = known
        return known

    async def token(self, session: AsyncSession, query: VectorQuery) -> bytes | None:
        """The token of the rows ``query`` can see, as this transaction sees it: its
        team's when it is filtered by one, else the whole table's (None: not versioned)."""
        if not self._versioned:
            # Checked until found: a database migrated later gains the table.
            if not await driver_rows(session, _HAS_VERSIONS):
                return None
            self._versioned = True
        params = {"table": query.table.name, "scope": _scope(query, session), "one": 1}
        rows = await driver_rows(session, replace(_TOKEN, params=params))
        return bytes(rows[0][0]) if rows else None

    def get(self, key: Hashable, token: bytes) -> Entry | None:
        entry = self._entries.get(key)
        if entry is not None and entry.token == token:
            if entry.valid_until is None or datetime.now(UTC) < entry.valid_until:
                self._entries.move_to_end(key)
                self.hits += 1
                return entry
            self._drop(key)
        return None

    def too_big(self, key: Hashable, token: bytes) -> bool:
        """Whether the vectors under ``key`` did not fit when last read under ``token``."""
        return self._too_big.get(key) == token

    def put(self, key: Hashable, entry: Entry | None, token: bytes, budget: int) -> None:
        """Keep ``entry`` (None: it did not fit in ``budget`` bytes), evicting the least
        recently used ones."""
        self._drop(key)
        if entry is None:
            if len(self._too_big) > 4096:
                self._too_big.clear()
            self._too_big[key] = token
            return
        self._too_big.pop(key, None)
        while self._entries and self._bytes + entry.nbytes > budget:
            self._drop(next(iter(self._entries)))
        self._entries[key] = entry
        self._bytes += entry.nbytes

    def _drop(self, key: Hashable) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.nbytes


def _scope(query: VectorQuery, session: AsyncSession) -> str:
    """The team the filters pin (``team_id = :value``), as the triggers see it, or `ANY_ROW`."""
    for clause in query.where:
        if (
            isinstance(clause, BinaryExpression)
            and clause.operator is operators.eq
            and isinstance(clause.left, sa.Column)
            and clause.left.table is query.table
            and clause.left.name == "team_id"
            and isinstance(clause.right, BindParameter)
        ):
            stored = clause.left.type._cached_bind_processor(session.get_bind().dialect)
            value = clause.right.effective_value
            return str(stored(value) if stored is not None else value)
    return ANY_ROW


_CACHES: weakref.WeakKeyDictionary[sa.Engine, VectorCache] = weakref.WeakKeyDictionary()


def cache_for(session: AsyncSession) -> VectorCache:
    """The cache of the session's database (one per engine in this process)."""
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, sa.Connection) else bind
    cache = _CACHES.get(engine)
    if cache is None:
        cache = _CACHES[engine] = VectorCache()
    return cache


def _hashable(value: Any) -> Hashable:
    return tuple(value) if isinstance(value, list | set | frozenset) else value


def entry_key(query: VectorQuery) -> Hashable:
    """What identifies a candidate set: table, column, dimension, filters and values."""
    values = tuple(_hashable(b.effective_value) for b in query.filters.bindparams)
    return (query.table.name, query.column.key, query.dimensions, query.filters.key, values)


__all__ = ["Entry", "VectorCache", "cache_for", "entry_key"]
