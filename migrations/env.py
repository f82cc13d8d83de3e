"""Alembic environment for skillstore: async engines, both dialects, one code path.

`Store.upgrade` and the ``skillstore db`` commands pass a live connection in
``config.attributes["connection"]``; Alembic's own CLI (run from the repository) gets an
engine built here from ``SKILLSTORE_DATABASE_URL`` or ``alembic.ini``.

- SQLite: batch mode (SQLite cannot ALTER most things), foreign keys switched off while
  tables are rebuilt (a rebuild drops the old table, which would cascade), checked after,
  and append-only and vector-version triggers restored after every revision. The whole
  upgrade is one ``BEGIN IMMEDIATE`` transaction, so concurrent upgrades queue on the
  write lock.
- PostgreSQL: a transaction-scoped advisory lock, so two replicas starting at once never
  migrate concurrently; the second waits, then finds nothing to do.
- Backend-only objects (HNSW indexes named ``hnsw_*``, SQLite's ``vector_version``
  table) live in migrations only, so the model comparison leaves them out.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pgvector.sqlalchemy  # noqa: F401  (lets reflection recognise the vector type)
import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.sql.sqltypes import AutoString

from skillstore._migrate.ddl import NO_REPLACE_REVISION, VECTOR_VERSION, restore_sqlite_triggers
from skillstore._migrate.lexical import (
    FTS_SUFFIX,
    GIN_PREFIX,
    LEXICAL_TABLES,
    SEARCH_VECTOR,
    restore_lexical,
)
from skillstore._migrate.redaction import REVISION as REDACTION_REVISION
from skillstore.db.base import BACKEND_ONLY_INDEX_PREFIX, metadata
from skillstore.db.engine import create_engine
from skillstore.db.types import (
    Ciphertext,
    Embedding,
    JSONDocument,
    PydanticJSON,
    StrList,
    UTCDateTime,
    UUIDList,
)
from skillstore.models import load_all
from skillstore.settings import StoreSettings

load_all()  # every table is in the metadata the revisions are compared with

config = context.config
MIGRATION_LOCK = 7_355_608_001  # arbitrary, fixed: pg_advisory_xact_lock key


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if type_ == "index" and reflected and compare_to is None:
        return not (name or "").startswith((BACKEND_ONLY_INDEX_PREFIX, GIN_PREFIX))
    if type_ == "column" and reflected and compare_to is None:
        return name != SEARCH_VECTOR  # PostgreSQL's generated lexical column
    if type_ == "table" and reflected and compare_to is None:
        # SQLite's vector version table and FTS5 tables: migrations only
        fts = tuple(f"{t}{FTS_SUFFIX}" for t in LEXICAL_TABLES)
        return name != VECTOR_VERSION and not (name or "").startswith(fts)
    return True


def compare_type(
    ctx: Any,
    inspected: sa.Column[Any],
    column: sa.Column[Any],
    inspected_type: Any,
    metadata_type: Any,
) -> bool | None:
    """Compare our portable types by what they store; defer everything else to Alembic."""
    dialect = ctx.dialect.name
    if isinstance(metadata_type, Embedding):
        expected = "VECTOR" if dialect == "postgresql" else "BLOB"
        return type(inspected_type).__name__.upper() not in {expected, "LARGEBINARY"}
    if isinstance(metadata_type, JSONDocument | PydanticJSON | StrList | UUIDList):
        name = type(inspected_type).__name__.upper()
        return name not in ({"JSONB", "ARRAY"} if dialect == "postgresql" else {"JSON"})
    if isinstance(metadata_type, Ciphertext):
        return not isinstance(inspected_type, sa.Text)
    if isinstance(metadata_type, UTCDateTime):
        return not isinstance(inspected_type, sa.DateTime)
    return None


def render_item(type_: str, obj: Any, autogen: AutogenContext) -> str | bool:
    """Render portable types so generated revisions import nothing from the models."""
    if type_ != "type":
        return False
    if isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    if isinstance(obj, JSONDocument | PydanticJSON | sa.JSON):
        autogen.imports.add("from skillstore.db.types import JSON")
        return "JSON"
    if isinstance(obj, Embedding):
        autogen.imports.add("from skillstore._migrate.ddl import embedding_dimensions")
        autogen.imports.add("from skillstore.db.types import Embedding")
        return "Embedding(embedding_dimensions())"
    if isinstance(obj, StrList | UUIDList | Ciphertext | UTCDateTime):
        autogen.imports.add(f"from skillstore.db.types import {type(obj).__name__}")
        return f"{type(obj).__name__}()"
    return False


def _sqlite_pragma(connection: sa.Connection, pragma: str) -> list[Any]:
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f"PRAGMA {pragma}")
        return list(cursor.fetchall())
    finally:
        cursor.close()


def run_migrations(connection: sa.Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"

    def after_revision(*, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        if sqlite:
            applied = {r.revision for r in context.script.iterate_revisions(heads, "base")}
            restore_sqlite_triggers(
                connection,
                metadata,
                no_replace=NO_REPLACE_REVISION in applied,
                redactable=REDACTION_REVISION in applied,
            )
            restore_lexical(connection)

    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=sqlite,
        include_object=include_object,
        compare_type=compare_type,
        compare_server_default=False,
        render_item=render_item,
        on_version_apply=after_revision,
        transaction_per_migration=False,
        # SQLite's DDL is transactional too; Alembic assumes it is not and would commit
        # after each revision, letting a second replica slip in between two of them.
        transactional_ddl=True,
    )
    outside_transaction = not connection.in_transaction()
    if sqlite and outside_transaction:
        _sqlite_pragma(connection, "foreign_keys=OFF")
    try:
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            context.run_migrations()
            if sqlite and (broken := connection.exec_driver_sql("PRAGMA foreign_key_check").all()):
                raise RuntimeError(f"migration left rows with dangling foreign keys: {broken[:5]}")
    finally:
        if sqlite and outside_transaction:
            _sqlite_pragma(connection, "foreign_keys=ON")


async def run_async(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.run_sync(run_migrations)
        await connection.commit()


def main() -> None:
    if context.is_offline_mode():
        raise SystemExit("offline (--sql) migrations are not supported; run against a database")
    given = config.attributes.get("connection")
    if isinstance(given, sa.Connection):
        run_migrations(given)
    elif isinstance(given, AsyncEngine):  # as test harnesses pass it
        asyncio.run(run_async(given))
    else:
        url = os.environ.get("SKILLSTORE_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
        engine = create_engine(StoreSettings(database_url=url or ""), migrations=True)
        try:
            asyncio.run(run_async(engine))
        finally:
            asyncio.run(engine.dispose())


main()
