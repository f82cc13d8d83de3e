"""``skillstore doctor``: is this installation ready, and if not, what to do about it.

Each check is one line: ``ok``, ``problem`` (the command exits non-zero) or ``info``
(worth knowing, never a failure), with the fix in the same line. A check that cannot
run reports its reason as a problem instead of a traceback, and checks that need the
database are skipped when it cannot be reached: one clear cause beats five echoes of it.
Rejected: reusing `Store.open` (it stops at the first failure; a diagnosis should not)
and printing through rich tables (lines stay greppable in deploy logs).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from skillstore import _migrate
from skillstore.crypto import Cipher
from skillstore.db.base import BACKEND_ONLY_INDEX_PREFIX, metadata
from skillstore.db.engine import create_engine
from skillstore.db.schema import VECTOR_INDEX_MAX_DIMENSIONS
from skillstore.db.types import encrypted_columns, vector_columns
from skillstore.db.urls import missing_sqlite_file
from skillstore.errors import CredentialError, SkillstoreError
from skillstore.settings import StoreSettings

Status = Literal["ok", "problem", "info"]


@dataclass(frozen=True)
class Check:
    """One line of the diagnosis."""

    name: str
    status: Status
    message: str


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


async def diagnose(settings: StoreSettings) -> list[Check]:
    """Run every check against ``settings``; never raises."""
    installed = _installed()
    try:
        engine = create_engine(settings, migrations=True)
    except SkillstoreError as exc:
        return [installed, Check("database", "problem", str(exc))]
    if missing := missing_sqlite_file(settings.database_url):  # connecting would create it
        await engine.dispose()
        message = f"no database file at {missing}: run `skillstore db upgrade` to create it"
        return [installed, Check("database", "problem", message)]
    try:
        return [installed, *await _diagnose(engine, settings)]
    finally:
        await engine.dispose()


def _installed() -> Check:
    """Which distribution is installed: the public index has an unrelated ``skillstore``."""
    from importlib import metadata

    try:
        version = metadata.version("skillstore")
    except metadata.PackageNotFoundError:
        return Check("installed", "info", "skillstore is imported from a source tree")
    return Check(
        "installed", "info", f"skillstore {version}, imported from {Path(__file__).parent}"
    )


async def _diagnose(engine: AsyncEngine, settings: StoreSettings) -> list[Check]:
    url = engine.url.render_as_string(hide_password=True)
    try:
        async with engine.connect() as conn:
            reached = await _server(conn, url)
    except Exception as exc:
        return [
            Check(
                "database",
                "problem",
                f"cannot connect to {url}: {_first_line(exc)}; check --url or "
                "SKILLSTORE_DATABASE_URL and that the server is running",
            )
        ]
    checks = [reached]
    steps: list[tuple[str, Callable[[AsyncConnection], Awaitable[Check | None]]]] = [
        ("migrations", _migrations),
        ("vectors", _pgvector if engine.dialect.name == "postgresql" else _sqlite_vec),
        ("encryption", lambda conn: _encryption(conn, settings)),
        ("dimensions", lambda conn: _dimensions(conn, settings)),
    ]
    for name, step in steps:
        try:
            async with engine.connect() as conn:
                found = await step(conn)
        except Exception as exc:
            found = Check(name, "problem", f"could not check: {_first_line(exc)}")
        if found is not None:
            checks.append(found)
    return checks


async def _scalar(conn: AsyncConnection, sql: str, **params: Any) -> Any:
    return (await conn.execute(sa.text(sql), params)).scalar()


async def _tables(conn: AsyncConnection) -> set[str]:
    return set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))


async def _server(conn: AsyncConnection, url: str) -> Check:
    if conn.dialect.name == "postgresql":
        version = await _scalar(conn, "SHOW server_version")
        return Check("database", "ok", f"PostgreSQL {version} at {url}")
    version = await _scalar(conn, "SELECT sqlite_version()")
    return Check("database", "ok", f"SQLite {version} at {url}")


async def _migrations(conn: AsyncConnection) -> Check:
    def read(sync: sa.Connection) -> str | None:
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(sync).get_current_revision()

    at, head = await conn.run_sync(read), _migrate.head()
    if at == head:
        return Check("migrations", "ok", f"at head ({head})")
    if at is None:
        return Check("migrations", "problem", "not migrated: run `skillstore db upgrade`")
    return Check(
        "migrations",
        "problem",
        f"at {at}, head is {head}: back up the database, then run `skillstore db upgrade`",
    )


async def _pgvector(conn: AsyncConnection) -> Check:
    version = await _scalar(conn, "SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    if version is None:
        return Check(
            "pgvector",
            "problem",
            "the vector extension is not installed in this database: `skillstore db upgrade` "
            "creates it (needs pgvector on the server and a role allowed to CREATE EXTENSION)",
        )
    tables = await _tables(conn)
    wanted = {
        f"{BACKEND_ONLY_INDEX_PREFIX}{column.table.name}_{column.name}"
        for column in vector_columns(metadata)
        if column.table.name in tables
    }
    rows = await conn.execute(
        sa.text("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'hnsw\\_%'")
    )
    present = {row[0] for row in rows}
    dims = await _schema_dimensions(conn)
    if dims is not None and dims > 2 * VECTOR_INDEX_MAX_DIMENSIONS:
        return Check(
            "pgvector",
            "info",
            f"pgvector {version}; no HNSW indexes at {dims} dimensions (pgvector indexes at "
            f"most {2 * VECTOR_INDEX_MAX_DIMENSIONS}): searches are exact scans",
        )
    if missing := sorted(wanted - present):
        return Check(
            "pgvector",
            "problem",
            f"pgvector {version}, but HNSW index(es) missing: {', '.join(missing)}; searches "
            "fall back to exact scans: re-create them (see migrations/ for the statements)",
        )
    return Check("pgvector", "ok", f"pgvector {version}; HNSW indexes: {len(present)} present")


async def _sqlite_vec(conn: AsyncConnection) -> Check:
    from skillstore.vector import sqlite_vec

    why = sqlite_vec.unavailable()
    if why is not None:
        return Check("sqlite-vec", "info", f"not used: {why}; optional, search is exact with numpy")
    return Check(
        "sqlite-vec",
        "info",
        f"{sqlite_vec.version()} loaded: searches that miss the in-memory vectors score in SQL",
    )


async def _encryption(conn: AsyncConnection, settings: StoreSettings) -> Check:
    if not settings.encryption_keys:
        return Check(
            "encryption",
            "problem",
            "no key configured: set SKILLSTORE_ENCRYPTION_KEYS "
            "(`skillstore keys generate` prints one); credentials cannot be stored without it",
        )
    try:
        cipher = Cipher(settings.encryption_keys)
    except CredentialError as exc:
        return Check("encryption", "problem", str(exc))
    tables, stale, checked = await _tables(conn), 0, 0
    for column, version in encrypted_columns(metadata):
        table = column.table
        if table.name not in tables:
            continue
        sample = await conn.execute(sa.select(column, version).where(column.is_not(None)).limit(1))
        for ciphertext, _ in sample:
            checked += 1
            try:
                cipher.decrypt(ciphertext)
            except CredentialError:
                return Check(
                    "encryption",
                    "problem",
                    f"the configured keys cannot decrypt {table.name}.{column.name}: add the "
                    "key it was encrypted with to SKILLSTORE_ENCRYPTION_KEYS",
                )
        count = (
            sa.select(sa.func.count())
            .select_from(table)
            .where(column.is_not(None), version != cipher.primary_version)
        )
        stale += int((await conn.execute(count)).scalar_one())
    keys = f"{len(settings.encryption_keys)} key(s), primary {cipher.primary_version}"
    if stale:
        return Check(
            "encryption",
            "ok",
            f"{keys}; {stale} value(s) under older keys: `skillstore keys rotate`",
        )
    return Check("encryption", "ok", f"{keys}; decrypts stored values" if checked else keys)


async def _schema_dimensions(conn: AsyncConnection) -> int | None:
    if conn.dialect.name == "postgresql":
        typmod = await _scalar(
            conn,
            "SELECT atttypmod FROM pg_attribute "
            "WHERE attrelid = to_regclass('memory') AND attname = 'embedding'",
        )
        return int(typmod) if typmod is not None and typmod > 0 else None
    if "memory" not in await _tables(conn):
        return None
    size = await _scalar(
        conn, "SELECT length(embedding) FROM memory WHERE embedding IS NOT NULL LIMIT 1"
    )
    return int(size) // 4 if size is not None else None


async def _dimensions(conn: AsyncConnection, settings: StoreSettings) -> Check | None:
    wanted = settings.embedding_dimensions
    found = await _schema_dimensions(conn)
    if found is None:
        where = "the schema" if conn.dialect.name == "postgresql" else "stored vectors"
        return Check("dimensions", "info", f"{wanted} configured; nothing in {where} to compare")
    if found != wanted:
        return Check(
            "dimensions",
            "problem",
            f"the database holds {found}-dimensional vectors but SKILLSTORE_EMBEDDING_DIMENSIONS "
            f"is {wanted}: set it to {found} (the dimension is fixed when the schema is migrated)",
        )
    return Check("dimensions", "ok", f"{found}, as configured")
