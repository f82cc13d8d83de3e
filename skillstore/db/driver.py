"""Run a Core ``SELECT`` on the session's driver connection, compiled once per shape.

Why: a vector search is one short query the database answers in 1-2 ms, and
SQLAlchemy's execution path around it (the ORM session, result objects, per-call
parameter handling, on SQLite a thread hop per fetched chunk) cost 0.5-10 ms more than
the same query on the bare driver. Here the statement is still built with SQLAlchemy
(so filters, types and dialect differences are written once), compiled once per cache
key, and sent straight to asyncpg (``fetch``: one round trip, prepared statements
cached by the driver) or aiosqlite (``execute_fetchall``: one thread hop). Bind and
result values go through the same type processors SQLAlchemy would use, so callers see
the same Python values.

`insert_many` is the same idea for bulk inserts on SQLite: the values converted column
by column by the same bind processors, then one ``executemany`` on the driver.

It runs inside the session's transaction (the connection the session already holds).
Driver exceptions are translated like any other.

Rejected: hand-written SQL per backend (two copies of every filter), and
``exec_driver_sql`` (still the full result machinery).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.cache_key import CacheKey
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter

from skillstore.db.pgcopy import Repeat
from skillstore.db.translate import translate_driver_error

AnySelect: TypeAlias = "sa.Select[*tuple[Any, ...]]"
"""A SELECT of any columns."""

MAX_COMPILED = 512
"""Compiled statements kept (one per shape: plan, filters used, returned columns)."""


@dataclass(frozen=True)
class Shaped:
    """A statement identified by its shape, built and compiled on the shape's first use.

    Building a statement with SQLAlchemy costs more than running a small one (0.4 ms
    for a vector search), so it is built once per shape; later calls only bring new
    values: those of ``filters`` (the cache key of the filter clauses the statement was
    built from, in the same order) and ``params`` (values of named bind parameters).
    """

    shape: Hashable
    filters: CacheKey | None
    build: Callable[[], AnySelect]
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Compiled:
    compiled: SQLCompiler
    binds: dict[str, Any]
    results: Sequence[Callable[[Any], Any] | None]
    slots: tuple[int | None, ...]
    """For each parameter of the compiled statement: its position among the filters'
    parameters, or None when its value comes from ``params`` (or is fixed)."""
    fixed: tuple[BindParameter[Any], ...]


_CACHE: dict[tuple[Any, ...], _Compiled] = {}


def _compile(shaped: Shaped, dialect: Dialect) -> tuple[_Compiled, bool]:
    """The compiled statement, and whether later calls of the shape can reuse it."""
    stmt = shaped.build()
    cache_key = stmt._generate_cache_key()
    assert cache_key is not None, "driver statements must be cacheable"
    # With its cache key, the compiled form maps the values of any later statement of
    # the same shape onto its own parameters (how SQLAlchemy's statement cache works).
    compiled = stmt.compile(dialect=dialect, cache_key=cache_key)
    assert isinstance(compiled, SQLCompiler)
    # Both drivers return floats as floats; SQLAlchemy's numeric processors need the
    # driver's type code, which only its own cursor knows.
    results = [
        None
        if isinstance(c.type, sa.Float | sa.Numeric)
        else c.type.dialect_impl(dialect).result_processor(dialect, None)
        for c in stmt.selected_columns
    ]
    position = {id(b): i for i, b in enumerate(shaped.filters.bindparams if shaped.filters else ())}
    slots = tuple(position.get(id(b)) for b in cache_key.bindparams)
    reusable = all(
        slot is not None or b.key in shaped.params
        for slot, b in zip(slots, cache_key.bindparams, strict=True)
    )
    # The type processors of the statement's own parameters; expanded IN parameters
    # bring theirs in the ExpandedState (SQLAlchemy's execution merges them the same way).
    binds = dict(compiled._bind_processors)
    entry = _Compiled(compiled, binds, results, slots, tuple(cache_key.bindparams))
    return entry, reusable


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg / aiosqlite connection under the session's current transaction."""
    transaction = session.get_transaction()
    cached = session.info.get("driver_connection")
    if transaction is not None and cached is not None and cached[0] is transaction:
        return cached[1]
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    session.info["driver_connection"] = (session.get_transaction(), raw)
    return raw


@contextmanager
def driver_errors(what: str) -> Iterator[None]:
    """Translate the driver's own exceptions (which SQLAlchemy never saw) in the block."""
    try:
        yield
    except Exception as exc:
        if type(exc).__module__.split(".")[0] in {"asyncpg", "sqlite3"}:
            raise translate_driver_error(exc, what) from exc
        raise


