"""DDL the models cannot express, shared by the migration revisions (and only by them).

Native PostgreSQL enum types, append-only triggers (both backends), the SQLite vector
version triggers, and the embedding dimension chosen when the migration runs. Kept here,
not copied into each revision, so that a later table gets exactly the same guarantees as
the first; imported only while migrating (it imports Alembic).

What a helper installs is frozen once a revision uses it: a revision must install the
same SQL forever, or databases migrated at different times would differ.
``tests/test_migrations.py`` holds each helper's SQL to a recorded digest; a different
trigger is a new helper, installed by a new revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from skillstore.db.base import BACKEND_ONLY_INDEX_PREFIX
from skillstore.db.schema import (
    ANY_ROW,
    APPEND_ONLY,
    APPEND_ONLY_MARKER,
    DELETABLE,
    EPOCH,
    ERASURE,
    REDACTED,
    VECTOR_INDEX_MAX_DIMENSIONS,
    VECTOR_VERSION,
    VECTOR_VOLATILE_COLUMNS,
)
from skillstore.db.types import vector_columns

__all__ = ["APPEND_ONLY", "VECTOR_VERSION"]


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


def append_only_sql(table: str, dialect: str) -> list[str]:
    """The statements that make ``table`` refuse UPDATE and DELETE (and TRUNCATE on
    PostgreSQL)."""
    if dialect != "postgresql":
        return _sqlite_triggers(table)
    return [
        f'CREATE OR REPLACE FUNCTION "{table}_append_only"() RETURNS trigger '
        f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '% {APPEND_ONLY_MARKER}', "
        "TG_TABLE_NAME USING ERRCODE = 'restrict_violation'; END $$",
        f'CREATE TRIGGER "{table}_append_only" BEFORE UPDATE OR DELETE ON "{table}" '
        f'FOR EACH ROW EXECUTE FUNCTION "{table}_append_only"()',
        f'CREATE TRIGGER "{table}_no_truncate" BEFORE TRUNCATE ON "{table}" '
        f'FOR EACH STATEMENT EXECUTE FUNCTION "{table}_append_only"()',
    ]


def create_append_only(table: str) -> None:
    """Make ``table`` refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL)."""
    for statement in append_only_sql(table, op.get_bind().dialect.name):
        op.execute(statement)


NO_REPLACE_REVISION = "0008"
"""The revision that added `no_replace_sql` (restored after batch rebuilds from then on)."""


def no_replace_sql(table: str) -> list[str]:
    """SQLite: refuse ``INSERT OR REPLACE`` (and any insert) of an id ``table`` already has.

    REPLACE deletes the old row to make room, and that delete fires no DELETE trigger
    (unless ``recursive_triggers`` is on, which no other connection has to set), so an
    append-only row could be rewritten. PostgreSQL has no REPLACE, and its ``ON CONFLICT
    DO UPDATE`` fires the UPDATE trigger.
    """
    message = f"{table} {APPEND_ONLY_MARKER}"
    return [
        f'CREATE TRIGGER IF NOT EXISTS "{table}_no_replace" BEFORE INSERT ON "{table}" '
        f'WHEN EXISTS (SELECT 1 FROM "{table}" WHERE id = NEW.id) '
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
    ]


def create_no_replace(table: str) -> None:
    """`no_replace_sql` on SQLite (nothing to do on PostgreSQL)."""
    if op.get_bind().dialect.name == "sqlite":
        for statement in no_replace_sql(table):
            op.execute(statement)


def drop_no_replace(table: str) -> None:
    """Undo `create_no_replace`."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f'DROP TRIGGER IF EXISTS "{table}_no_replace"')


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


def _vector_triggers(table: str, columns: list[str]) -> list[str]:
    def bump(*rows: str) -> str:
        # The table-wide row always exists (`restore_sqlite_triggers`); a team's row is
        # made by its first write. An upsert, not INSERT OR REPLACE: a replace deletes
        # and re-inserts, 3x the cost per written row.
        statements = [
            f"UPDATE {VECTOR_VERSION} SET token = randomblob(8) "
            f"WHERE table_name = '{table}' AND scope = '{ANY_ROW}';"
        ]
        statements += [
            f"INSERT INTO {VECTOR_VERSION} (table_name, scope, token) "
            f"VALUES ('{table}', {row}.team_id, randomblob(8)) "
            "ON CONFLICT (table_name, scope) DO UPDATE SET token = excluded.token;"
            for row in rows
            if "team_id" in columns
        ]
        return "BEGIN " + " ".join(statements) + " END"

    watched = ", ".join(f'"{c}"' for c in columns if c not in VECTOR_VOLATILE_COLUMNS)
    return [
        f'CREATE TRIGGER "{table}_vector_insert" AFTER INSERT ON "{table}" {bump("NEW")}',
        f'CREATE TRIGGER "{table}_vector_delete" AFTER DELETE ON "{table}" {bump("OLD")}',
        f'CREATE TRIGGER "{table}_vector_update" AFTER UPDATE OF {watched} ON "{table}" '
        + bump("OLD", "NEW"),
    ]


