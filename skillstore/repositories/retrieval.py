"""Scored memory retrieval: six signals, weighted, pinned first, packed into a token budget.

For each candidate memory ``m`` (the nearest neighbours of the query, the pinned
memories, and memories linked by ``related_to`` from the best hits)::

    total = w.semantic     * max(similarity, 0)
          + w.recency      * 0.5 ** (age_hours / half_life_hours)
          + w.importance   * importance / 10
          + w.continuity   * (1 if m came from context.conversation_id
                              else 0.5 if m is about context.user_id else 0)
          + w.relationship * (1 if m is linked to/from one of the top hits by related_to
                              else 0)
          + w.lexical      * bm25(m) / max(bm25 of the candidates)   (0 without a text)

``w`` is a `RetrievalWeights`; ``age`` runs from ``last_accessed_at`` (else
``created_at``) to ``context.now``; ``half_life_hours`` is
``StoreSettings.memory_recency_half_life_hours``. Pinned memories come first, then the
rest by total. Results are packed greedily in that order: a memory that does not fit
the remaining budget is skipped and smaller ones after it may still fit. Tokens are
estimated as ``ceil(characters / 4)``, the usual rule of thumb for English text, because
skillstore has no tokenizer and must not depend on one model's.

These are pure functions over rows already fetched; `MemoryRepository.retrieve` does the
fetching. Rejected: scoring in SQL (five signals, two of them relational, make a query
no one can read, and the candidate set is small).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from skillstore.models.memory import MemoryRead, RetrievalContext, ScoredMemory
from skillstore.models.retrieval import RetrievalWeights

RELATED_TOP_HITS = 5
"""How many of the best semantic hits define the relationship signal."""


def estimate_tokens(text: str) -> int:
    """About four characters per token; at least one."""
    return max(1, math.ceil(len(text) / 4))


def recency(memory: MemoryRead, now: datetime, half_life_hours: float) -> float:
    """1.0 when just used, halving every ``half_life_hours`` since last access/creation."""
    since = memory.last_accessed_at or memory.created_at
    age_hours = max((now - since).total_seconds(), 0.0) / 3600.0
    return float(0.5 ** (age_hours / half_life_hours))


def continuity(memory: MemoryRead, context: RetrievalContext) -> float:
    """1.0 for the same conversation, 0.5 for the same user, else 0."""
    if context.conversation_id is not None and (
        memory.source_conversation_id == context.conversation_id
    ):
        return 1.0
    if context.user_id is not None and memory.user_id == context.user_id:
        return 0.5
    return 0.0


def linked(memories: Mapping[uuid.UUID, MemoryRead], top: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Ids linked by ``related_to`` to or from any of the ``top`` hits (not the hits)."""
    top_ids = set(top)
    found: set[uuid.UUID] = set()
    for hit in top_ids:
        if hit in memories:
            found.update(memories[hit].related_to)
    for memory in memories.values():
        if top_ids.intersection(memory.related_to):
            found.add(memory.id)
    return found - top_ids


def score(
    memories: Mapping[uuid.UUID, MemoryRead],
    similarities: Mapping[uuid.UUID, float],
    top: Iterable[uuid.UUID],
    *,
    context: RetrievalContext,
    weights: RetrievalWeights,
    now: datetime,
    half_life_hours: float,
    lexical: Mapping[uuid.UUID, float] | None = None,
) -> list[ScoredMemory]:
    """Score every memory; pinned first, then by total (ties: more similar first).
    ``lexical``: the candidates' BM25 scores for the query text, if there is one."""
    related = linked(memories, top)
    best_lexical = max((lexical or {}).values(), default=0.0)
    scored: list[ScoredMemory] = []
    for memory_id, memory in memories.items():
        similarity = similarities.get(memory_id, 0.0)
        parts = {
            "semantic": max(similarity, 0.0),
            "recency": recency(memory, now, half_life_hours),
            "importance": memory.importance / 10.0,
            "continuity": continuity(memory, context),
            "relationship": 1.0 if memory_id in related else 0.0,
            "lexical": (lexical or {}).get(memory_id, 0.0) / best_lexical if best_lexical else 0.0,
        }
        total = sum(getattr(weights, name) * value for name, value in parts.items())
        scored.append(
            ScoredMemory(
                memory=memory,
                similarity=similarity,
                total=total,
                tokens=estimate_tokens(memory.content),
                **parts,
            )
        )
    scored.sort(key=lambda s: (not s.memory.is_pinned, -s.total, -s.similarity))
    return scored


def pack(scored: Iterable[ScoredMemory], token_budget: int) -> list[ScoredMemory]:
    """Greedily keep, in order, every memory that still fits ``token_budget``."""
    kept: list[ScoredMemory] = []
    left = token_budget
    for item in scored:
        if item.tokens <= left:
            kept.append(item)
            left -= item.tokens
    return kept


def similarities(
    query: Sequence[float], vectors: Mapping[uuid.UUID, Sequence[float] | None]
) -> dict[uuid.UUID, float]:
    """Cosine similarity of ``query`` to each vector (0 where a memory has none)."""
    import numpy as np

    q = np.asarray(query, dtype=np.float32)
    q = q / np.linalg.norm(q)
    result: dict[uuid.UUID, float] = {}
    for memory_id, vector in vectors.items():
        if vector is None:
            result[memory_id] = 0.0
            continue
        v = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(v))
        result[memory_id] = float(v @ q) / norm if norm else 0.0
    return result
