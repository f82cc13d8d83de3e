"""``metadata={...}`` filters: JSON containment with one meaning on both backends.

A filter ``{"source": "slack", "labels": ["urgent"], "thread": {"open": True}}`` matches a
document that has every key with that value, every listed element in its array, and so
on into nested objects: PostgreSQL's ``jsonb @> pattern``. SQLite has no such operator,
so the pattern is taken apart into its leaves, each a ``json_type`` check (so that 1
never matches ``true`` or ``"1"``, as on PostgreSQL) plus, for a value, ``json_extract``
equality, and for an array element an ``EXISTS`` over ``json_each``. Paths are bound as
parameters, never written into the SQL.

The statement's *shape* (the leaves' paths and kinds) names the prepared statement; the
values are bound per call (`contains_params`). Patterns PostgreSQL would read
differently from this translation are refused on both backends: arrays of objects or
arrays, keys that are not strings or hold ``"``, and NaN or infinity.

Rejected: post-filtering in Python (a ``k``-nearest search would lose matches), and
``json_each`` joins for every leaf (slower, and no closer to ``@>``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

from skillstore.db.types import JSON
from skillstore.errors import ValidationError


class Leaf(NamedTuple):
    """One condition of a pattern: at ``path`` a value (``element=False``) or an array
    holding it (``element=True``); ``kind`` is its JSON type."""

    path: tuple[str, ...]
    kind: str
    element: bool
    value: Any


def _kind(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return "text"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError(f"metadata filter {where}: NaN and infinity cannot be matched")
        return "number"
    raise ValidationError(
        f"metadata filter {where}: {type(value).__name__} cannot be matched; use strings, "
        "numbers, booleans, null, objects and arrays of those"
    )


def leaves(pattern: Any, path: tuple[str, ...] = ()) -> list[Leaf]:
    """The leaves of ``pattern`` (see the module docstring), or a `ValidationError`."""
    if not isinstance(pattern, Mapping):
        raise ValidationError("a metadata filter is an object, e.g. {'source': 'slack'}")
    found: list[Leaf] = []
    if not pattern and path:
        return [Leaf(path, "object", False, None)]
    for key, value in pattern.items():
        if not isinstance(key, str) or '"' in key:
            raise ValidationError(f"metadata filter key {key!r} must be a string without '\"'")
        here = (*path, key)
        where = ".".join(here)
        if isinstance(value, Mapping):
            found.extend(leaves(value, here))
        elif isinstance(value, list | tuple):
            if not value:
                found.append(Leaf(here, "array", False, None))
            for item in value:
                if isinstance(item, Mapping | list | tuple):
                    raise ValidationError(
                        f"metadata filter {where}: arrays of objects or arrays cannot be matched"
                    )
                found.append(Leaf(here, _kind(item, where), True, item))
        else:
            found.append(Leaf(here, _kind(value, where), False, value))
    return found


def shape(pattern: Any) -> tuple[tuple[tuple[str, ...], str, bool], ...]:
    """What of ``pattern`` decides the SQL (paths and kinds, not values)."""
    return tuple((leaf.path, leaf.kind, leaf.element) for leaf in leaves(pattern))


def contains_params(name: str, pattern: Any) -> dict[str, Any]:
    """The values a `JSONContains` named ``name`` binds for ``pattern`` (both backends')."""
    params: dict[str, Any] = {name: dict(pattern)}
    for i, leaf in enumerate(leaves(pattern)):
        params[f"{name}_p{i}"] = "$" + "".join(f'."{key}"' for key in leaf.path)
        if leaf.kind in {"text", "number"}:
            params[f"{name}_v{i}"] = leaf.value
    return params


class JSONContains(sa.ColumnElement[bool]):
    """``column`` contains the pattern of ``shape`` (values bound as `contains_params`)."""

    inherit_cache = False
    type = sa.Boolean()

    def __init__(
        self,
        column: sa.ColumnElement[Any],
        shape: Sequence[tuple[tuple[str, ...], str, bool]],
        name: str,
    ) -> None:
        self.column = column
        self.shape = tuple(shape)
        self.pattern = sa.bindparam(name, type_=JSON)
        self.paths = [sa.bindparam(f"{name}_p{i}", type_=sa.String()) for i in range(len(shape))]
        self.values: dict[int, sa.BindParameter[Any]] = {
            i: sa.bindparam(f"{name}_v{i}")
            for i, (_, kind, _) in enumerate(shape)
            if kind in {"text", "number"}
        }


@compiles(JSONContains, "postgresql")
def _contains_pg(element: JSONContains, compiler: Any, **kw: Any) -> str:
    return (
        f"({compiler.process(element.column, **kw)} @> {compiler.process(element.pattern, **kw)})"
    )


_TYPES = {
    "text": "('text')",
    "number": "('integer', 'real')",
    "true": "('true')",
    "false": "('false')",
    "null": "('null')",
    "object": "('object')",
    "array": "('array')",
}


@compiles(JSONContains, "sqlite")
def _contains_sqlite(element: JSONContains, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    parts = []
    for i, (_, kind, is_element) in enumerate(element.shape):
        path = compiler.process(element.paths[i], **kw)
        value = compiler.process(element.values[i], **kw) if i in element.values else None
        if is_element:
            match = f"each.type IN {_TYPES[kind]}" + (f" AND each.value = {value}" if value else "")
            # json_each walks a scalar as a one-element array: only an array may match.
            parts.append(
                f"json_type({column}, {path}) = 'array' AND EXISTS "
                f"(SELECT 1 FROM json_each({column}, {path}) AS each WHERE {match})"
            )
        else:
            check = f"json_type({column}, {path}) IN {_TYPES[kind]}"
            if value is not None:
                check += f" AND json_extract({column}, {path}) = {value}"
            parts.append(check)
    return "(" + (" AND ".join(parts) or f"json_type({column}) = 'object'") + ")"


def pattern_key(pattern: Any) -> str:
    """``pattern`` as hashable text (for what is kept per filter values)."""
    return json.dumps(pattern, sort_keys=True)


__all__ = ["JSONContains", "Leaf", "contains_params", "leaves", "pattern_key", "shape"]
