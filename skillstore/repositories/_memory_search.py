"""The reading side of `MemoryRepository`: live filters and vector search.

Searching is `skillstore.vector.nearest` (shared with documents and skill files) plus the
memory rules: only the team's rows, live statuses, not expired, same embedding model. The
search statement itself returns the hits' `MemoryRead` columns, so a search is one round
trip; `MemoryWrites` builds on this class (``add`` deduplicates through `find_similar`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from skillstore.db.base import table_of
from skillstore.db.states import parse_enum
from skillstore.models.memory import (
    SEARCHABLE_STATUSES,
    Memory,
    MemoryHit,
    MemoryRead,
    MemoryType,
)
from skillstore.repositories.base import TenantRepository
from skillstore.vector import live_filters, nearest

_READ_FIELDS = tuple(MemoryRead.model_fields)
_READ_COLUMNS = tuple(
    table_of(Memory).c["metadata" if name == "metadata_" else name] for name in _READ_FIELDS
)
"""The columns of a `MemoryRead`, loaded by the search query itself."""

_LIVE: dict[tuple[Any, ...], tuple[sa.ColumnElement[bool], ...]] = {}

# The searchable statuses are written into the SQL, not bound: in the generic plan
# PostgreSQL settles on for a search statement prepared once, ``status IN ($6, $7)``
# builds its array of bound values again for every candidate row (a tenth of a tenant
# search); constants are folded once, when the plan is made.
_SEARCHABLE = col(Memory.status).in_(
    sa.bindparam(
        "searchable_statuses", list(SEARCHABLE_STATUSES), expanding=True, literal_execute=True
    )
)


def parse_types(memory_types: Iterable[MemoryType | str] | None) -> list[MemoryType] | None:
    """Memory types as `MemoryType`, or a `ValidationError` listing the valid ones."""
    if memory_types is None:
        return None
    return [parse_enum(MemoryType, t, "memory type") for t in memory_types]


class MemorySearch(TenantRepository[Memory, MemoryRead]):
    """Search over the team's live memories."""

    def _live(
        self,
        *,
        agent_id: uuid.UUID | None = None,
        user_id: uuid.UUID | None = None,
        memory_types: Iterable[MemoryType | str] | None = None,
    ) -> tuple[sa.ColumnElement[bool], ...]:
        """Live memories of this team under these filters; the same tuple for the same
        filters, so that `nearest` prepares it once."""
        types = parse_types(memory_types)
        model = self._ctx.settings.embedding_model
        key = (self.team_id, agent_id, user_id, None if types is None else tuple(types), model)
        cached = _LIVE.get(key)
        if cached is not None:
            return cached
        equals: dict[str, Any] = {}
        if agent_id is not None:
            equals["agent_id"] = agent_id
        if user_id is not None:
            equals["user_id"] = user_id
        if types is not None:
            equals["memory_type"] = types
        where = live_filters(Memory, team_id=self.team_id, equals=equals, embedding_model=model)
        live = (*where, _SEARCHABLE)
        if len(_LIVE) > 4096:
            _LIVE.clear()
        _LIVE[key] = live
        return live

    async def search(
        self,
        embedding: Any,
        *,
        k: int = 10,
        agent_id: uuid.UUID | None = None,
        user_id: uuid.UUID | None = None,
        memory_types: Iterable[MemoryType | str] | None = None,
        min_similarity: float | None = None,
    ) -> list[MemoryHit]:
        """The ``k`` live memories most similar to ``embedding``, best first.

        Live: active or disputed, not expired, embedded by the configured model. Similarity
        is ``1 - cosine distance``; ``min_similarity`` drops weaker hits.
        """
        where = self._live(agent_id=agent_id, user_id=user_id, memory_types=memory_types)
        found = await nearest(
            self._session,
            self._ctx.settings,
            Memory,
            embedding,
            k=k,
            where=where,
            returning=_READ_COLUMNS,
        )
        # The values are columns of our own rows, already converted by their column types:
        # validating them again cost a quarter of a tenant-scoped search, and model_construct's
        # field walk a third of what remained (`Schema.from_trusted`).
        return [
            MemoryHit.from_trusted(
                {
                    "memory": MemoryRead.from_trusted(
                        dict(zip(_READ_FIELDS, n.values, strict=True))
                    ),
                    "similarity": n.similarity,
                }
            )
            for n in found
            if min_similarity is None or n.similarity >= min_similarity
        ]

    async def find_similar(
        self, embedding: Any, *, threshold: float = 0.92, k: int = 10, **filters: Any
    ) -> list[MemoryHit]:
        """Live memories at least ``threshold`` similar (near-duplicates), best first.

        ``filters`` are those of `search` (``agent_id``, ``user_id``, ``memory_types``).
        """
        return await self.search(embedding, k=k, min_similarity=threshold, **filters)
