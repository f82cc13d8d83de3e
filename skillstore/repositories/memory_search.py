"""The reading side of `MemoryRepository`: live filters, vector search, scored retrieval.

Searching is `skillstore.vector.nearest` (shared with documents and skill files) plus the
memory rules: only the team's rows, live statuses, not expired, same embedding model. The
search statement itself returns the hits' `MemoryRead` columns, so a search is one round
trip. `retrieve` gathers its candidates here (nearest neighbours, pinned memories, and
memories linked from the best hits) and scores them with the pure functions of
`skillstore.repositories.retrieval`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skillstore._pydantic import plain, trusted
from skillstore.db.base import table_of
from skillstore.db.states import parse_enum
from skillstore.db.types import utcnow
from skillstore.errors import EmbeddingError, ValidationError
from skillstore.lexical import RRF_K0, Fusion, parse_query
from skillstore.lexical.search import lexical
from skillstore.models.agent import AgentConfig
from skillstore.models.agent_documents import AgentMemoryConfig
from skillstore.models.memory import (
    SEARCHABLE_STATUSES,
    Memory,
    MemoryHit,
    MemoryRead,
    MemoryType,
    RetrievalContext,
    ScoredMemory,
)
from skillstore.models.retrieval import RetrievalWeights
from skillstore.repositories import fused, retrieval
from skillstore.vector import (
    Filter,
    Op,
    filter_params,
    filter_shape,
    filter_sql,
    live_filters,
    nearest,
)

if TYPE_CHECKING:
    from skillstore.repositories.base import RepoContext

MEMORY = table_of(Memory)
READ_FIELDS = tuple(MemoryRead.model_fields)
READ_COLUMNS = tuple(MEMORY.c[f.rstrip("_")].key for f in READ_FIELDS)
"""The columns of a `MemoryRead`, loaded by the search query itself."""

DEFAULT_TOKEN_BUDGET = 2000
"""`AgentMemoryConfig.token_budget`'s default (seed 003), used until agents supply theirs."""

PINNED_LIMIT = 100
"""At most this many pinned memories are considered per retrieval (most important first)."""


def parse_types(memory_types: Iterable[MemoryType | str] | None) -> list[MemoryType] | None:
    """Memory types as `MemoryType`, or a `ValidationError` listing the valid ones."""
    if memory_types is None:
        return None
    return [parse_enum(MemoryType, t, "memory type") for t in memory_types]


_PLAIN = plain(MemoryRead)


def read_of(values: Sequence[Any]) -> MemoryRead:
    """A `MemoryRead` from our own columns' values (`READ_COLUMNS` order), not validated
    again: they were validated on the way in."""
    return trusted(MemoryRead, dict(zip(READ_FIELDS, values, strict=True)), is_plain=_PLAIN)


