"""Statements compiled once per store and run with SQLAlchemy's own type processing.

Why: an everyday call (``agents.get``) is one short statement that the database answers
in well under a millisecond, and SQLAlchemy's execution machinery around it (result
objects, per-call parameter handling, on SQLite four thread hops per statement) cost as
much again as the statement itself. Here a statement is still *written* with SQLAlchemy
(filters, types and dialect differences are written once) and compiled by it once per
shape; what runs per call is the conversion of its parameters and results by the very
processors SQLAlchemy would use, and one driver call (`skillstore.db.unit`).

Only public SQLAlchemy API is used: ``ClauseElement.compile(dialect=…)``, the compiled
statement's ``positiontup`` and ``binds``, ``SQLCompiler.construct_expanded_state``
for parameters that expand per call (``IN`` lists), ``TypeEngine.dialect_impl`` with
``bind_processor`` / ``result_processor``, and ``ReturnsRows.exported_columns``.

A statement is prepared from a *builder* under a *key* that names its shape (for
example ``("get", "agent_config", True)``); every value that changes from call to call
is a named ``bindparam``. Values written into the statement itself are fixed for the
life of the store, so a UUID or timestamp among them is refused: it would silently
reuse one caller's value for the next (a tenant's id above all).

Rejected: the ORM session (identity map and unit-of-work bookkeeping per row, then a
second validation into the ``Read`` model), ``Connection.execute`` per call (measured
at 2x the raw driver for a primary-key read before any model was built), and keying
statements by SQLAlchemy's private cache keys.
"""

from __future__ import annotations

import enum
import math
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

from skillstore.errors import ValidationError

Processor = Callable[[Any], Any]
_REQUIRED = object()
MAX_PREPARED = 2048
"""Statements kept per store; shapes are written in code, so this bounds only the
combinations of ``find`` filters a caller uses."""


def _bind_processor(type_: sa.types.TypeEngine[Any], dialect: Dialect) -> Processor | None:
    return type_.dialect_impl(dialect).bind_processor(dialect)


_UUID = TypeAdapter(uuid.UUID)


def _result_processor(type_: sa.types.TypeEngine[Any], dialect: Dialect) -> Processor | None:
    # Both drivers return floats (and integers) as Python numbers already; SQLAlchemy's
    # numeric processors want the driver's type code, which only its own cursor knows.
    if isinstance(type_, sa.Float | sa.Numeric):
        return None
    if dialect.name == "sqlite" and type(type_) is sa.Uuid and type_.as_uuid:
        # SQLite returns 32 hex digits; pydantic-core parses them into the same uuid.UUID
        # in a third of the time ``uuid.UUID(hex)`` takes (three per row of most tables).
        return _UUID.validate_python
    return type_.dialect_impl(dialect).result_processor(dialect, None)


