"""Turn driver and SQLAlchemy exceptions into `SkillstoreError`s.

Both drivers report the same failures differently: asyncpg names the violated constraint
(``constraint_name``), sqlite3 puts it, or the columns, in the message. One mapping here
keeps every repository honest about "driver exceptions never leak".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from skillstore.db.schema import APPEND_ONLY_MARKER
from skillstore.errors import (
    AppendOnlyError,
    ConflictError,
    DatabaseError,
    MigrationError,
    SkillstoreError,
    ValidationError,
)

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<cols>.+)")
_SQLITE_CHECK = re.compile(r"CHECK constraint failed: (?P<name>\S+)")
# SQLite: "no such table: team"; PostgreSQL: 'relation "team" does not exist'.
_MISSING_TABLE = re.compile(r'no such table: (?P<table>\w+)|relation "(?P<pg>\w+)" does not exist')


def _constraint_name(orig: BaseException) -> str | None:
    name = getattr(orig, "constraint_name", None)
    if name is None:
        cause = getattr(orig, "__cause__", None)
        name = getattr(cause, "constraint_name", None)
    return name if isinstance(name, str) else None


def translate(error: sa_exc.SQLAlchemyError) -> SkillstoreError:
    """Map one SQLAlchemy/driver exception to the `SkillstoreError` a caller can act on."""
    orig = getattr(error, "orig", None)
    if isinstance(orig, SkillstoreError):
        return orig
    text = str(orig if orig is not None else error).splitlines()[0]
    if APPEND_ONLY_MARKER in text:
        start = text.find(" ", text.find("]") + 1) if text.startswith("(") else 0
        return AppendOnlyError(
            text[start:].strip() + "; append-only rows cannot be updated or deleted"
        )
    missing = _MISSING_TABLE.search(text)
    if missing:
        return MigrationError(
            f"table {missing.group('table') or missing.group('pg')} does not exist: this "
            "database has not been migrated; run `skillstore db upgrade` (or "
            "`await store.upgrade()`) first"
        )
    if isinstance(error, sa_exc.IntegrityError):
        return _integrity(text, orig, str(error.statement or ""))
    if isinstance(error, sa_exc.StatementError) and isinstance(orig, ValueError | TypeError):
        return ValidationError(f"a value could not be stored: {orig}")
    if isinstance(error, sa_exc.DBAPIError | sa_exc.InterfaceError):
        return DatabaseError(f"database error: {text}")
    return DatabaseError(f"database error: {error}")


def _integrity(text: str, orig: object, statement: str) -> SkillstoreError:
    name = _constraint_name(orig) if isinstance(orig, BaseException) else None
    lowered = text.lower()
    if "unique" in lowered or "duplicate key" in lowered:
        match = _SQLITE_UNIQUE.search(text)
        what = name or (match.group("cols") if match else "a unique key")
        return ConflictError(
            f"a row with the same value already exists ({what}); choose another value",
            constraint=name,
        )
    if "update or delete on table" in lowered or (
        "foreign key" in lowered and statement.lstrip().upper().startswith("DELETE")
    ):  # PostgreSQL says which way the key was broken; on SQLite, only a DELETE is this
        return ConflictError(
            "other rows still refer to this row; delete those rows or point them elsewhere first",
            constraint=name,
        )
    if "foreign key" in lowered:
        return ValidationError(
            f"a referenced row does not exist ({name or 'foreign key'}); create it first "
            "or check the id"
        )
    if "check constraint" in lowered or "violates check" in lowered:
        match = _SQLITE_CHECK.search(text)
        what = name or (match.group("name") if match else "a check constraint")
        return ValidationError(f"a value is out of its allowed range ({what})")
    if "not null" in lowered or "null value" in lowered:
        return ValidationError(f"a required value is missing ({name or text})")
    return ConflictError(f"the database refused the write: {text}", constraint=name)


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise any SQLAlchemy exception in the block as a `SkillstoreError`."""
    try:
        yield
    except sa_exc.SQLAlchemyError as error:
        raise translate(error) from error


def translate_driver_error(exc: Exception, statement: str) -> SkillstoreError:
    """Translate an exception raised by the driver itself (asyncpg or sqlite3 called
    directly, without SQLAlchemy), as if SQLAlchemy had wrapped it."""
    if isinstance(exc, OSError) or (type(exc) is ValueError and "closed" in str(exc).lower()):
        return DatabaseError(
            f"the connection to the database was lost ({exc}); open a new session and check "
            "that the server is up"
        )
    names = {t.__name__ for t in type(exc).__mro__}
    integrity = names & {"IntegrityConstraintViolationError", "IntegrityError"}
    wrapper = sa_exc.IntegrityError if integrity else sa_exc.DBAPIError
    return translate(wrapper(statement, None, exc))