class MemorySearch:
    """Search and retrieval over one team's live memories."""

    def __init__(self, ctx: RepoContext) -> None:
        self._ctx = ctx
        self._uow = ctx.uow
        self._store = ctx.store
        assert ctx.team_id is not None
        self.team_id: uuid.UUID = ctx.team_id

    def live(
        self,
        *,
        agent_id: uuid.UUID | None = None,
        user_id: uuid.UUID | None = None,
        memory_types: Iterable[MemoryType | str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        shared: bool = False,
    ) -> list[Filter]:
        """Live memories of this team under these filters: active or disputed, not
        expired, embedded by the configured model. With ``shared``, an agent's or a user's
        filter also admits memories that belong to no agent or user (team-wide ones)."""
        types = parse_types(memory_types)
        equals: dict[str, Any] = {}
        if types is not None:
            equals["memory_type"] = types
        filters = live_filters(
            MEMORY,
            team_id=self.team_id,
            equals=equals,
            embedding_model=self._store.settings.embedding_model,
        )
        op: Op = "eq_or_null" if shared else "eq"
        for column, value in (("agent_id", agent_id), ("user_id", user_id)):
            if value is not None:
                filters.append(Filter(column, op, value))
        if metadata is not None:
            filters.append(Filter("metadata", "contains", dict(metadata)))
        filters.append(Filter("status", "constant_in", [s.value for s in SEARCHABLE_STATUSES]))
        return filters

    async def search(
        self,
        embedding: Any,
        *,
        text: str | None = None,
        k: int = 10,
        fusion: Fusion = "rrf",
        rrf_k0: float = RRF_K0,
        alpha: float = 0.5,
        agent_id: uuid.UUID | None = None,
        user_id: uuid.UUID | None = None,
        memory_types: Iterable[MemoryType | str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        min_similarity: float | None = None,
    ) -> list[MemoryHit]:
        """See `MemoryRepository.search`."""
        filters = self.live(
            agent_id=agent_id, user_id=user_id, memory_types=memory_types, metadata=metadata
        )
        plan = fused.plan(embedding, text, k=k, fusion=fusion, rrf_k0=rrf_k0, alpha=alpha)
        hits: list[MemoryHit] = []
        if embedding is not None:
            found = await nearest(
                self._uow,
                self._store,
                MEMORY,
                embedding,
                k=plan.depth,
                filters=filters,
                returning=READ_COLUMNS,
            )
            if not found and text is None:
                await self._other_models(filters)
            hits = [
                MemoryHit.model_construct(
                    memory=read_of(n.values), similarity=n.similarity, score=n.similarity
                )
                for n in found
                if min_similarity is None or n.similarity >= min_similarity
            ]
        if not plan.phrases:
            return hits[:k]
        words = await lexical(
            self._uow,
            self._store,
            MEMORY,
            plan.phrases,
            k=plan.depth,
            filters=[f for f in filters if f.column != "embedding_model"],
            team_id=self.team_id,
            returning=READ_COLUMNS,
        )
        by_text = [
            MemoryHit.model_construct(
                memory=read_of(w.values), lexical_score=w.score, score=w.score
            )
            for w in words
        ]
        return plan.fuse(hits, by_text, lambda h: h.memory.id)

    async def _other_models(self, filters: list[Filter]) -> None:
        """Raise `EmbeddingError` when memories match the filters but were all embedded by
        another model than the store's (a search that cannot match says so)."""
        others = [f for f in filters if f.column != "embedding_model"]

        def build() -> sa.Executable:
            where = [MEMORY.c.embedding.is_not(None), *filter_sql(MEMORY, others)]
            return sa.select(MEMORY.c.embedding_model).where(*where).distinct().limit(5)

        prepared = self._store.statements.get(("memory", "models", filter_shape(others)), build)
        models = sorted(str(r[0]) for r in await self._uow.rows(prepared, filter_params(others)))
        if models:
            raise EmbeddingError(
                f"no memory here was embedded by {self._store.settings.embedding_model!r}, the "
                f"model this store searches with; they were embedded by {', '.join(models)}. "
                "Open the store with the embedder (or embedding_model setting) they were "
                "written with, or re-embed them"
            )

    # ---- scored retrieval -----------------------------------------------------------------
    async def _agent_defaults(self, agent_id: uuid.UUID | None) -> tuple[RetrievalWeights, int]:
        """The agent's retrieval weights and token budget (its `AgentMemoryConfig`).

        Without an agent (or for an agent of another team) the seed's defaults apply.
        """
        if agent_id is not None:
            agent = table_of(AgentConfig)

            def build() -> sa.Executable:
                return sa.select(agent.c.memory).where(
                    agent.c.id == sa.bindparam("id"), agent.c.team_id == sa.bindparam("team_id")
                )

            prepared = self._store.statements.get(("memory", "agent-retrieval"), build)
            config: AgentMemoryConfig | None = await self._uow.scalar(
                prepared, {"id": agent_id, "team_id": self.team_id}
            )
            if config is not None:
                return config.retrieval_weights, config.token_budget
        return RetrievalWeights(), DEFAULT_TOKEN_BUDGET

    async def _embedded(
        self, filters: list[Filter], *, ids: Iterable[uuid.UUID] | None = None, pinned: bool = False
    ) -> list[tuple[MemoryRead, list[float] | None]]:
        """Memories under ``filters`` (and among ``ids``, or pinned), with their vectors."""
        wanted = None if ids is None else sorted(set(ids))
        if wanted == []:
            return []
        extra = [Filter("id", "in", wanted)] if wanted is not None else []
        extra += [Filter("is_pinned", "eq", True)] if pinned else []
        every = [*filters, *extra]

        def build() -> sa.Executable:
            columns = [MEMORY.c[c] for c in READ_COLUMNS]
            return (
                sa.select(*columns, MEMORY.c.embedding)
                .where(*filter_sql(MEMORY, every))
                .order_by(MEMORY.c.importance.desc(), MEMORY.c.id)
                .limit(sa.bindparam("limit"))
            )

        prepared = self._store.statements.get(("memory", "embedded", filter_shape(every)), build)
        limit = len(wanted) if wanted is not None else PINNED_LIMIT
        rows = await self._uow.rows(prepared, {**filter_params(every), "limit": limit})
        return [(read_of(r[:-1]), r[-1]) for r in rows]

    async def retrieve(
        self,
        embedding: Any,
        *,
        context: RetrievalContext,
        weights: RetrievalWeights | None = None,
        token_budget: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        text: str | None = None,
    ) -> list[ScoredMemory]:
        """See `MemoryRepository.retrieve`."""
        default_weights, default_budget = await self._agent_defaults(context.agent_id)
        budget = token_budget if token_budget is not None else default_budget
        if budget < 1:
            raise ValidationError(f"token_budget must be at least 1, got {budget}")
        settings = self._store.settings
        visible = self.live(
            agent_id=context.agent_id,
            user_id=context.user_id,
            memory_types=context.memory_types,
            metadata=metadata,
            shared=True,
        )
        k = settings.memory_retrieval_candidates
        found = await nearest(self._uow, self._store, MEMORY, embedding, k=k, filters=visible)
        top = [n.id for n in found[: retrieval.RELATED_TOP_HITS]]
        words = []
        if text is not None and (phrases := parse_query(text)):
            lexical_filters = [f for f in visible if f.column != "embedding_model"]
            words = await lexical(
                self._uow,
                self._store,
                MEMORY,
                phrases,
                k=k,
                filters=lexical_filters,
                team_id=self.team_id,
            )
        wanted = [n.id for n in found] + [w.id for w in words]
        candidates = await self._embedded(visible, ids=wanted)
        candidates += await self._embedded(visible, pinned=True)
        memories = {m.id: (m, v) for m, v in candidates}
        links = retrieval.linked({i: m for i, (m, _) in memories.items()}, top) - set(memories)
        for m, v in await self._embedded(visible, ids=links):
            memories[m.id] = (m, v)
        similarities = retrieval.similarities(embedding, {i: v for i, (_, v) in memories.items()})
        scored = retrieval.score(
            {i: m for i, (m, _) in memories.items()},
            similarities,
            top,
            context=context,
            weights=weights or default_weights,
            now=context.now or utcnow(),
            half_life_hours=settings.memory_recency_half_life_hours,
            lexical={w.id: w.score for w in words},
        )
        return retrieval.pack(scored, budget)
