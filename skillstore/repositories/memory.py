"""`MemoryRepository`: long-term memory with versioning, history, tags, expiry and scored
retrieval, on top of the logged writes and search of `MemoryWrites` and the text
operations of `MemoryText`.

Versioning is by supersession: a new row, the old one ``superseded`` pointing at it, both
logged in one transaction. Tags are plain rows (``memory_tag``), normalised to lower
case so that "Billing" and "billing" are one tag. `retrieve` gathers candidates here
and scores them with the pure functions of `skillstore.repositories.retrieval`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from skillstore.db.base import table_of
from skillstore.db.translate import translated
from skillstore.db.types import utcnow
from skillstore.errors import InvalidTransitionError, ValidationError
from skillstore.models.agent import AgentConfig
from skillstore.models.agent_documents import AgentMemoryConfig
from skillstore.models.memory import (
    SEARCHABLE_STATUSES,
    Memory,
    MemoryCreate,
    MemoryRead,
    MemoryStatus,
    RetrievalContext,
    ScoredMemory,
)
from skillstore.models.memory_log import (
    MemoryAction,
    MemoryLog,
    MemoryLogRead,
    MemoryTag,
    MemoryTagBase,
)
from skillstore.models.retrieval import RetrievalWeights
from skillstore.repositories import retrieval
from skillstore.repositories._memory_base import WITHOUT_VECTOR, Note
from skillstore.repositories._memory_text import MemoryText
from skillstore.repositories.base import coerce
from skillstore.vector import nearest

DEFAULT_TOKEN_BUDGET = 2000
"""`AgentMemoryConfig.token_budget`'s default (seed 003), used until agents supply theirs."""

PINNED_LIMIT = 100
"""At most this many pinned memories are considered per retrieval (most important first)."""


