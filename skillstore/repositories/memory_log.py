"""The ``memory_log`` side of `MemoryRepository`: one row per change, and `history`.

Every change of a memory writes its log row in the same unit of work as the change
itself, so a log can neither miss a change nor record one that was rolled back. The
log is append-only (database triggers refuse UPDATE and DELETE on both backends), so
what it records is validated like any input before it is written: `Note` (who and why)
when the caller gives it, contents because they come from validated memories.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import Field

from skillstore.db.base import Schema, table_of
from skillstore.db.types import utcnow
from skillstore.models.memory_log import MemoryAction, MemoryLog, MemoryLogRead

if TYPE_CHECKING:
    from skillstore.repositories.base import RepoContext

LOG = table_of(MemoryLog)
_COLUMNS = tuple(c.key for c in LOG.columns)
_READ = tuple(MemoryLogRead.model_fields)


class Note(Schema):
    """Why a change is made, for its log row (checked like every input)."""

    changed_by: str = Field(default="system", min_length=1, max_length=100)
    reason: str | None = Field(default=None, max_length=2000)


def contents(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> dict[str, Any]:
    """The before/after columns of a log row, from a memory's values before and after."""
    return {
        "old_content": old["content"] if old else None,
        "new_content": new["content"] if new else None,
        "old_importance": old["importance"] if old else None,
        "new_importance": new["importance"] if new else None,
        "user_id": (old or {}).get("user_id") or (new or {}).get("user_id"),
    }


class MemoryLogWriter:
    """Writes and reads the log rows of one team's memories."""

    def __init__(self, ctx: RepoContext) -> None:
        self._ctx = ctx
        self._uow = ctx.uow
        self._statements = ctx.store.statements

    def row(
        self,
        memory_id: uuid.UUID,
        action: MemoryAction,
        note: Note,
        *,
        details: Mapping[str, Any] | None = None,
        **values: Any,
    ) -> dict[str, Any]:
        """The values of one log row."""
        return {
            "id": uuid.uuid4(),
            "memory_id": memory_id,
            "team_id": self._ctx.team_id,
            "action": action.value,
            "old_content": None,
            "new_content": None,
            "old_importance": None,
            "new_importance": None,
            "user_id": None,
            "erasure_id": None,
            "changed_by": note.changed_by,
            "reason": note.reason,
            "details": dict(details or {}),
            "created_at": utcnow(),
            **values,
        }

    async def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append ``rows`` (one statement for one row, one driver call for many)."""
        prepared = self._statements.get(("memory-log", "insert"), _insert)
        params = [{f"v_{c}": row[c] for c in _COLUMNS} for row in rows]
        if len(params) == 1:
            await self._uow.rows(prepared, params[0])
        elif params:
            await self._uow.run_many(prepared, params)

    async def history(self, memory_id: uuid.UUID) -> list[MemoryLogRead]:
        """Every logged change of memory ``memory_id``, oldest first."""
        prepared = self._statements.get(("memory-log", "history"), _history)
        rows = await self._uow.rows(
            prepared, {"memory_id": memory_id, "team_id": self._ctx.team_id}
        )
        entries = [dict(zip(_READ, r, strict=True)) for r in rows]
        # The action column is plain text (the seed leaves the set of actions open).
        return [
            MemoryLogRead.model_construct(**{**e, "action": MemoryAction(e["action"])})
            for e in entries
        ]


def _insert() -> sa.Executable:
    values = {c: sa.bindparam(f"v_{c}", type_=LOG.c[c].type) for c in _COLUMNS}
    return sa.insert(LOG).values(values)


def _history() -> sa.Executable:
    return (
        sa.select(*(LOG.c[f] for f in _READ))
        .where(
            LOG.c.memory_id == sa.bindparam("memory_id"), LOG.c.team_id == sa.bindparam("team_id")
        )
        .order_by(LOG.c.created_at, LOG.c.id)
    )
