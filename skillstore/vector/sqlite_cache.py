"""SQLite: the vectors of a filter set kept in memory between searches, exact by a token.

Why: reading a 2,000-row team's vectors (3 MB of blobs) out of the SQLite file costs
4-8 ms per search, twenty times what numpy needs to score them; even ``sqlite-vec``
scoring inside SQLite pays the same page reads. Kept in memory, a search is one indexed
point read (the token), one matrix product and one read of the ``k`` winners' rows.

How it stays exact:
- Triggers (`skillstore.db.schema.VECTOR_VERSION`, created by the migrations) replace a
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
least-recently-used first within ``StoreSettings.sqlite_vector_cache_mb`` per store
(``Store.caches``), never at module level. A filter set whose vectors do not fit is
remembered (per token) and scored without collecting them.

Rejected: ``PRAGMA data_version`` (per connection and blind to that connection's own
commits, so every pooled connection would need its own bookkeeping), invalidation from
the repositories (misses raw SQL and other processes), and patching entries row by row
on writes (the triggers would have to carry the rows; rebuilding costs one uncached
search).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from skillstore.db.schema import ANY_ROW, EPOCH, VECTOR_VERSION, VECTOR_VOLATILE_COLUMNS
from skillstore.vector import VectorQuery

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from skillstore.db.unit import UnitOfWork
    from skillstore.store import Store

    Ids = npt.NDArray[np.int64]

_VERSION = sa.Table(
    VECTOR_VERSION,
    sa.MetaData(),
    sa.Column("table_name", sa.String(100), primary_key=True),
    sa.Column("scope", sa.String(100), primary_key=True),
    sa.Column("token", sa.LargeBinary()),
)
MAX_REMEMBERED = 4096


def _token() -> sa.Executable:
    # The scope's own token, else the epoch's (a team nobody wrote to since migrating).
    return (
        sa.select(_VERSION.c.token)
        .where(
            _VERSION.c.table_name == sa.bindparam("table", type_=sa.String()),
            _VERSION.c.scope.in_(
                [sa.bindparam("scope", type_=sa.String()), sa.literal_column(f"'{EPOCH}'")]
            ),
        )
        .order_by(_VERSION.c.scope.desc())
        .limit(1)
    )


def _has_versions() -> sa.Executable:
    return (
        sa.select(sa.literal_column("1"))
        .select_from(sa.table("sqlite_master"))
        .where(sa.text(f"type = 'table' AND name = '{VECTOR_VERSION}'"))
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
    """The entries of one store's database in this process."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._entries: OrderedDict[Hashable, Entry] = OrderedDict()
        self._too_big: dict[Hashable, bytes] = {}
        self._bytes = 0
        self._versioned = False
        self.hits = 0
        """Searches answered from memory (a diagnostic; the tests watch it)."""

    @staticmethod
    def cacheable(query: VectorQuery) -> bool:
        """Whether ``query``'s filters leave out the columns reading writes."""
        return not any(f.column in VECTOR_VOLATILE_COLUMNS for f in query.filters)

    async def token(self, uow: UnitOfWork, query: VectorQuery) -> bytes | None:
        """The token of the rows ``query`` can see, as this transaction sees it: its
        team's when it is filtered by one, else the whole table's (None: not versioned)."""
        statements = self._store.statements
        if not self._versioned:
            # Checked until found: a database migrated later gains the table.
            if not await uow.rows(statements.get(("vector-version-exists",), _has_versions)):
                return None
            self._versioned = True
        params = {"table": query.table.name, "scope": self._scope(query)}
        token = await uow.scalar(statements.get(("vector-version",), _token), params)
        return None if token is None else bytes(token)

    def _scope(self, query: VectorQuery) -> str:
        """The team the filters pin, as the triggers store it, or `ANY_ROW`."""
        team = query.team()
        if team is None:
            return ANY_ROW
        dialect = self._store.engine.dialect
        stored = query.table.c.team_id.type.dialect_impl(dialect).bind_processor(dialect)
        return str(stored(team) if stored is not None else team)

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
            if len(self._too_big) > MAX_REMEMBERED:
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


async def team_token(
    uow: UnitOfWork, store: Store, table: sa.Table, team_id: uuid.UUID
) -> bytes | None:
    """The version token of ``table``'s rows in ``team_id`` as this transaction sees it
    (None: the database has no version table); for other per-team data kept in memory."""
    statements = store.statements
    if not await uow.rows(statements.get(("vector-version-exists",), _has_versions)):
        return None
    dialect = store.engine.dialect
    stored = table.c.team_id.type.dialect_impl(dialect).bind_processor(dialect)
    scope = str(stored(team_id) if stored is not None else team_id)
    params = {"table": table.name, "scope": scope}
    token = await uow.scalar(statements.get(("vector-version",), _token), params)
    return None if token is None else bytes(token)


def cache_for(store: Store) -> VectorCache:
    """The vector cache of the store's database."""
    cache: VectorCache = store.caches.setdefault("sqlite-vectors", VectorCache(store))
    return cache


def entry_key(query: VectorQuery) -> Hashable:
    """What identifies a candidate set: table, column, dimension, filters and values."""
    return (query.shape, query.values)


__all__ = ["Entry", "VectorCache", "cache_for", "entry_key", "team_token"]