class MemoryRepository(MemoryText):
    """A team's memories (tenant-scoped). Returns `MemoryRead`, never the vector."""

    async def supersede(
        self, id: uuid.UUID, data: Any, *, reason: str, changed_by: str = "system"
    ) -> MemoryRead:
        """Replace memory ``id`` by a new version; the old one becomes ``superseded``.

        Raises:
            NotFoundError: no such memory in this team.
            InvalidTransitionError: it is already superseded or archived.
        """
        (replacement,) = await self._with_vectors([coerce(data, MemoryCreate)])
        old = await self._get_row(id)
        if old.status not in SEARCHABLE_STATUSES:
            raise InvalidTransitionError(
                f"memory {id} is {old.status}; only active or disputed memories can be "
                "superseded (supersede its newest version instead)"
            )
        note = Note(changed_by=changed_by, reason=reason)
        async with self._write():
            new = await self._add_row(replacement, note, version=old.version + 1)
            superseded = Note(changed_by, reason, MemoryAction.SUPERSEDED, new.content)
            values = {"status": MemoryStatus.SUPERSEDED, "superseded_by": new.id}
            await self._change(old, values, superseded)
        return self._to_read(new)

    async def mark_contradiction(
        self,
        id: uuid.UUID,
        contradicted_id: uuid.UUID,
        *,
        reason: str | None = None,
        changed_by: str = "system",
    ) -> MemoryRead:
        """Record that memory ``id`` contradicts ``contradicted_id``, which becomes
        ``disputed``; both changes are logged. Returns memory ``id``."""
        if id == contradicted_id:
            raise ValidationError("a memory cannot contradict itself")
        row = await self._get_row(id)
        other = await self._get_row(contradicted_id)
        note = Note(changed_by, reason, MemoryAction.CONTRADICTED)
        async with self._write():
            if contradicted_id not in row.contradicts:
                row = await self._change(
                    row, {"contradicts": [*row.contradicts, contradicted_id]}, note
                )
            if other.status == MemoryStatus.ACTIVE:
                disputed = Note(changed_by, reason)
                await self._change(other, {"status": MemoryStatus.DISPUTED}, disputed)
        return self._to_read(row)

    async def history(self, id: uuid.UUID) -> list[MemoryLogRead]:
        """Every logged change of memory ``id``, oldest first (also after it was deleted)."""
        stmt = (
            sa.select(MemoryLog)
            .where(col(MemoryLog.memory_id) == id, col(MemoryLog.team_id) == self.team_id)
            .order_by(col(MemoryLog.created_at), col(MemoryLog.id))
        )
        with translated():
            rows = (await self._session.execute(stmt)).scalars().all()
        return [MemoryLogRead.model_validate(r) for r in rows]

    async def touch(self, ids: Iterable[uuid.UUID]) -> int:
        """Count an access of each memory (``access_count``, ``last_accessed_at``) in one
        statement; neither the version nor ``updated_at`` changes. Returns rows touched."""
        stmt = (
            sa.update(Memory)
            .where(col(Memory.id).in_(list(ids)), *self._scope())
            .values(
                access_count=col(Memory.access_count) + 1,
                last_accessed_at=utcnow(),
                updated_at=col(Memory.updated_at),
            )
        )
        async with self._write():
            result = await self._session.execute(
                stmt, execution_options={"synchronize_session": False}
            )
        return int(getattr(result, "rowcount", 0))

    async def purge_expired(self, *, changed_by: str = "system") -> int:
        """Delete the team's expired memories (each logged as ``expired``); how many."""
        expired = sa.select(Memory).where(
            *self._scope(), col(Memory.expires_at).is_not(None), col(Memory.expires_at) <= utcnow()
        )
        with translated():
            rows = (await self._session.execute(expired.options(WITHOUT_VECTOR))).all()
        note = Note(changed_by=changed_by, reason="expired")
        async with self._write():
            for (row,) in rows:
                self._log(row.id, MemoryAction.EXPIRED, note, **self._contents(row, None))
            await self._session.flush()
            ids = [row.id for (row,) in rows]
            await self._session.execute(sa.delete(Memory).where(col(Memory.id).in_(ids)))
        return len(rows)

    # ---- tags -----------------------------------------------------------------------------
    @staticmethod
    def _tag_names(tags: Iterable[str]) -> list[str]:
        names = {MemoryTagBase(tag=t.strip().lower()).tag for t in tags}
        return sorted(names)

    async def tags(self, id: uuid.UUID) -> list[str]:
        """The memory's tags, sorted."""
        await self._get_row(id)
        stmt = sa.select(col(MemoryTag.tag)).where(col(MemoryTag.memory_id) == id)
        with translated():
            return sorted((await self._session.execute(stmt)).scalars())

    async def add_tags(self, id: uuid.UUID, *tags: str) -> list[str]:
        """Tag a memory (lower-cased; tags it already has are kept once). Its tags after."""
        names = self._tag_names(tags)
        current = set(await self.tags(id))
        async with self._write():
            for name in names:
                if name not in current:
                    self._session.add(MemoryTag(memory_id=id, tag=name))
            await self._session.flush()
        return sorted(current.union(names))

    async def remove_tags(self, id: uuid.UUID, *tags: str) -> list[str]:
        """Remove tags from a memory (absent ones are ignored). Its tags after."""
        names = self._tag_names(tags)
        await self._get_row(id)
        stmt = sa.delete(MemoryTag).where(
            col(MemoryTag.memory_id) == id, col(MemoryTag.tag).in_(names)
        )
        async with self._write():
            await self._session.execute(stmt)
        return await self.tags(id)

    async def find_by_tag(self, tag: str, *, limit: int = 50) -> list[MemoryRead]:
        """Live memories with ``tag``, newest first."""
        (name,) = self._tag_names([tag])
        stmt = (
            sa.select(Memory)
            .options(WITHOUT_VECTOR)
            .join(MemoryTag, col(MemoryTag.memory_id) == col(Memory.id))
            .where(
                col(MemoryTag.tag) == name,
                col(Memory.status).in_(SEARCHABLE_STATUSES),
                *self._scope(),
            )
            .order_by(*self._order())
            .limit(limit)
        )
        with translated():
            rows = (await self._session.execute(stmt)).scalars().all()
        return [self._to_read(row) for row in rows]

    # ---- scored retrieval -----------------------------------------------------------------
    async def _agent_retrieval_defaults(
        self, agent_id: uuid.UUID | None
    ) -> tuple[RetrievalWeights, int]:
        """The agent's retrieval weights and token budget (its `AgentMemoryConfig`).

        Without an agent (or for an agent of another team) the seed's defaults apply.
        """
        if agent_id is not None:
            stmt = sa.select(table_of(AgentConfig).c.memory).where(
                col(AgentConfig.id) == agent_id, col(AgentConfig.team_id) == self.team_id
            )
            with translated():
                config: AgentMemoryConfig | None = (
                    await self._session.execute(stmt)
                ).scalar_one_or_none()
            if config is not None:
                return config.retrieval_weights, config.token_budget
        return RetrievalWeights(), DEFAULT_TOKEN_BUDGET

    def _visible(self, context: RetrievalContext) -> list[sa.ColumnElement[bool]]:
        """Live memories this agent may use about this user: its own or shared ones, about
        this user or team-wide."""
        where = list(self._live(memory_types=context.memory_types))
        if context.agent_id is not None:
            where.append(
                sa.or_(col(Memory.agent_id) == context.agent_id, col(Memory.agent_id).is_(None))
            )
        if context.user_id is not None:
            where.append(
                sa.or_(col(Memory.user_id) == context.user_id, col(Memory.user_id).is_(None))
            )
        return where

    async def _embedded(
        self, where: list[sa.ColumnElement[bool]], limit: int
    ) -> list[tuple[MemoryRead, list[float] | None]]:
        stmt = (
            sa.select(Memory)
            .where(*where)
            .order_by(col(Memory.importance).desc(), col(Memory.id))
            .limit(limit)
        )
        with translated():
            rows = (await self._session.execute(stmt)).scalars().all()
        return [(self._to_read(row), row.embedding) for row in rows]

    async def retrieve(
        self,
        embedding: Any,
        *,
        context: RetrievalContext | dict[str, Any],
        weights: RetrievalWeights | None = None,
        token_budget: int | None = None,
    ) -> list[ScoredMemory]:
        """The memories worth putting in a prompt, scored and packed into ``token_budget``.

        Candidates: the nearest neighbours, the pinned memories and memories linked from
        the best hits, all limited to what the context may see. The formula is in
        `skillstore.repositories.retrieval`; ``weights`` and ``token_budget`` default to
        the agent's. Pinned memories come first.
        """
        ctx = coerce(context, RetrievalContext)
        default_weights, default_budget = await self._agent_retrieval_defaults(ctx.agent_id)
        budget = token_budget if token_budget is not None else default_budget
        if budget < 1:
            raise ValidationError(f"token_budget must be at least 1, got {budget}")
        settings = self._ctx.settings
        visible = self._visible(ctx)
        k = settings.memory_retrieval_candidates
        found = await nearest(self._session, settings, Memory, embedding, k=k, where=visible)
        top = [n.id for n in found[: retrieval.RELATED_TOP_HITS]]
        ids = {n.id for n in found}
        candidates = await self._embedded([*visible, col(Memory.id).in_(ids)], k)
        candidates += await self._embedded(
            [*visible, col(Memory.is_pinned).is_(True)], PINNED_LIMIT
        )
        memories = {m.id: (m, v) for m, v in candidates}
        links = retrieval.linked({i: m for i, (m, _) in memories.items()}, top) - set(memories)
        for m, v in await self._embedded([*visible, col(Memory.id).in_(links)], len(links) or 1):
            memories[m.id] = (m, v)
        similarities = retrieval.similarities(embedding, {i: v for i, (_, v) in memories.items()})
        scored = retrieval.score(
            {i: m for i, (m, _) in memories.items()},
            similarities,
            top,
            context=ctx,
            weights=weights or default_weights,
            now=ctx.now or utcnow(),
            half_life_hours=settings.memory_recency_half_life_hours,
        )
        return retrieval.pack(scored, budget)
