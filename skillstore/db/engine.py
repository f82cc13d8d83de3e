"""Create the async engine for a URL, with each backend's connection set-up.

SQLite: ``foreign_keys=ON`` (off by default per connection), WAL, a busy timeout, and
the ``sqlite-vec`` extension where it can be loaded. PostgreSQL: pool sizes from
settings and a binary asyncpg codec for pgvector's ``vector`` type, so embeddings
travel as float32 bytes, not formatted text.

The store's engine hands out connections in SQLAlchemy's ``AUTOCOMMIT`` mode with no
reset on return: `skillstore.db.unit.UnitOfWork` sends ``BEGIN``/``COMMIT`` itself and
always ends what it began (or discards the connection), so SQLAlchemy has nothing to
reset, and on SQLite a reset would be one more thread hop per request. There is no
``pool_pre_ping`` either (three round trips per PostgreSQL checkout): a dead connection
is found, invalidated and replaced by the first statement of a unit of work.

``transaction_pooler``: behind PgBouncer in ``pool_mode = transaction`` consecutive
transactions of one client connection run on different server connections, so nothing
may assume one server session: asyncpg's statement cache is off (every statement is an
unnamed one, parsed again with its Bind), SQLAlchemy's prepared-statement cache is off,
and the statement names SQLAlchemy still makes are UUIDs (a per-process counter collides
between processes sharing a server connection). Session-level ``SET`` and session
advisory locks are never used anyway (``SET LOCAL``, ``pg_advisory_xact_lock``).

`create_engine(..., migrations=True)` is the engine Alembic runs on: one connection per
use, SQLAlchemy's own transactions, and on SQLite ``BEGIN IMMEDIATE`` (the begin hook
from SQLAlchemy's documentation) so that two processes migrating at once queue.
"""

from __future__ import annotations

import struct
import uuid
from typing import Any

import sqlalchemy as sa
from pydantic_core import from_json
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from skillstore.db.urls import parse_url
from skillstore.settings import StoreSettings


def create_engine(
    settings: StoreSettings,
    *,
    migrations: bool = False,
    url: str | None = None,
    connect_timeout: float | None = None,
) -> AsyncEngine:
    """Build the engine for ``url`` (default ``settings.database_url``) with the backend's
    connection set-up (see the module docstring for what ``migrations`` changes)."""
    parsed, connect_args = parse_url(settings.database_url if url is None else url)
    options: dict[str, Any]
    if migrations:
        options = {"poolclass": NullPool}
    else:
        options = {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None}
        if parsed.get_backend_name() == "postgresql":
            options |= {"pool_size": settings.pool_size, "max_overflow": settings.pool_overflow}
        if parsed.database not in {None, "", ":memory:"}:
            options["pool_timeout"] = settings.pool_timeout
    if parsed.get_backend_name() == "postgresql":
        if settings.transaction_pooler:
            connect_args |= pooler_safe_connect_args()
        if connect_timeout is not None:
            connect_args["timeout"] = connect_timeout
    if connect_args:
        options["connect_args"] = connect_args
    # pydantic-core's parser: what JSON columns hold comes back in a fifth of the time.
    engine = create_async_engine(parsed, echo=settings.echo, json_deserializer=from_json, **options)
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine, settings, migrations=migrations)
    else:
        _configure_postgres(engine)
    return engine


def pooler_safe_connect_args() -> dict[str, Any]:
    """asyncpg/SQLAlchemy connect arguments that work through a transaction-mode pooler."""
    return {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": lambda: f"__asyncpg_{uuid.uuid4()}__",
    }


def _configure_sqlite(engine: AsyncEngine, settings: StoreSettings, *, migrations: bool) -> None:
    busy_timeout_ms = settings.sqlite_busy_timeout_ms
    load_vec = False
    if settings.sqlite_vec and not migrations:
        from skillstore.vector import sqlite_vec

        load_vec = sqlite_vec.unavailable() is None

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Deleted and overwritten rows are zeroed in the file, so an erasure leaves no
        # readable bytes behind in free pages (the WAL is emptied by a checkpoint).
        cursor.execute("PRAGMA secure_delete=ON")
        # Vector search reads every candidate's blob: with the default 2 MB page cache a
        # 2,000-row tenant (3 MB of vectors) is re-read through syscalls on every query.
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute("PRAGMA mmap_size=268435456")
        cursor.close()
        if load_vec:
            dbapi_connection.run_async(sqlite_vec.load)
            record.info[sqlite_vec.CONNECTION_FLAG] = True

    if migrations:

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(connection: sa.Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _configure_postgres(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.run_async(register_vector_codec)


async def register_vector_codec(connection: Any) -> None:
    """Teach an asyncpg connection to send and receive ``vector`` as binary float32.

    A database that has not been migrated yet has no ``vector`` type; the codec is then
    skipped, and `Store.upgrade` recycles the pool so later connections get it.
    """
    try:
        await connection.set_type_codec(
            "vector", encoder=_encode_vector, decoder=_decode_vector, format="binary"
        )
    except ValueError as exc:
        if not str(exc).startswith("unknown type"):
            raise


def _encode_vector(value: Any) -> bytes:
    import numpy as np

    array = np.asarray(value, dtype=">f4")
    return struct.pack(">HH", array.size, 0) + array.tobytes()


def _decode_vector(data: bytes) -> Any:
    import numpy as np

    (dim,) = struct.unpack_from(">H", data)
    return np.frombuffer(data, dtype=">f4", count=dim, offset=4).astype(np.float32)
