"""Names and limits that the schema's database-side objects share with the code using them.

The migrations create these objects (triggers, the SQLite vector version table, HNSW
indexes); the code at run time only needs their names, so they live here, with no
Alembic import.
"""

from __future__ import annotations

APPEND_ONLY = "append_only"
"""Key in ``Table.info`` marking an append-only table (``__table_args__ = ({...},)``)."""

APPEND_ONLY_MARKER = "is append-only"
"""Text the append-only triggers raise on both backends; mapped to `AppendOnlyError`."""

VECTOR_VERSION = "vector_version"
"""SQLite only: random tokens per table with an `Embedding` column, replaced by triggers
in the same transaction as any insert, delete or update of its rows.
`skillstore.vector.sqlite_cache` keeps vectors in memory for as long as theirs is
unchanged. Scopes: `ANY_ROW` changes with every row; a team's id (the stored text)
with that team's rows, so one team's writes leave the others' vectors alone; `EPOCH`
only when a migration ran (the token of a team with no row of its own yet)."""
ANY_ROW = "*"
EPOCH = ""

VECTOR_VOLATILE_COLUMNS = frozenset({"access_count", "last_accessed_at", "updated_at"})
"""Columns that reading writes (`MemoryRepository.touch`): changing only these leaves the
tokens alone, so counting a hit does not throw the cached vectors away. A search filtered
on one of them is never answered from the cache."""

VECTOR_INDEX_MAX_DIMENSIONS = 2000
"""pgvector indexes ``vector`` up to 2,000 dimensions and ``halfvec`` up to 4,000."""

REDACTED = "redacted"
"""Key in ``Table.info`` of an append-only table whose personal columns an erasure may
blank: column → the value it is blanked to (``None``, ``{}`` or a fixed text). The
triggers let an UPDATE through only when it sets exactly these values, changes no other
column, and names (in ``erasure_id``) an `ERASURE` record still open in this
transaction (see `skillstore.lifecycle.erase`)."""

DELETABLE = "deletable_when_erased"
"""Key in ``Table.info``: rows of this append-only table may be deleted once redacted,
by an open erasure (profile entries, so a client and its team can go)."""

ERASURE = "erasure"
"""The table of erasure records: one row per erasure, retention run or team removal."""

ERASED_TEXT = "erased"
"""What an erased actor name (``memory_log.changed_by``) becomes."""
