"""The core of `MemoryRepository`: logged writes and bulk insert.

Every change goes through `_change` or `_add_row`, which write the ``memory_log`` row in
the same SAVEPOINT as the change itself: a log can neither miss a change nor record one
that was rolled back. Search is `MemorySearch` (``_memory_search``), which this class
builds on; versioning, tags, expiry and scored retrieval are in
`skillstore.repositories.memory`, which builds on this one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import defer
from sqlmodel import SQLModel, col

from skillstore.db.translate import translated
from skillstore.db.types import utcnow
from skillstore.errors import InvalidTransitionError, NotFoundError
from skillstore.models.agent import AgentConfig
from skillstore.models.conversation import Conversation
from skillstore.models.memory import (
    Memory,
    MemoryBase,
    MemoryCreate,
    MemoryRead,
    MemoryStatus,
    MemoryTier,
    MemoryUpdate,
)
from skillstore.models.memory_log import MemoryAction, MemoryLog
from skillstore.models.tenancy import User
from skillstore.repositories._memory_bulk import Batch, embedding_matrix, insert_memories
from skillstore.repositories._memory_search import MemorySearch
from skillstore.repositories.base import coerce
from skillstore.vector import check_query_vector

WITHOUT_VECTOR = defer(Memory.embedding)  # type: ignore[arg-type]  # typed as the value
"""Load option: leave the vector out (it is never part of a `MemoryRead`)."""

_TIER_RANK = {MemoryTier.HOT: 0, MemoryTier.WARM: 1, MemoryTier.COLD: 2}


@dataclass(frozen=True)
class Note:
    """Why a change is made, for its log row."""

    changed_by: str = "system"
    reason: str | None = None
    action: MemoryAction | None = None
    new_content: str | None = None


def _action(old_tier: MemoryTier, values: dict[str, Any]) -> MemoryAction:
    changed = set(values) - {"updated_at"}
    if changed == {"tier"}:
        raising = _TIER_RANK[MemoryTier(values["tier"])] < _TIER_RANK[old_tier]
        return MemoryAction.PROMOTED if raising else MemoryAction.DEMOTED
    if changed == {"status"}:
        return MemoryAction.STATUS_CHANGED
    return MemoryAction.UPDATED


class MemoryWrites(MemorySearch):
    """Logged writes, bulk insert and search; `MemoryRepository` adds the domain operations."""

    model = Memory
    read_model = MemoryRead
    base_model = MemoryBase
    create_model = MemoryCreate
    update_model = MemoryUpdate
    write_only = frozenset({"embedding"})
    references = {"user_id": User, "agent_id": AgentConfig, "source_conversation_id": Conversation}

    _note: Note | None = None

    # ---- writing --------------------------------------------------------------------------
    def _derived(self, data: SQLModel) -> dict[str, Any]:
        embedding = getattr(data, "embedding", None)
        if embedding is None:
            return {}
        check_query_vector(embedding, self._ctx.settings.embedding_dimensions)
        model = getattr(data, "embedding_model", None) or self._ctx.settings.embedding_model
        return {"embedding": list(embedding), "embedding_model": model}

    def _log(self, memory_id: uuid.UUID, action: MemoryAction, note: Note, **values: Any) -> None:
        self._session.add(
            MemoryLog(
                memory_id=memory_id,
                team_id=self.team_id,
                action=action,
                changed_by=note.changed_by,
                reason=note.reason,
                **values,
            )
        )

    async def _check_links(self, ids: Iterable[uuid.UUID]) -> None:
        wanted = set(ids)
        if not wanted:
            return
        stmt = sa.select(col(Memory.id)).where(col(Memory.id).in_(wanted), *self._scope())
        with translated():
            found = set((await self._session.execute(stmt)).scalars())
        if missing := wanted - found:
            raise NotFoundError(
                f"related_to/contradicts name memories not in this team: "
                f"{', '.join(sorted(map(str, missing)))}; link only this team's memories"
            )

    async def _add_row(self, data: MemoryCreate, note: Note, **extra: Any) -> Memory:
        await self._check_links([*data.related_to, *data.contradicts])
        update = {**self._derived(data), **extra, **self._stamp()}
        row = Memory.model_validate(data, update=update)
        await self._check_references(row.model_dump())
        async with self._write():
            self._session.add(row)
            self._log(row.id, MemoryAction.CREATED, note, **self._contents(None, row))
            await self._session.flush()
        return row

    @staticmethod
    def _contents(old: Memory | None, new: Memory | None) -> dict[str, Any]:
        return {
            "old_content": old.content if old else None,
            "new_content": new.content if new else None,
            "old_importance": old.importance if old else None,
            "new_importance": new.importance if new else None,
        }

    async def _apply(self, row: Memory, values: Any) -> Memory:
        return await self._change(row, dict(values), self._note or Note())

    async def _change(self, row: Memory, values: dict[str, Any], note: Note) -> Memory:
        """Apply ``values`` (version-guarded) and log the change, atomically."""
        if values.get("status") == MemoryStatus.SUPERSEDED and note.action is None:
            raise InvalidTransitionError("a memory becomes superseded only through supersede()")
        before = self._contents(row, None)
        action = note.action or _action(MemoryTier(row.tier), values)
        details = {
            k: str(v)
            for k, v in values.items()
            if k in {"status", "tier", "superseded_by", "is_pinned", "contradicts"}
        }
        async with self._write():
            fresh = await super()._apply(row, values)
            contents = {**before, "new_content": fresh.content, "new_importance": fresh.importance}
            if note.new_content is not None:
                contents["new_content"] = note.new_content
            self._log(row.id, action, note, details=details, **contents)
            await self._session.flush()
        return fresh

    # ---- the contract ---------------------------------------------------------------------
    async def create(self, data: Any, **extra: Any) -> MemoryRead:
        """Same as `add`."""
        return await self.add(data)

    async def add(
        self, data: Any, *, deduplicate: float | None = None, changed_by: str | None = None
    ) -> MemoryRead:
        """Store a memory; with ``deduplicate``, return an existing one instead if its
        similarity (same agent, user and type) is at least that threshold.

        Raises:
            ValidationError / EmbeddingError: bad input (nothing is stored).
            NotFoundError: ``user_id`` or a linked memory does not exist in this team.
        """
        memory = coerce(data, MemoryCreate)
        self._derived(memory)
        if deduplicate is not None and memory.embedding is not None:
            same = await self.find_similar(
                memory.embedding,
                threshold=deduplicate,
                k=1,
                agent_id=memory.agent_id,
                user_id=memory.user_id,
                memory_types=[memory.memory_type],
            )
            if same:
                return same[0].memory
        note = Note(changed_by=changed_by or memory.source_type.value)
        return self._to_read(await self._add_row(memory, note))

    async def add_many(self, items: Sequence[Any], *, embeddings: Any = None) -> list[uuid.UUID]:
        """Store many memories at once (binary COPY on PostgreSQL); their ids, in order.

        All items are validated before anything is written; the batch is all or nothing.
        ``embeddings``, when given, holds the items' vectors as one matrix, row ``i`` for
        item ``i`` (which then carries none): see `MemoryText.add_many`.
        """
        creates = [coerce(item, MemoryCreate) for item in items]
        settings = self._ctx.settings
        matrix = None
        if embeddings is not None:
            matrix = embedding_matrix(embeddings, creates, settings.embedding_dimensions)
        for column in self.references:
            for ref in {getattr(c, column) for c in creates} - {None}:
                await self._check_references({column: ref})
        await self._check_links({i for c in creates for i in (*c.related_to, *c.contradicts)})
        batch = Batch(
            team_id=self.team_id,
            embedding_model=settings.embedding_model,
            dimensions=settings.embedding_dimensions,
            now=utcnow(),
        )
        async with self._write():
            return await insert_memories(self._session, creates, batch, matrix)

    async def update(
        self,
        id: uuid.UUID,
        data: Any,
        *,
        expected_version: int | None = None,
        changed_by: str = "system",
        reason: str | None = None,
    ) -> MemoryRead:
        """Patch a memory in place (logged). To replace what it says, use `supersede`."""
        self._note = Note(changed_by=changed_by, reason=reason)
        try:
            return await super().update(id, data, expected_version=expected_version)
        finally:
            self._note = None

    async def set_tier(
        self, id: uuid.UUID, tier: MemoryTier | str, *, reason: str | None = None
    ) -> MemoryRead:
        """Move a memory to another tier (logged as promoted/demoted)."""
        return await self.update(id, MemoryUpdate(tier=MemoryTier(tier)), reason=reason)

    async def set_status(
        self, id: uuid.UUID, status: MemoryStatus | str, *, reason: str | None = None
    ) -> MemoryRead:
        """Archive, dispute or re-activate a memory (logged)."""
        return await self.update(id, MemoryUpdate(status=MemoryStatus(status)), reason=reason)

    async def delete(self, id: uuid.UUID, *, changed_by: str = "system") -> bool:
        """Delete a memory; its history stays in ``memory_log``."""
        try:
            row = await self._get_row(id)
        except NotFoundError:
            return False
        note = Note(changed_by=changed_by)
        async with self._write():
            self._log(row.id, MemoryAction.DELETED, note, **self._contents(row, None))
            await self._session.flush()
            await self._session.execute(sa.delete(Memory).where(col(Memory.id) == id))
        return True
