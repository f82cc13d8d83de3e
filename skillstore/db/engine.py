"""Create the async engine for a URL, with each backend's connection set-up.

SQLite: ``foreign_keys=ON`` (off by default per connection), WAL, a busy timeout, the
begin hook from SQLAlchemy's documentation that makes SAVEPOINT work under the
``sqlite3`` driver, and the ``sqlite-vec`` extension where it can be loaded.
Transactions start with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the busy
timeout instead of failing when a read lock cannot be upgraded.

PostgreSQL: pool sizes from settings, ``pool_pre_ping``, and a binary asyncpg codec for
pgvector's ``vector`` type so embeddings travel as float32 bytes, not formatted text.
"""

from __future__ import annotations

import struct
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from skillstore.errors import BackendNotSupportedError
from skillstore.settings import StoreSettings

SUPPORTED = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


def normalize_url(url: str) -> sa.URL:
    """Parse ``url`` and pick the async driver; raise `BackendNotSupportedError` otherwise."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise BackendNotSupportedError(
            f"cannot parse database URL {url!r}; expected e.g. "
            "sqlite+aiosqlite:///./skillstore.db or postgresql+asyncpg://user:pw@host/db"
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED:
        raise BackendNotSupportedError(
            f"database backend {backend!r} is not supported; use SQLite "
            "(sqlite+aiosqlite:///path.db) or PostgreSQL (postgresql+asyncpg://...)"
        )
    return parsed.set(drivername=SUPPORTED[backend])


def create_engine(settings: StoreSettings, *, pooled: bool = True) -> AsyncEngine:
    """Build the engine for ``settings.database_url`` with the backend's connection set-up.

    ``pooled=False`` opens a connection per use (for tools that run each step in a new
    event loop, where pooled connections could not be reused).
    """
    url = normalize_url(settings.database_url)
    pool: dict[str, Any] = {} if pooled else {"poolclass": NullPool}
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url, echo=settings.echo, **pool)
        _configure_sqlite(engine, settings)
    else:
        if pooled:
            pool = {"pool_size": settings.pool_size, "max_overflow": settings.pool_overflow}
        engine = create_async_engine(url, echo=settings.echo, pool_pre_ping=True, **pool)
        _configure_postgres(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine, settings: StoreSettings) -> None:
    from skillstore.vector import sqlite_vec

    busy_timeout_ms = settings.sqlite_busy_timeout_ms
    load_vec = settings.sqlite_vec and sqlite_vec.unavailable() is None

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Vector search reads every candidate's blob: with the default 2 MB page cache a
        # 2,000-row tenant (3 MB of vectors) is re-read through syscalls on every query.
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute("PRAGMA mmap_size=268435456")
        cursor.close()
        if load_vec:
            dbapi_connection.run_async(sqlite_vec.load)
            record.info[sqlite_vec.CONNECTION_FLAG] = True

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
