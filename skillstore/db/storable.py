"""What every backend stores the same way: the checks every input model runs on its values.

SQLite and PostgreSQL disagree on the edges, so a service that passes its tests on SQLite
can fail in production. Every value a caller gives is held to what both store alike,
before any SQL, as a `ValidationError` naming the field:

- text: no NUL characters (PostgreSQL refuses them, SQLite keeps them) and no lone
  surrogates (what ``json.loads`` returns for a hostile ``"\\udfff"``: not UTF-8 at all);
- numbers: integer columns are 32-bit (``2**31`` is stored by SQLite and refused by
  PostgreSQL, ``2**63`` overflows the SQLite driver), integers inside JSON documents fit
  in 64 bits (SQLite's JSON keeps no more), and no float is NaN or infinite (PostgreSQL's
  JSON refuses them, SQLite's stores them);
- JSON documents: object keys are strings, and the rules above hold at every depth;
- timestamps: timezone-aware (a naive one means different instants to different callers).

`Schema` (`skillstore.db.base`) runs `check` on every field it validates; a nested
`Document` is walked from there, field by field, so that documents read back from the
database (validated by `PydanticJSON` into their models) pay nothing for these rules.
`PydanticJSON` runs `check` again on what it binds: a document handed to a repository on
its own is held to the same rules. Rejected: a constrained type per field (dozens of
annotations to keep in step, and a new field would be unchecked by default); a validator
on every document field (35 calls per agent read back, most of `agents.find`'s time).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, SecretStr

INT32 = 2**31
INT64 = 2**63
VECTORS = frozenset({"embedding"})
"""Fields holding vectors: checked by `skillstore.db.types.as_vector` instead (dimension,
finite values, direction), which raises `EmbeddingError`."""
MAX_DEPTH = 64
"""JSON documents nested deeper than this are refused (no real document needs it)."""


class Refusal(ValueError):
    """A value no backend stores alike; ``path`` is where it sits inside a document."""

    def __init__(self, reason: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(reason)
        self.reason, self.path = reason, path

    def __str__(self) -> str:
        return f"{'.'.join(self.path)}: {self.reason}" if self.path else self.reason

    def inside(self, key: object) -> Refusal:
        return Refusal(self.reason, (str(key), *self.path))


def _text(value: str) -> None:
    if "\x00" in value:
        raise Refusal("text cannot contain NUL (\\x00) characters; remove them")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Refusal(
                "text is not valid Unicode (it has a lone surrogate); send UTF-8 text"
            ) from None


def _document(value: Any, depth: int) -> None:
    """The rules for a value inside a JSON document (or a list field)."""
    if depth > MAX_DEPTH:
        raise Refusal(f"a JSON document may be nested at most {MAX_DEPTH} levels deep")
    if isinstance(value, str):
        _text(value)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not -INT64 <= value < INT64:
            raise Refusal(f"{value} does not fit in 64 bits, the most JSON keeps here")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise Refusal("NaN and infinity cannot be stored; send a finite number")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise Refusal(f"JSON object keys are strings, not {type(key).__name__}")
            try:
                _text(key)
                _document(item, depth + 1)
            except Refusal as exc:
                raise exc.inside(key) from None
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            try:
                _document(item, depth + 1)
            except Refusal as exc:
                raise exc.inside(index) from None
    elif isinstance(value, BaseModel):
        for name, item in value:  # a nested document: its fields, as stored
            try:
                _document(item, depth + 1)
            except Refusal as exc:
                raise exc.inside(name) from None
    elif isinstance(value, SecretStr):
        _text(value.get_secret_value())
    elif isinstance(value, datetime):
        _aware(value)


def _aware(value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise Refusal(
            f"naive datetime {value.isoformat()} has no timezone; pass an aware datetime "
            "such as datetime.now(UTC)"
        )


def check(value: Any, *, column: bool) -> Any:
    """Refuse ``value`` unless every backend stores it the same way (see the module
    docstring); ``column`` says whether an integer is a column's (32-bit) or a JSON
    document's (64-bit)."""
    if isinstance(value, str):
        _text(value)
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        limit = INT32 if column else INT64
        if not -limit <= value < limit:
            bits = 32 if column else 64
            raise Refusal(f"{value} does not fit in {bits} bits; use a smaller number")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise Refusal("NaN and infinity cannot be stored; send a finite number")
    elif isinstance(value, datetime):
        _aware(value)
    elif isinstance(value, SecretStr):
        _text(value.get_secret_value())
    elif isinstance(value, Mapping | list | tuple | BaseModel):
        _document(value, 1)
    return value
