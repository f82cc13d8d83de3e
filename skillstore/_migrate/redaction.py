"""Triggers of the redaction path: append-only tables that an open erasure may blank.

Revision 0012 replaces the unconditional append-only triggers of ``memory_log``,
``audit_log`` and ``client_profile_entry`` with ones that let exactly one kind of change
through: an UPDATE that sets ``erasure_id`` (from NULL) to an erasure record that is
still open, sets every personal column to its blank (`skillstore.db.schema.REDACTED`)
and leaves every other column as it was. Tables marked `DELETABLE` also let such a
redacted row be deleted by an open erasure. Every other UPDATE, DELETE (and TRUNCATE on
PostgreSQL) is refused with the same message as before, so `AppendOnlyError` is raised
as it always was. The ``erasure`` table itself refuses DELETE and lets an UPDATE change
only ``finished_at`` and ``counts`` of an open record.

PostgreSQL compares ``to_jsonb(NEW)`` and ``to_jsonb(OLD)`` without the redacted
columns, so a column added later is protected without a new trigger; SQLite has no
row-to-JSON, so its triggers list the columns and `restore_sqlite_triggers` rebuilds
them from the table's current columns after every revision.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from skillstore.db.schema import APPEND_ONLY_MARKER, ERASURE

REVISION = "0012"
"""The revision that installs these triggers (restored after batch rebuilds from then on)."""


def _blank(column: str, value: Any, dialect: str) -> str:
    ref = f'NEW."{column}"'
    if value is None:
        return f"{ref} IS NULL"
    if isinstance(value, dict):
        text = json.dumps(value)
        return f"{ref} = '{text}'::jsonb" if dialect == "postgresql" else f"json({ref}) = '{text}'"
    return f"{ref} = '{value}'"


def _open(ref: str) -> str:
    return f"EXISTS (SELECT 1 FROM {ERASURE} e WHERE e.id = {ref} AND e.finished_at IS NULL)"


def _redaction(redacted: Mapping[str, Any], dialect: str) -> list[str]:
    return [
        'OLD."erasure_id" IS NULL',
        'NEW."erasure_id" IS NOT NULL',
        _open('NEW."erasure_id"'),
        *(_blank(c, v, dialect) for c, v in sorted(redacted.items())),
    ]


def _may_delete() -> str:
    old = 'OLD."erasure_id"'
    return f"{old} IS NOT NULL AND {_open(old)}"


def _refuse(table: str) -> str:
    return f"SELECT RAISE(ABORT, '{table} {APPEND_ONLY_MARKER}');"


def redaction_sql(
    table: str,
    redacted: Mapping[str, Any],
    *,
    deletable: bool,
    dialect: str,
    columns: Sequence[str] = (),
) -> list[str]:
    """The triggers (SQLite: of ``columns``, the table's current ones) or the trigger
    function (PostgreSQL) that make ``table`` append-only except for redaction."""
    if dialect == "postgresql":
        kept = ", ".join(f"'{c}'" for c in sorted({*redacted, "erasure_id"}))
        update = " AND ".join(
            [
                *_redaction(redacted, dialect),
                f"to_jsonb(NEW) - ARRAY[{kept}] = to_jsonb(OLD) - ARRAY[{kept}]",
            ]
        )
        delete = f"IF TG_OP = 'DELETE' AND {_may_delete()} THEN RETURN OLD; END IF; "
        delete = delete if deletable else ""
        return [
            f'CREATE OR REPLACE FUNCTION "{table}_append_only"() RETURNS trigger '
            f"LANGUAGE plpgsql AS $$ BEGIN IF TG_OP = 'UPDATE' AND {update} THEN RETURN NEW; "
            f"END IF; {delete}RAISE EXCEPTION '% {APPEND_ONLY_MARKER}', "
            "TG_TABLE_NAME USING ERRCODE = 'restrict_violation'; END $$"
        ]
    same = [f'NEW."{c}" IS OLD."{c}"' for c in columns if c not in redacted and c != "erasure_id"]
    allowed = " AND ".join([*_redaction(redacted, dialect), *same])
    delete_when = f" WHEN NOT ({_may_delete()})" if deletable else ""
    return [
        f'DROP TRIGGER IF EXISTS "{table}_no_update"',
        f'DROP TRIGGER IF EXISTS "{table}_no_delete"',
        f'CREATE TRIGGER "{table}_no_update" BEFORE UPDATE ON "{table}" '
        f"WHEN NOT ({allowed}) BEGIN {_refuse(table)} END",
        f'CREATE TRIGGER "{table}_no_delete" BEFORE DELETE ON "{table}"{delete_when} '
        f"BEGIN {_refuse(table)} END",
    ]


_ERASURE_FIXED = ("id", "kind", "subject_id", "team_id", "reason", "started_at")


def erasure_table_sql(dialect: str) -> list[str]:
    """The ``erasure`` table's guard: no DELETE, and an UPDATE only closes an open record."""
    if dialect == "postgresql":
        return [
            f'CREATE OR REPLACE FUNCTION "{ERASURE}_append_only"() RETURNS trigger '
            "LANGUAGE plpgsql AS $$ BEGIN IF TG_OP = 'UPDATE' AND OLD.finished_at IS NULL "
            "AND to_jsonb(NEW) - ARRAY['finished_at', 'counts'] = "
            "to_jsonb(OLD) - ARRAY['finished_at', 'counts'] THEN RETURN NEW; END IF; "
            f"RAISE EXCEPTION '% {APPEND_ONLY_MARKER}', TG_TABLE_NAME "
            "USING ERRCODE = 'restrict_violation'; END $$",
            f'CREATE TRIGGER "{ERASURE}_append_only" BEFORE UPDATE OR DELETE '
            f'ON "{ERASURE}" FOR EACH ROW EXECUTE FUNCTION "{ERASURE}_append_only"()',
            f'CREATE TRIGGER "{ERASURE}_no_truncate" BEFORE TRUNCATE ON "{ERASURE}" '
            f'FOR EACH STATEMENT EXECUTE FUNCTION "{ERASURE}_append_only"()',
        ]
    changed = " OR ".join(f'NEW."{c}" IS NOT OLD."{c}"' for c in _ERASURE_FIXED)
    return [
        f'DROP TRIGGER IF EXISTS "{ERASURE}_no_update"',
        f'DROP TRIGGER IF EXISTS "{ERASURE}_no_delete"',
        f'CREATE TRIGGER "{ERASURE}_no_update" BEFORE UPDATE ON "{ERASURE}" '
        f"WHEN OLD.finished_at IS NOT NULL OR {changed} BEGIN {_refuse(ERASURE)} END",
        f'CREATE TRIGGER "{ERASURE}_no_delete" BEFORE DELETE ON "{ERASURE}" '
        f"BEGIN {_refuse(ERASURE)} END",
    ]
