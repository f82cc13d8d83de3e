"""DDL of the lexical index (issue 15), shared by the revision and the SQLite restore.

PostgreSQL: a generated ``search_vector tsvector`` column (the configuration named by
``StoreSettings.lexical_language``, ``simple`` by default) with a GIN index. SQLite: a
contentless FTS5 table ``<table>_fts`` (the text stays in the table only), kept in step
by triggers that insert and 'delete' the row's text; a batch migration rebuilds the
table (new rowids, triggers gone), so `restore_lexical` re-creates the triggers and
re-indexes the table when they are missing.
Both index the same text: every character but letters and digits is a separator.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

LEXICAL_TABLES = {
    "memory": "coalesce({r}subject, '') || ' ' || {r}content",
    "document_embedding": "{r}content",
    "skill_embedding": "{r}content",
}
"""Each indexed table and the SQL of the text it indexes (``{r}``: the row's prefix)."""
FTS_SUFFIX = "_fts"
SEARCH_VECTOR = "search_vector"
GIN_PREFIX = "fts_"


def lexical_language() -> str:
    config = op.get_context().config
    value = config.attributes.get("lexical_language") if config is not None else None
    if value is None:
        from skillstore.settings import StoreSettings

        value = StoreSettings().lexical_language
    return str(value)


def _row(text: str, row: str) -> str:
    return text.format(r=f"{row}." if row else "")


def _sqlite_body(table: str, row: str) -> str:
    """SQLite indexes a team token first (``t`` + the team id's hex), so a search ANDs
    it with the query and FTS5 walks only the team's postings, not every team's."""
    prefix = f"{row}." if row else ""
    return f"'t' || {prefix}team_id || ' ' || {_row(LEXICAL_TABLES[table], row)}"


def sqlite_trigger_sql(table: str) -> list[str]:
    fts = f"{table}{FTS_SUFFIX}"
    new, old = _sqlite_body(table, "NEW"), _sqlite_body(table, "OLD")
    delete = f"INSERT INTO {fts} ({fts}, rowid, body) VALUES ('delete', OLD.rowid, {old});"
    insert = f"INSERT INTO {fts} (rowid, body) VALUES (NEW.rowid, {new});"
    columns = "subject, content" if table == "memory" else "content"
    return [
        f'CREATE TRIGGER IF NOT EXISTS "{fts}_insert" AFTER INSERT ON "{table}" BEGIN {insert} END',
        f'CREATE TRIGGER IF NOT EXISTS "{fts}_delete" AFTER DELETE ON "{table}" BEGIN {delete} END',
        f'CREATE TRIGGER IF NOT EXISTS "{fts}_update" AFTER UPDATE OF {columns} ON "{table}" '
        f"BEGIN {delete} {insert} END",
    ]


def create_lexical(table: str) -> None:
    """The lexical index of ``table`` on either backend."""
    text = _row(LEXICAL_TABLES[table], "")
    if op.get_bind().dialect.name == "postgresql":
        language = lexical_language()
        op.execute(
            f'ALTER TABLE "{table}" ADD COLUMN {SEARCH_VECTOR} tsvector GENERATED ALWAYS AS '
            f"(to_tsvector('{language}'::regconfig, regexp_replace({text}, "
            "'[^[:alnum:]]+', ' ', 'g'))) STORED"
        )
        op.execute(f'CREATE INDEX "{GIN_PREFIX}{table}" ON "{table}" USING gin ({SEARCH_VECTOR})')
        return
    fts = f"{table}{FTS_SUFFIX}"
    op.execute(
        f"CREATE VIRTUAL TABLE {fts} USING fts5(body, content='', "
        "tokenize='unicode61 remove_diacritics 0')"
    )
    for statement in sqlite_trigger_sql(table):
        op.execute(statement)
    for statement in rebuild_sql(table):
        op.execute(statement)


def rebuild_sql(table: str) -> list[str]:
    """SQLite: index every row of ``table`` again (after a rebuild renumbered rowids)."""
    fts = f"{table}{FTS_SUFFIX}"
    return [
        f"INSERT INTO {fts} ({fts}) VALUES ('delete-all')",
        f'INSERT INTO {fts} (rowid, body) SELECT rowid, {_sqlite_body(table, "")} FROM "{table}"',
    ]


def drop_lexical(table: str) -> None:
    """Undo `create_lexical`."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f'DROP INDEX IF EXISTS "{GIN_PREFIX}{table}"')
        op.execute(f'ALTER TABLE "{table}" DROP COLUMN IF EXISTS {SEARCH_VECTOR}')
        return
    fts = f"{table}{FTS_SUFFIX}"
    for event in ("insert", "delete", "update"):
        op.execute(f'DROP TRIGGER IF EXISTS "{fts}_{event}"')
    op.execute(f"DROP TABLE IF EXISTS {fts}")


def restore_lexical(connection: sa.Connection) -> None:
    """SQLite: re-create the triggers a batch rebuild dropped, and rebuild the index."""
    names = set(
        connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')"
        ).scalars()
    )
    for table in LEXICAL_TABLES:
        fts = f"{table}{FTS_SUFFIX}"
        if fts in names and f"{fts}_insert" not in names:
            for statement in [*sqlite_trigger_sql(table), *rebuild_sql(table)]:
                connection.exec_driver_sql(statement)
