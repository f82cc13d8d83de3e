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

It runs inside the session's transaction (the connection the session already holds).
Driver exceptions are translated like any other.

Rejected: hand-written SQL per backend (two copies of every filter), and
``exec_driver_sql`` (still the full result machinery).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler

from skillstore.db.translate import translate_driver_error

MAX_COMPILED = 512
"""Compiled statements kept (one per statement shape: plan, filters used, returned columns)."""


@dataclass(frozen=True)
class _Compiled:
    compiled: SQLCompiler
    binds: dict[str, Any]
    results: list[Callable[[Any], Any] | None]


_CACHE: dict[tuple[str, Any], _Compiled] = {}


def _compile(stmt: sa.Select[Any], dialect: Dialect, cache_key: Any = None) -> _Compiled:
    # With its cache key, the compiled form maps any later statement of the same shape's
    # extracted values onto its own parameters (how SQLAlchemy's statement cache works).
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
    # The type processors of the statement's own parameters; expanded IN parameters
    # bring theirs in the ExpandedState (SQLAlchemy's execution merges them the same way).
    binds = dict(compiled._bind_processors)
    return _Compiled(compiled, binds, results)


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg / aiosqlite connection under the session's current transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


@contextmanager
def driver_errors(what: str) -> Iterator[None]:
    """Translate the driver's own exceptions (which SQLAlchemy never saw) in the block."""
    try:
        yield
    except Exception as exc:
        if type(exc).__module__.split(".")[0] in {"asyncpg", "sqlite3"}:
            raise translate_driver_error(exc, what) from exc
        raise


async def _prepared(session: AsyncSession, stmt: sa.Select[Any]) -> tuple[_Compiled, str, list[Any]]:
    """The compiled entry, final SQL text and positional arguments for ``stmt``."""
    dialect = session.get_bind().dialect
    cache_key = stmt._generate_cache_key()
    if cache_key is None:  # not cacheable: compile for this call only
        entry = _compile(stmt, dialect)
        extracted = None
    else:
        key = (dialect.name, cache_key.key)
        entry = _CACHE.get(key) or _compile(stmt, dialect, cache_key)
        if len(_CACHE) >= MAX_COMPILED:
            _CACHE.clear()
        _CACHE[key] = entry
        extracted = cache_key.bindparams
    values = entry.compiled.construct_params(extracted_parameters=extracted)
    state = entry.compiled.construct_expanded_state(values)
    args = []
    for name in state.positiontup or ():
        value = state.parameters[name]
        process = state.processors.get(name) or entry.binds.get(name)
        args.append(process(value) if process is not None else value)
    return entry, state.statement, args


def _processed(entry: _Compiled, records: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    processors = entry.results
    if not any(processors):
        return [tuple(r) for r in records]
    return [
        tuple(v if p is None or v is None else p(v) for p, v in zip(processors, r, strict=True))
        for r in records
    ]


async def driver_rows(session: AsyncSession, stmt: sa.Select[Any]) -> list[tuple[Any, ...]]:
    """The rows of ``stmt``, fetched on the driver connection in one round trip."""
    entry, sql, args = await _prepared(session, stmt)
    raw = await driver_connection(session)
    with driver_errors("SELECT"):
        if session.get_bind().dialect.name == "postgresql":
            records: Sequence[Sequence[Any]] = await raw.fetch(sql, *args)
        else:
            records = await raw.execute_fetchall(sql, args)
    return _processed(entry, records)


async def driver_chunks(
    session: AsyncSession, stmt: sa.Select[Any], size: int
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """The rows of ``stmt`` in chunks of at most ``size``, so memory stays bounded."""
    entry, sql, args = await _prepared(session, stmt)
    raw = await driver_connection(session)
    with driver_errors("SELECT"):
        if session.get_bind().dialect.name == "postgresql":
            cursor = await raw.cursor(sql, *args)
            while records := await cursor.fetch(size):
                yield _processed(entry, records)
                if len(records) < size:
                    return
            return
        async with raw.execute(sql, args) as sqlite_cursor:
            while records := await sqlite_cursor.fetchmany(size):
                yield _processed(entry, records)
                if len(records) < size:
                    return
