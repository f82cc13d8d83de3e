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

    filters = live_filters(table, team_id=team_id, equals={"document_id": doc_id},
                           embedding_model=settings.embedding_model)
    hits = await nearest(uow, store, table, vector, k=10, filters=filters)
    # -> [Neighbour(id=UUID(...), similarity=0.93), ...] best first
    # returning=("content", ...) also loads those columns of the hits in the same
    # query (Neighbour.values), so showing them needs no second round trip.

Filters are data (`Filter`: a column, an operator, a value), not SQL: their *shape*
(columns, operators, list lengths) names the prepared statement, their values are bound
per call, and the shape plus values key what backends keep between searches (plans,
SQLite's in-memory vectors) without inspecting SQL. Similarity is ``1 - cosine
distance``, in [-1, 1]. The vector is checked (dimension, NaN/inf, zero length) before
any SQL runs.

Rejected: a ``search`` method on the generic `Repository` (most tables have no vector),
one function per table (three copies of the planner and of the SQLite scorer), and
arbitrary SQLAlchemy predicates keyed by SQLAlchemy's private cache keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

import sqlalchemy as sa

from skillstore.db import jsonfilter
from skillstore.db.types import StatementTime, as_vector
from skillstore.errors import BackendNotSupportedError, EmbeddingError, ValidationError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from skillstore.db.unit import UnitOfWork
    from skillstore.store import Store

MAX_K = 1000
NEVER = datetime(9999, 12, 31, tzinfo=UTC)

Op = Literal["eq", "in", "eq_or_null", "constant_in", "not_expired", "contains"]


class Filter(NamedTuple):
    """One condition on a column: ``eq`` (``=``), ``in`` (any of a list), ``eq_or_null``
    (equal or NULL), ``constant_in`` (any of a list written into the SQL: for fixed sets
    such as the searchable statuses), ``not_expired`` (``expires_at`` after ``value``,
    the statement's own time when None) or ``contains`` (a JSON column contains the
    object ``value``: `skillstore.db.jsonfilter`)."""

    column: str
    op: Op
    value: Any = None


class Neighbour(NamedTuple):
    """One search result: the row's id, its cosine similarity, and the values of the
    ``returning`` columns asked for (in that order; empty when none were)."""

    id: uuid.UUID
    similarity: float
    values: tuple[Any, ...] = ()


def _shape(f: Filter) -> tuple[Any, ...]:
    if f.op == "in":
        return (f.column, f.op, len(f.value))
    if f.op == "constant_in":
        return (f.column, f.op, tuple(f.value))
    if f.op == "not_expired":
        return (f.column, f.op, f.value is None)
    if f.op == "contains":
        return (f.column, f.op, jsonfilter.shape(f.value))
    return (f.column, f.op)


def filter_shape(filters: Sequence[Filter]) -> tuple[Any, ...]:
    """What of ``filters`` decides the SQL text (columns, operators, list lengths)."""
    return tuple(_shape(f) for f in filters)


def filter_params(filters: Sequence[Filter]) -> dict[str, Any]:
    """The values `filter_sql` binds, by parameter name."""
    params: dict[str, Any] = {}
    for i, f in enumerate(filters):
        if f.op in {"eq", "eq_or_null"} or (f.op == "not_expired" and f.value is not None):
            params[f"f{i}"] = f.value
        if f.op == "not_expired":
            params[f"never{i}"] = NEVER
        elif f.op == "in":
            params.update({f"f{i}_{j}": v for j, v in enumerate(f.value)})
        elif f.op == "contains":
            params.update(jsonfilter.contains_params(f"f{i}", f.value))
    return params


def filter_sql(table: sa.Table, filters: Sequence[Filter]) -> list[sa.ColumnElement[bool]]:
    """``filters`` as SQL on ``table``, every value a parameter named by its position."""
    clauses: list[sa.ColumnElement[bool]] = []
    for i, f in enumerate(filters):
        column = table.c[f.column]
        if f.op == "eq":
            clauses.append(column == sa.bindparam(f"f{i}", type_=column.type))
        elif f.op == "eq_or_null":
            value = sa.bindparam(f"f{i}", type_=column.type)
            clauses.append(sa.or_(column == value, column.is_(None)))
        elif f.op == "in":
            names = [sa.bindparam(f"f{i}_{j}", type_=column.type) for j in range(len(f.value))]
            clauses.append(column.in_(names))
        elif f.op == "contains":
            clauses.append(jsonfilter.JSONContains(column, jsonfilter.shape(f.value), f"f{i}"))
        elif f.op == "constant_in":
            # Written into the SQL, not bound: in the generic plan PostgreSQL settles on for
            # a prepared search, ``status IN ($6, $7)`` builds its array of bound values
            # again for every candidate row; constants are folded once.
            constant = sa.bindparam(
                f"c{i}", list(f.value), type_=column.type, expanding=True, literal_execute=True
            )
            clauses.append(column.in_(constant))
        else:
            # coalesce(), not "IS NULL OR >": an OR on expires_at lets SQLite pick the
            # expires_at index and walk every unexpiring row of every team.
            never = sa.bindparam(f"never{i}", type_=column.type)
            now: sa.ColumnElement[Any] = (
                StatementTime() if f.value is None else sa.bindparam(f"f{i}", type_=column.type)
            )
            clauses.append(sa.func.coalesce(column, never) > now)
    return clauses


@dataclass(frozen=True)
class VectorQuery:
    """A checked nearest-neighbour query over one table."""

    table: sa.Table
    column: sa.Column[Any]
    vector: npt.NDArray[np.float32]
    k: int
    filters: tuple[Filter, ...]
    dimensions: int
    returning: tuple[str, ...] = ()
    """Columns of ``table`` loaded for the hits in the same query (e.g. a Read model's)."""
    shape: tuple[Any, ...] = field(init=False)
    """What decides the SQL text, besides ``k``: table, column, dimension, returned
    columns and the filters' shape."""
    params: dict[str, Any] = field(init=False)
    """The filters' values as the statement binds them."""

    def __post_init__(self) -> None:
        shape = (self.table.name, self.column.key, self.dimensions, self.returning)
        object.__setattr__(self, "shape", (*shape, filter_shape(self.filters)))
        object.__setattr__(self, "params", filter_params(self.filters))

    @property
    def values(self) -> Hashable:
        """The filters' values (timestamps left out: they do not change which rows a
        plan or a kept set of vectors is for)."""
        return tuple(
            tuple(f.value)
            if f.op == "in"
            else jsonfilter.pattern_key(f.value)
            if f.op == "contains"
            else f.value
            for f in self.filters
            if f.op in {"eq", "in", "eq_or_null", "contains"}
        )

    def where(self) -> list[sa.ColumnElement[bool]]:
        """The filters as SQL (only rows that have a vector)."""
        return [self.column.is_not(None), *filter_sql(self.table, self.filters)]

    def team(self) -> uuid.UUID | None:
        """The team the filters pin with ``team_id = …``, if any."""
        for f in self.filters:
            if f.column == "team_id" and f.op == "eq":
                team: uuid.UUID = f.value
                return team
        return None


class VectorBackend(Protocol):
    """Answers a `VectorQuery` with up to ``k`` neighbours, best first."""

    name: str

    async def nearest(self, uow: UnitOfWork, query: VectorQuery) -> list[Neighbour]: ...


def backend_for(store: Store) -> VectorBackend:
    """The vector backend for the store's dialect (``sqlite`` or ``postgresql``)."""
    if store.dialect == "postgresql":
        from skillstore.vector.pgvector import PgVectorBackend

        return PgVectorBackend(store)
    if store.dialect == "sqlite":
        from skillstore.vector.sqlite import SQLiteBackend

        return SQLiteBackend(store)
    raise BackendNotSupportedError(
        f"no vector search for {store.dialect!r}; use SQLite or PostgreSQL"
    )


def check_query_vector(values: Any, dimensions: int) -> npt.NDArray[np.float32]:
    """``values`` as float32, or `EmbeddingError` (wrong size, NaN/inf, or all zeros)."""
    import numpy as np

    vector = as_vector(values, dimensions)
    if not float(np.abs(vector).max()) > 0.0:
        raise EmbeddingError("embedding is all zeros, which has no direction to compare")
    return vector


def live_filters(
    table: sa.Table,
    *,
    team_id: uuid.UUID | None = None,
    equals: Mapping[str, Any] | None = None,
    embedding_model: str | None = None,
    now: datetime | None = None,
) -> list[Filter]:
    """The usual filters: team, column equality (a list means "any of"), not expired,
    same embedding model — each only where the table has that column.

    "Not expired" compares with the database's clock at the time of the statement (or
    with ``now`` when given), so the same statement serves every call.
    """
    filters: list[Filter] = []
    if team_id is not None:
        filters.append(Filter("team_id", "eq", team_id))
    for name, value in (equals or {}).items():
        if name not in table.c:
            raise ValidationError(f"{table.name} has no column {name!r} to filter on")
        if isinstance(value, Mapping):
            filters.append(Filter(name, "contains", dict(value)))
        elif isinstance(value, list | tuple | set | frozenset):
            filters.append(Filter(name, "in", list(value)))
        else:
            filters.append(Filter(name, "eq", value))
    if "expires_at" in table.c:
        filters.append(Filter("expires_at", "not_expired", now))
    if embedding_model is not None and "embedding_model" in table.c:
        filters.append(Filter("embedding_model", "eq", embedding_model))
    return filters


async def nearest(
    uow: UnitOfWork,
    store: Store,
    table: sa.Table,
    vector: Any,
    *,
    k: int = 10,
    filters: Sequence[Filter] = (),
    column: str = "embedding",
    returning: Sequence[str] = (),
) -> list[Neighbour]:
    """Up to ``k`` rows of ``table`` nearest to ``vector`` under ``filters``, best first.

    ``returning`` columns are loaded for the hits by the same query (``Neighbour.values``),
    so a caller that shows the rows needs no second round trip.

    Raises:
        EmbeddingError: the vector has the wrong dimension, NaN/inf, or is all zeros.
        ValidationError: ``k`` is outside 1-1000.
    """
    if not 1 <= k <= MAX_K:
        raise ValidationError(f"k must be between 1 and {MAX_K}, got {k}")
    dimensions = store.settings.embedding_dimensions
    empty_in = any(f.op == "in" and not f.value for f in filters)
    query = VectorQuery(
        table=table,
        column=table.c[column],
        vector=check_query_vector(vector, dimensions),
        k=k,
        filters=tuple(filters),
        dimensions=dimensions,
        returning=tuple(returning),
    )
    if empty_in:  # "any of no values" matches nothing
        return []
    return await backend_for(store).nearest(uow, query)


__all__ = [
    "Filter",
    "Neighbour",
    "Op",
    "VectorBackend",
    "VectorQuery",
    "backend_for",
    "check_query_vector",
    "filter_params",
    "filter_shape",
    "filter_sql",
    "live_filters",
    "nearest",
]
