"""Database URLs: parsed, checked and turned into what the async driver takes.

A URL is the first thing an operator types, so every mistake in one is a single
`SkillstoreError` naming the part that is wrong and the fix, never a driver traceback,
and never with the password in it. Query keys are an allow-list per backend: SQLAlchemy
hands every key of a PostgreSQL URL to ``asyncpg.connect`` (an unknown one fails at the
first connection with ``TypeError``) and silently ignores unknown keys of a SQLite URL;
both are refused up front instead. libpq's ``sslmode`` is what users copy from their
provider's dashboard; asyncpg calls it ``ssl`` and takes the same mode names, so it is
translated. Numeric keys are converted here, since a URL carries only strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from skillstore.errors import BackendNotSupportedError, ValidationError

SUPPORTED = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
EXAMPLES = "sqlite+aiosqlite:///./skillstore.db or postgresql+asyncpg://user:pw@host:5432/db"
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")

# Keys passed to the driver as connect arguments, with the type each needs.
POSTGRES_KEYS: Mapping[str, Callable[[str], Any]] = {
    "ssl": str,
    "timeout": float,
    "command_timeout": float,
    "statement_cache_size": int,
    "max_cached_statement_lifetime": float,
    "max_cacheable_statement_size": int,
    "target_session_attrs": str,
}
# Kept in the URL: SQLAlchemy itself reads them (``host`` may name a socket directory).
POSTGRES_URL_KEYS = ("host", "prepared_statement_cache_size")
SQLITE_KEYS: Mapping[str, Callable[[str], Any]] = {"timeout": float, "cached_statements": int}

_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


def redacted(url: str) -> str:
    """``url`` with any password replaced by ``***``, even when it does not parse."""
    return _PASSWORD.sub(r"\1***@", url)


def parse_url(url: str) -> tuple[sa.URL, dict[str, Any]]:
    """The async-driver URL for ``url`` and the connect arguments its query asked for.

    Raises:
        BackendNotSupportedError: not SQLite or PostgreSQL.
        ValidationError: it does not parse, its port is not a number, or its query has
            a key (or a value) the backend does not take.
    """
    try:
        parsed = make_url(url)
        port = parsed.port
    except (ArgumentError, ValueError) as exc:
        raise ValidationError(
            f"cannot parse database URL {redacted(url)!r} ({_reason(exc)}); expected e.g. "
            f"{EXAMPLES}"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED:
        raise BackendNotSupportedError(
            f"database backend {backend!r} is not supported; use SQLite "
            "(sqlite+aiosqlite:///path.db) or PostgreSQL (postgresql+asyncpg://...)"
        )
    if port is not None and not 0 < port < 65536:
        raise ValidationError(f"database URL port {port} is out of range (1-65535)")
    parsed = parsed.set(drivername=SUPPORTED[backend])
    query = {key: _single(key, value) for key, value in parsed.query.items()}
    if backend == "postgresql" and "sslmode" in query:
        if "ssl" in query:
            raise ValidationError("database URL gives both sslmode and ssl; keep one")
        query["ssl"] = query.pop("sslmode")
    if "ssl" in query and query["ssl"] not in SSL_MODES:
        raise ValidationError(
            f"database URL sslmode {query['ssl']!r} is not one of {', '.join(SSL_MODES)}"
        )
    postgres = backend == "postgresql"
    keys, kept = (POSTGRES_KEYS, POSTGRES_URL_KEYS) if postgres else (SQLITE_KEYS, ())
    unknown = sorted(set(query) - set(keys) - set(kept))
    if unknown:
        accepted = sorted([*keys, *kept, *(["sslmode"] if postgres else [])])
        raise ValidationError(
            f"database URL query key(s) {', '.join(unknown)} are not understood for "
            f"{backend}; accepted: {', '.join(accepted)}"
        )
    connect_args = {key: _converted(key, query[key], keys[key]) for key in query if key in keys}
    remaining = {key: value for key, value in parsed.query.items() if key in kept}
    return parsed.set(query=remaining), connect_args


def _single(key: str, value: str | tuple[str, ...]) -> str:
    if isinstance(value, tuple):
        if key == "host":
            return ",".join(value)
        raise ValidationError(f"database URL query key {key} is given more than once")
    return value


def _converted(key: str, value: str, kind: Callable[[str], Any]) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise ValidationError(
            f"database URL query key {key}={value!r} must be a {getattr(kind, '__name__', kind)}"
        ) from None


def _reason(exc: Exception) -> str:
    message = str(exc)
    if "invalid literal for int()" in message:
        return "the port is not a number"
    return "not a URL"


def missing_sqlite_file(url: str) -> str | None:
    """The path of a SQLite database URL whose file does not exist (else None): opening
    it would create an empty file, which a read-only command must not do."""
    parsed, _ = parse_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return None if Path(database).exists() else database
