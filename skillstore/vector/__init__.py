"""Similarity search over any table with an `Embedding` column, on either backend.

This is the one place a nearest-neighbour query is written. Memories, documents and
skill files all call `nearest`; each backend (`backend_for`) decides how to answer:

- PostgreSQL (`skillstore.vector.pgvector`): cosine distance ``<=>``; an exact scan of
  the filtered candidates when they are few, the HNSW index with iterative scans when
  they are many.
- SQLite (`skillstore.vector.sqlite`): always exact; the ordinary indexed filters pick
  the candidate rows and numpy scores their float32 blobs in bounded chunks.

How to use it for a new table (e.g. ``document_embedding``)::

    from skillstore.vector import live_filters, nearest

    where = live_filters(DocumentEmbedding, team_id=team_id, equals={"document_id": doc_id},
                         embedding_model=settings.embedding_model)
    hits = await nearest(session, settings, DocumentEmbedding, vector, k=10, where=where)
    # -> [Neighbour(id=UUID(...), similarity=0.93), ...] best first
    # returning=[DocumentEmbedding.content, ...] also loads those columns of the hits in
    # the same query (Neighbour.values), so showing them needs no second round trip.

``where`` is any list of SQLAlchemy predicates on that table; `live_filters` builds the
usual ones (team, column equality, not expired, same embedding model). Passed as a tuple
that is reused (the memory repository keeps one per filter set), the predicates are keyed
and the statement built only once. Statuses differ
per table, so a caller adds its own status predicate. Similarity is ``1 - cosine
distance``, in [-1, 1]. The vector is checked (dimension, NaN/inf, zero length) before any
SQL runs.

Rejected: a ``search`` method on the generic `Repository` (most tables have no vector),
and one function per table (three copies of the planner and of the SQLite scorer).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.cache_key import CacheKey

from skillstore.db.base import table_of
from skillstore.db.translate import translated
from skillstore.db.types import StatementTime, as_vector
from skillstore.errors import BackendNotSupportedError, EmbeddingError, ValidationError
from skillstore.settings import StoreSettings

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

MAX_K = 1000
NEVER = datetime(9999, 12, 31, tzinfo=UTC)


class Neighbour(NamedTuple):
    """One search result: the row's id, its cosine similarity, and the values of the
    ``returning`` columns asked for (in that order; empty when none were)."""

    id: uuid.UUID
    similarity: float
    values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class VectorQuery:
    """A checked nearest-neighbour query over one table."""

    table: sa.Table
    column: sa.Column[Any]
    vector: npt.NDArray[np.float32]
    k: int
    where: Sequence[sa.ColumnElement[bool]]
    dimensions: int
    returning: Sequence[sa.ColumnElement[Any]] = ()
    """Columns of ``table`` loaded for the hits in the same query (e.g. a Read model's)."""
    filters: CacheKey = None  # type: ignore[assignment]  # computed from ``where`` if not given
    """The filters' shape and values (what plans and compiled statements are cached by)."""
    filter_values: tuple[str, ...] = ()
    """The filters' values, as text, timestamps left out (they do not change a plan)."""

    def __post_init__(self) -> None:
        if self.filters is None:
            key, values = filter_key(self.table, self.where)
            object.__setattr__(self, "filters", key)
            object.__setattr__(self, "filter_values", values)

    @cached_property
    def candidates(self) -> sa.Select[Any]:
        """``SELECT 1 FROM table WHERE <where>``: what the planner estimates and counts."""
        return sa.select(sa.literal(1)).select_from(self.table).where(*self.where)

    def shape(self, *parts: Any) -> tuple[Any, ...]:
        """What, besides the filters, decides the SQL text of a search statement."""
        return (self.table.name, self.column.key, self.dimensions, _names(self.returning), *parts)


_NAMES: dict[int, tuple[Sequence[sa.ColumnElement[Any]], tuple[str | None, ...]]] = {}


def _names(returning: Sequence[sa.ColumnElement[Any]]) -> tuple[str | None, ...]:
    """The names of ``returning`` columns; remembered for a tuple passed again (a Read
    model's columns: naming 25 of them on every search cost 4% of its Python time)."""
    cached = _NAMES.get(id(returning))
    if cached is not None and cached[0] is returning:
        return cached[1]
    names = tuple(c.key if hasattr(c, "key") else str(c) for c in returning)
    if isinstance(returning, tuple):  # immutable: safe to remember by identity
        if len(_NAMES) > 4096:
            _NAMES.clear()
        _NAMES[id(returning)] = (returning, names)
    return names


def filter_key(
    table: sa.Table, where: Sequence[sa.ColumnElement[bool]]
) -> tuple[CacheKey, tuple[str, ...]]:
    """The cache key of ``where`` on ``table``, and its values without timestamps."""
    key = sa.select(sa.literal(1)).select_from(table).where(*where)._generate_cache_key()
    assert key is not None, "vector filters must be cacheable SQL expressions"
    values = tuple(
        repr(b.effective_value)
        for b in key.bindparams
        if not isinstance(b.effective_value, datetime)
    )
    return key, values


_PREPARED: dict[tuple[int, str, str], tuple[Any, tuple[Any, ...], CacheKey, tuple[str, ...]]] = {}
"""Filters passed as the same tuple again (see `live_filters`): their full predicate list
and cache key, computed once (building and keying them costs more than a small search)."""


def _prepared(
    table: sa.Table, column: str, where: Sequence[sa.ColumnElement[bool]]
) -> tuple[tuple[sa.ColumnElement[bool], ...], CacheKey, tuple[str, ...]]:
    key = (id(where), table.name, column)
    cached = _PREPARED.get(key)
    if cached is not None and cached[0] is where:
        return cached[1], cached[2], cached[3]
    full = (table.c[column].is_not(None), *where)
    filters, values = filter_key(table, full)
    if isinstance(where, tuple):  # immutable: safe to remember by identity
        if len(_PREPARED) > 4096:
            _PREPARED.clear()
        _PREPARED[key] = (where, full, filters, values)
    return full, filters, values


class VectorBackend(Protocol):
    """Answers a `VectorQuery` with up to ``k`` neighbours, best first."""

    name: str

    async def nearest(
        self, session: AsyncSession, query: VectorQuery, settings: StoreSettings
    ) -> list[Neighbour]: ...


def backend_for(dialect: str) -> VectorBackend:
    """The vector backend for a SQLAlchemy dialect name (``sqlite`` or ``postgresql``)."""
    if dialect == "postgresql":
        from skillstore.vector.pgvector import PgVectorBackend

        return PgVectorBackend()
    if dialect == "sqlite":
        from skillstore.vector.sqlite import SQLiteBackend

        return SQLiteBackend()
    raise BackendNotSupportedError(f"no vector search for {dialect!r}; use SQLite or PostgreSQL")


def check_query_vector(values: Any, dimensions: int) -> npt.NDArray[np.float32]:
    """``values`` as float32, or `EmbeddingError` (wrong size, NaN/inf, or all zeros)."""
    import numpy as np

    vector = as_vector(values, dimensions)
    if not float(np.abs(vector).max()) > 0.0:
        raise EmbeddingError("embedding is all zeros, which has no direction to compare")
    return vector


def live_filters(
    model: type[Any],
    *,
    team_id: uuid.UUID | None = None,
    equals: Mapping[str, Any] | None = None,
    embedding_model: str | None = None,
    now: datetime | None = None,
) -> list[sa.ColumnElement[bool]]:
    """The usual predicates: team, column equality (a list means "any of"), not expired,
    same embedding model — each only where the table has that column.

    "Not expired" compares with the database's clock at the time of the statement (or
    with ``now`` when given), so the same filters can be reused: pass them to `nearest`
    as a tuple and they are prepared once.
    """
    table = table_of(model)
    where: list[sa.ColumnElement[bool]] = []
    if team_id is not None:
        where.append(table.c.team_id == team_id)
    for name, value in (equals or {}).items():
        if name not in table.c:
            raise ValidationError(f"{table.name} has no column {name!r} to filter on")
        column = table.c[name]
        if isinstance(value, list | tuple | set | frozenset):
            where.append(column.in_(list(value)))
        else:
            where.append(column == value)
    if "expires_at" in table.c:
        # coalesce(), not "IS NULL OR >": an OR on expires_at lets SQLite pick the
        # expires_at index and walk every unexpiring row of every team.
        never = sa.literal(NEVER, type_=table.c.expires_at.type)
        current = sa.literal(now, type_=table.c.expires_at.type) if now else StatementTime()
        where.append(sa.func.coalesce(table.c.expires_at, never) > current)
    if embedding_model is not None and "embedding_model" in table.c:
        where.append(table.c.embedding_model == embedding_model)
    return where


async def nearest(
    session: AsyncSession,
    settings: StoreSettings,
    model: type[Any],
    vector: Any,
    *,
    k: int = 10,
    where: Sequence[sa.ColumnElement[bool]] = (),
    column: str = "embedding",
    returning: Sequence[sa.ColumnElement[Any]] = (),
) -> list[Neighbour]:
    """Up to ``k`` rows of ``model`` nearest to ``vector`` under ``where``, best first.

    ``returning`` columns are loaded for the hits by the same query (``Neighbour.values``),
    so a caller that shows the rows needs no second round trip.

    Raises:
        EmbeddingError: the vector has the wrong dimension, NaN/inf, or is all zeros.
        ValidationError: ``k`` is outside 1-1000.
    """
    if not 1 <= k <= MAX_K:
        raise ValidationError(f"k must be between 1 and {MAX_K}, got {k}")
    table = table_of(model)
    full, filters, values = _prepared(table, column, where)
    query = VectorQuery(
        table=table,
        column=table.c[column],
        vector=check_query_vector(vector, settings.embedding_dimensions),
        k=k,
        where=full,
        dimensions=settings.embedding_dimensions,
        returning=returning if isinstance(returning, tuple) else tuple(returning),
        filters=filters,
        filter_values=values,
    )
    dialect = session.get_bind().dialect.name
    with translated():
        return await backend_for(dialect).nearest(session, query, settings)


__all__ = [
    "Neighbour",
    "VectorBackend",
    "VectorQuery",
    "backend_for",
    "check_query_vector",
    "live_filters",
    "nearest",
]