def create_vector_versions() -> None:
    """The `VECTOR_VERSION` table on SQLite (`restore_sqlite_triggers` adds the triggers)."""
    if op.get_bind().dialect.name == "sqlite":
        op.create_table(
            VECTOR_VERSION,
            sa.Column("table_name", sa.String(100), primary_key=True),
            sa.Column("scope", sa.String(100), primary_key=True),
            sa.Column("token", sa.LargeBinary(), nullable=False),
        )


def drop_vector_versions() -> None:
    """Undo `create_vector_versions`, with every trigger that writes to the table."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    triggers = bind.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name GLOB '*_vector_*'"
    ).scalars()
    for name in list(triggers):
        op.execute(f'DROP TRIGGER IF EXISTS "{name}"')
    op.drop_table(VECTOR_VERSION)


def restore_sqlite_triggers(
    connection: sa.Connection,
    metadata: sa.MetaData,
    *,
    no_replace: bool = True,
    redactable: bool = True,
) -> None:
    """Re-create the triggers a SQLite batch migration dropped with its table.

    SQLite rebuilds a table to alter it and the triggers go with the old one; the
    migration environment calls this after every revision, so no revision can forget.
    Vector triggers are re-created even when present (their column list follows the
    table's current columns), and every token is replaced: a revision may have changed
    rows while no trigger was watching. ``no_replace``: whether the database is at or
    past `NO_REPLACE_REVISION` (before it, those triggers did not exist yet);
    ``redactable``: whether it is at or past `redaction.REVISION` (its triggers follow
    the table's current columns, so they are re-created every time).
    """
    from skillstore._migrate import redaction

    inspector = sa.inspect(connection)
    existing = set(inspector.get_table_names())
    for table in metadata.sorted_tables:
        if table.info.get(APPEND_ONLY) and table.name in existing:
            statements = _sqlite_triggers(table.name)
            if redactable and REDACTED in table.info:
                columns = [c["name"] for c in inspector.get_columns(table.name)]
                statements = redaction.redaction_sql(
                    table.name,
                    table.info[REDACTED],
                    deletable=bool(table.info.get(DELETABLE)),
                    dialect="sqlite",
                    columns=columns,
                )
            if no_replace:
                statements += no_replace_sql(table.name)
            for statement in statements:
                connection.exec_driver_sql(statement)
    if redactable and ERASURE in existing:
        for statement in redaction.erasure_table_sql("sqlite"):
            connection.exec_driver_sql(statement)
    if VECTOR_VERSION not in existing:
        return
    for name in sorted({c.table.name for c in vector_columns(metadata)} & existing):
        columns = [c["name"] for c in inspector.get_columns(name)]
        for event in ("insert", "delete", "update"):
            connection.exec_driver_sql(f'DROP TRIGGER IF EXISTS "{name}_vector_{event}"')
        for statement in _vector_triggers(name, columns):
            connection.exec_driver_sql(statement)
        connection.exec_driver_sql(f"DELETE FROM {VECTOR_VERSION} WHERE table_name = ?", (name,))
        for scope in (EPOCH, ANY_ROW):
            connection.exec_driver_sql(
                f"INSERT INTO {VECTOR_VERSION} (table_name, scope, token) "
                "VALUES (?, ?, randomblob(8))",
                (name, scope),
            )


def create_hnsw_index(table: str, column: str = "embedding") -> None:
    """An HNSW cosine index on ``table.column`` (PostgreSQL only; named ``hnsw_*``).

    Above 2,000 dimensions the index is on a ``halfvec`` expression, which
    `skillstore.vector.pgvector` orders by; above 4,000 there is no index and searches
    are exact scans.
    """
    if op.get_bind().dialect.name == "postgresql":
        for statement in hnsw_index_sql(table, column, embedding_dimensions()):
            op.execute(statement)


def hnsw_index_sql(table: str, column: str, dim: int) -> list[str]:
    """The statement of `create_hnsw_index` for ``dim`` dimensions (none above 4,000)."""
    name = f"{BACKEND_ONLY_INDEX_PREFIX}{table}_{column}"
    if dim <= VECTOR_INDEX_MAX_DIMENSIONS:
        target = f'"{column}" vector_cosine_ops'
    elif dim <= 2 * VECTOR_INDEX_MAX_DIMENSIONS:
        target = f'("{column}"::halfvec({dim})) halfvec_cosine_ops'
    else:
        return []
    return [f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING hnsw ({target})']


def drop_hnsw_index(table: str, column: str = "embedding") -> None:
    """Undo `create_hnsw_index`."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f'DROP INDEX IF EXISTS "{BACKEND_ONLY_INDEX_PREFIX}{table}_{column}"')