@dataclass(frozen=True, slots=True)
class Prepared:
    """One compiled statement: its SQL, how to order and convert its parameters, and how
    to convert the columns it returns."""

    key: Hashable
    sql: str | None
    """The SQL text, or None when it depends on the call (an ``IN`` list's length)."""
    compiled: SQLCompiler
    names: tuple[str, ...]
    """The parameters' names in positional order."""
    processors: tuple[Processor | None, ...]
    fixed: tuple[Any, ...]
    """Per position: the processed value written into the statement, or `_REQUIRED`."""
    columns: tuple[str, ...]
    """Names of the returned columns, in order (empty for statements returning none)."""
    results: tuple[tuple[int, Processor], ...]
    writes: bool
    """Whether the statement writes (SQLite starts such transactions ``IMMEDIATE``)."""
    target: str | None
    """The table an INSERT, UPDATE or DELETE writes (None for others: what a role check
    in `skillstore.authz` is decided by)."""
    expects: Mapping[str, tuple[type, ...]]
    """What Python types each parameter takes (by the bound column's type): anything
    else is refused before it reaches a driver, which would convert it its own way."""

    def bind(self, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The SQL text and positional driver values for one call."""
        if self.sql is None:
            return self._expand(params)
        args = list(self.fixed)
        for i, name in enumerate(self.names):
            if args[i] is _REQUIRED:
                if name not in params:
                    raise TypeError(f"statement {self.key!r} needs a value for {name!r}")
                value = params[name]
                _expect(name, value, self.expects.get(name))
                args[i] = _convert(name, value, self.processors[i])
        return self.sql, args

    def _expand(self, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        state = self.compiled.construct_expanded_state(dict(params))
        original = {new: old for old, news in state.parameter_expansion.items() for new in news}
        args = []
        for name in state.positiontup or ():
            value = state.parameters[name]
            _expect(name, value, self.expects.get(original.get(name, name)))
            process = state.processors.get(name) or self._processor(name)
            args.append(_convert(name, value, process))
        return state.statement, args

    def _processor(self, name: str) -> Processor | None:
        if name in self.names:
            return self.processors[self.names.index(name)]
        return None

    def rows(self, records: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """Driver records as tuples of Python values."""
        if not self.results:
            return [tuple(r) for r in records]
        out = []
        for record in records:
            row = list(record)
            for i, process in self.results:
                if row[i] is not None:
                    row[i] = process(row[i])
            out.append(tuple(row))
        return out


def check_text(name: str, value: str) -> None:
    """Refuse text no backend stores the same way: NUL characters (PostgreSQL refuses
    them, SQLite stores them) and lone surrogates (not encodable as UTF-8 at all)."""
    if "\x00" in value:
        raise ValidationError(f"{name}: text cannot contain NUL (\\x00) characters; remove them")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(
                f"{name}: text is not valid Unicode (it has a lone surrogate); send UTF-8 text"
            ) from None


def _expects(type_: sa.types.TypeEngine[Any]) -> tuple[type, ...]:
    """The Python types a parameter of column type ``type_`` takes (empty: any)."""
    if isinstance(type_, sa.types.TypeDecorator):
        type_ = type_.impl_instance
    if isinstance(type_, sa.Boolean):
        return (bool,)
    if isinstance(type_, sa.Uuid):
        return (uuid.UUID,)
    if isinstance(type_, sa.Integer):
        return (int,)
    if isinstance(type_, sa.Float):
        return (int, float)
    if isinstance(type_, sa.Enum):
        return (str, enum.Enum)
    if isinstance(type_, sa.String):
        return (str,)
    if isinstance(type_, sa.DateTime):
        return (datetime,)
    return ()


def _expect(name: str, value: Any, types: tuple[type, ...] | None) -> None:
    if not types or value is None:
        return
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        field = name.removeprefix("f_").removeprefix("v_")
        wanted = " or ".join(t.__name__ for t in types)
        raise ValidationError(f"{field}: expected {wanted}, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        field = name.removeprefix("f_").removeprefix("v_")
        raise ValidationError(f"{field}: NaN and infinity cannot be stored")


def _convert(name: str, value: Any, process: Processor | None) -> Any:
    """``value`` as the driver takes it; a value the column type refuses is a
    `ValidationError` naming the parameter, never a driver or builtin exception."""
    if isinstance(value, str):
        check_text(name.removeprefix("f_").removeprefix("v_"), value)
    if process is None or value is None:
        return value
    try:
        return process(value)
    except ValidationError:
        raise
    except (ValueError, TypeError, LookupError, OverflowError) as exc:
        field = name.removeprefix("f_").removeprefix("v_")
        raise ValidationError(f"{field}: the value cannot be stored ({exc})") from None


def prepare(
    key: Hashable, statement: sa.Executable, dialect: Dialect, *, reused: bool = True
) -> Prepared:
    """Compile ``statement`` for ``dialect`` (see the module docstring). A statement that
    is ``reused`` must bind every value that changes between calls."""
    assert isinstance(statement, sa.ClauseElement)
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    computed = [c.key for c in (*compiled.insert_prefetch, *compiled.update_prefetch)]
    if computed:
        raise TypeError(
            f"statement {key!r} leaves {', '.join(computed)} to a Python-side default or "
            "onupdate; set every such column in the statement itself"
        )
    binds = compiled.binds
    names = tuple(compiled.positiontup or ())
    required = {n for n in names if binds[n].required}
    for name in names:
        if binds[name].callable is not None:
            raise TypeError(f"statement {key!r}: {name!r} has a Python-side default; pass it")
    sql: str | None = compiled.string
    values: Mapping[str, Any] = {n: binds[n].effective_value for n in names if n not in required}
    expanded: Mapping[str, Processor] = {}
    if "__[POSTCOMPILE_" in compiled.string:
        expanding = {n for n in names if binds[n].expanding or binds[n].literal_execute}
        if expanding & required:
            sql = None  # its text depends on each call's list
        else:  # every expanding value is written into the statement: expand it once
            state = compiled.construct_expanded_state({n: None for n in required})
            sql, names = state.statement, tuple(state.positiontup or ())
            values, expanded = state.parameters, state.processors
    processors = [expanded.get(n) or _processor_of(binds, n, dialect) for n in names]
    fixed: list[Any] = []
    for name, process in zip(names, processors, strict=True):
        if name in required:
            fixed.append(_REQUIRED)
            continue
        value = values[name]
        if reused and isinstance(value, uuid.UUID | datetime):
            raise TypeError(
                f"statement {key!r} has {value!r} written into it; use a named bindparam "
                "for every value that changes between calls"
            )
        fixed.append(_convert(name, value, process))
    columns: tuple[str, ...] = ()
    results: list[tuple[int, Processor]] = []
    if isinstance(statement, sa.sql.expression.ReturnsRows):
        exported = list(statement.exported_columns)
        columns = tuple(str(getattr(c, "key", None) or getattr(c, "name", "")) for c in exported)
        for i, column in enumerate(exported):
            process = _result_processor(column.type, dialect)
            if process is not None:
                results.append((i, process))
    writes = not statement.is_select
    target = target_of(statement)
    expects = {name: _expects(bind.type) for name, bind in binds.items()}
    return Prepared(
        key=key,
        sql=sql,
        compiled=compiled,
        names=names,
        processors=tuple(processors),
        fixed=tuple(fixed),
        columns=columns,
        results=tuple(results),
        writes=writes,
        target=target,
        expects=expects,
    )


def target_of(statement: sa.Executable) -> str | None:
    """The name of the table ``statement`` inserts into, updates or deletes from."""
    table = getattr(statement, "table", None) if isinstance(statement, sa.UpdateBase) else None
    return table.name if isinstance(table, sa.Table) else None


def _processor_of(binds: Mapping[str, Any], name: str, dialect: Dialect) -> Processor | None:
    bind = binds.get(name)
    return None if bind is None else _bind_processor(bind.type, dialect)


class Statements:
    """The prepared statements of one store (one dialect), least recently used last."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._prepared: OrderedDict[Hashable, Prepared] = OrderedDict()
        self._memo: dict[Hashable, Any] = {}

    def get(self, key: Hashable, build: Callable[[], sa.Executable]) -> Prepared:
        """The statement prepared under ``key``, built and compiled on first use."""
        found = self._prepared.get(key)
        if found is not None:
            return found
        prepared = prepare(key, build(), self.dialect)
        if len(self._prepared) >= MAX_PREPARED:
            self._prepared.popitem(last=False)
        self._prepared[key] = prepared
        return prepared

    def once(self, statement: sa.Executable) -> Prepared:
        """``statement`` compiled for one use (not kept; its values may be written in)."""
        return prepare(None, statement, self.dialect, reused=False)

    def memo(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """A value derived from the schema, computed once per store (e.g. which tables
        other tables refer to)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]


__all__ = ["Prepared", "Statements", "prepare", "target_of"]
