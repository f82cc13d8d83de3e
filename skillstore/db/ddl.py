"""DDL the models cannot express, shared by every migration revision.

Native PostgreSQL enum types, append-only triggers (both backends), and the embedding
dimension chosen when the migration runs. Kept here, not copied into each revision, so
that a later table gets exactly the same guarantees as the first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from skillstore.db.base import BACKEND_ONLY_INDEX_PREFIX
from skillstore.db.translate import APPEND_ONLY_MARKER

APPEND_ONLY = "append_only"
"""Key in ``Table.info`` marking an append-only table (``__table_args__ = ({...},)``)."""


def embedding_dimensions() -> int:
    """The vector dimension for this migration run (``StoreSettings.embedding_dimensions``)."""
    config = op.get_context().config
    value = config.attributes.get("embedding_dimensions") if config is not None else None
    if value is None:
        from skillstore.settings import StoreSettings

        value = StoreSettings().embedding_dimensions
    return int(value)


def drop_enum(name: str) -> None:
    """Drop a native enum type on PostgreSQL."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        sa.Enum(name=name).drop(bind, checkfirst=True)


def _sqlite_triggers(table: str) -> list[str]:
    message = f"{table} {APPEND_ONLY_MARKER}"
    return [
        f'CREATE TRIGGER IF NOT EXISTS "{table}_no_{verb.lower()}" BEFORE {verb} ON "{table}" '
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        for verb in ("UPDATE", "DELETE")
    ]


def create_append_only(table: str) -> None:
    """Make ``table`` refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL)."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(
            f'CREATE OR REPLACE FUNCTION "{table}_append_only"() RETURNS trigger '
            f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '% {APPEND_ONLY_MARKER}', "
            "TG_TABLE_NAME USING ERRCODE = 'restrict_violation'; END $$"
        )
        op.execute(
            f'CREATE TRIGGER "{table}_append_only" BEFORE UPDATE OR DELETE ON "{table}" '
            f'FOR EACH ROW EXECUTE FUNCTION "{table}_append_only"()'
        )
        op.execute(
            f'CREATE TRIGGER "{table}_no_truncate" BEFORE TRUNCATE ON "{table}" '
            f'FOR EACH STATEMENT EXECUTE FUNCTION "{table}_append_only"()'
        )
    else:
        for statement in _sqlite_triggers(table):
            op.execute(statement)


def drop_append_only(table: str) -> None:
    """Undo `create_append_only` (before dropping or rewriting the table)."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(f'DROP TRIGGER IF EXISTS "{table}_append_only" ON "{table}"')
        op.execute(f'DROP TRIGGER IF EXISTS "{table}_no_truncate" ON "{table}"')
        op.execute(f'DROP FUNCTION IF EXISTS "{table}_append_only"()')
    else:
        for verb in ("update", "delete"):
            op.execute(f'DROP TRIGGER IF EXISTS "{table}_no_{verb}"')


def restore_sqlite_append_only(connection: sa.Connection, metadata: sa.MetaData) -> None:
    """Re-create append-only triggers that a SQLite batch migration dropped with its table.

    SQLite rebuilds a table to alter it and the triggers go with the old one; the
    migration environment calls this after every revision, so no revision can forget.
    """
    existing = set(sa.inspect(connection).get_table_names())
    for table in metadata.sorted_tables:
        if table.info.get(APPEND_ONLY) and table.name in existing:
            for statement in _sqlite_triggers(table.name):
                connection.exec_driver_sql(statement)


VECTOR_INDEX_MAX_DIMENSIONS = 2000
"""pgvector indexes ``vector`` up to 2,000 dimensions and ``halfvec`` up to 4,000."""


def create_hnsw_index(table: str, column: str = "embedding") -> None:
    """An HNSW cosine index on ``table.column`` (PostgreSQL only; named ``hnsw_*``).

    Above 2,000 dimensions the index is on a ``halfvec`` expression, which
    `skillstore.vector.pgvector` orders by; above 4,000 there is no index and searches
    are exact scans.
    """
    if op.get_bind().dialect.name != "postgresql":
        return
    dim = embedding_dimensions()
    name = f"{BACKEND_ONLY_INDEX_PREFIX}{table}_{column}"
    if dim <= VECTOR_INDEX_MAX_DIMENSIONS:
        target = f'"{column}" vector_cosine_ops'
    elif dim <= 2 * VECTOR_INDEX_MAX_DIMENSIONS:
        target = f'("{column}"::halfvec({dim})) halfvec_cosine_ops'
    else:
        return
    op.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING hnsw ({target})')


def drop_hnsw_index(table: str, column: str = "embedding") -> None:
    """Undo `create_hnsw_index`."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f'DROP INDEX IF EXISTS "{BACKEND_ONLY_INDEX_PREFIX}{table}_{column}"')