@dataclass(frozen=True)
class _Bound:
    """The SQL text and arguments of one filter set on a compiled shape: a later call with
    the same filters (the same `CacheKey` object) only swaps in its named values."""

    filters: CacheKey
    statement: str
    args: tuple[Any, ...]
    named: tuple[tuple[int, str, Callable[[Any], Any] | None], ...]


_BOUND: dict[tuple[Any, ...], _Bound] = {}


def _prepared(shaped: Shaped, dialect: Dialect) -> tuple[_Compiled, str, list[Any]]:
    """The compiled entry, final SQL text and positional arguments for ``shaped``."""
    key = (dialect.name, shaped.shape, shaped.filters.key if shaped.filters else None)
    entry = _CACHE.get(key)
    reusable = True
    if entry is None:
        entry, reusable = _compile(shaped, dialect)
        if reusable:
            if len(_CACHE) >= MAX_COMPILED:
                _CACHE.clear()
            _CACHE[key] = entry
    bound_key = (*key, id(shaped.filters))
    bound = _BOUND.get(bound_key)
    if bound is not None and bound.filters is shaped.filters:
        args = list(bound.args)
        for i, name, process in bound.named:
            value = shaped.params[name]
            args[i] = process(value) if process is not None else value
        return entry, bound.statement, args
    current = shaped.filters.bindparams if shaped.filters else []
    extracted = [
        current[slot] if slot is not None else fixed
        for slot, fixed in zip(entry.slots, entry.fixed, strict=True)
    ]
    values = entry.compiled.construct_params(
        params=dict(shaped.params), extracted_parameters=extracted
    )
    state = entry.compiled.construct_expanded_state(values)
    args = []
    named = []
    for i, name in enumerate(state.positiontup or ()):
        value = state.parameters[name]
        process = state.processors.get(name) or entry.binds.get(name)
        args.append(process(value) if process is not None else value)
        if name in shaped.params:
            named.append((i, name, process))
    # Expanded (IN-list) parameters change the SQL text itself: those are not reused.
    if reusable and shaped.filters is not None and {n for _, n, _ in named} == set(shaped.params):
        if len(_BOUND) >= MAX_COMPILED:
            _BOUND.clear()
        _BOUND[bound_key] = _Bound(shaped.filters, state.statement, tuple(args), tuple(named))
    return entry, state.statement, args


def as_shaped(stmt: AnySelect) -> Shaped:
    """A ready statement as a `Shaped` one (its own cache key is its shape)."""
    cache_key = stmt._generate_cache_key()
    assert cache_key is not None, "driver statements must be cacheable"
    return Shaped(cache_key.key, cache_key, lambda: stmt)


def _processed(entry: _Compiled, records: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    processors = [(i, p) for i, p in enumerate(entry.results) if p is not None]
    if not processors:
        return [tuple(r) for r in records]
    rows = []
    for record in records:
        row = list(record)
        for i, process in processors:
            if row[i] is not None:
                row[i] = process(row[i])
        rows.append(tuple(row))
    return rows


async def driver_rows(session: AsyncSession, stmt: Shaped | AnySelect) -> list[tuple[Any, ...]]:
    """The rows of ``stmt``, fetched on the driver connection in one round trip."""
    stmt = stmt if isinstance(stmt, Shaped) else as_shaped(stmt)
    entry, sql, args = _prepared(stmt, session.get_bind().dialect)
    raw = await driver_connection(session)
    with driver_errors("SELECT"):
        if session.get_bind().dialect.name == "postgresql":
            records: Sequence[Sequence[Any]] = await raw.fetch(sql, *args)
        else:
            records = await raw.execute_fetchall(sql, args)
    return _processed(entry, records)


async def insert_many(
    session: AsyncSession, table: sa.Table, values: dict[str, Any], n: int
) -> None:
    """Insert ``n`` rows given column by column (a `Repeat` where all rows share the value)
    with one ``executemany`` on the driver connection. Each column's values go through its
    type's bind processor, as SQLAlchemy would send them; but SQLAlchemy's executemany
    builds and processes every parameter of every row one call at a time (150 us of a
    260 us memory row on SQLite)."""
    dialect = session.get_bind().dialect
    compiled = (
        sa.insert(table)
        .values({name: sa.bindparam(name) for name in values})
        .compile(dialect=dialect)
    )
    columns = []
    for name in compiled.positiontup or ():
        process = table.c[name].type._cached_bind_processor(dialect)
        value = values[name]
        if isinstance(value, Repeat):
            columns.append([process(value.value) if process else value.value] * n)
        else:
            columns.append(list(map(process, value)) if process else list(value))
    raw = await driver_connection(session)
    with driver_errors(f"INSERT {table.name}"):
        await raw.executemany(compiled.string, list(zip(*columns, strict=True)))
