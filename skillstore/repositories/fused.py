"""Hybrid search plumbing shared by memories, documents and skill files: which lists to
ask for, how deep, and how to fuse them into hits.

Each list is asked for ``max(k, HYBRID_DEPTH)`` rows when both are fused (the depth the
evaluation measured), ``k`` otherwise. A hit in both lists carries both scores; ``score``
is the RRF sum ``Σ 1 / (k0 + rank)`` or ``alpha · minmax(similarity) + (1 - alpha) ·
minmax(bm25)``. Ties are broken by id, so a ranking is reproducible.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from skillstore.errors import ValidationError
from skillstore.lexical import Fusion, Phrase, parse_query, rrf, weighted

HYBRID_DEPTH = 50
HitT = TypeVar("HitT")


@dataclass(frozen=True)
class Plan:
    k: int
    depth: int
    phrases: list[Phrase]
    hybrid: bool
    fusion: Fusion
    rrf_k0: float
    alpha: float

    def fuse(
        self, by_vector: list[HitT], by_text: list[HitT], id_of: Callable[[HitT], uuid.UUID]
    ) -> list[HitT]:
        """The two lists as one, best ``k`` first (either alone when there is one)."""
        if not self.hybrid:
            return (by_vector or by_text)[: self.k]
        vector = {id_of(h): h for h in by_vector}
        text = {id_of(h): h for h in by_text}
        if self.fusion == "rrf":
            scores = rrf([list(vector), list(text)], k0=self.rrf_k0)
        else:
            scores = weighted(
                {i: _get(h, "similarity") for i, h in vector.items()},
                {i: _get(h, "lexical_score") for i, h in text.items()},
                alpha=self.alpha,
            )
        best = sorted(scores.items(), key=lambda p: (-p[1], str(p[0])))[: self.k]
        hits: list[HitT] = []
        for i, score in best:
            v, t = vector.get(i), text.get(i)
            hit: Any = v if v is not None else t
            update = {
                "score": score,
                "similarity": None if v is None else _get(v, "similarity"),
                "lexical_score": None if t is None else _get(t, "lexical_score"),
            }
            hits.append(hit.model_copy(update=update))
        return hits


def _get(hit: Any, name: str) -> float:
    value: float = getattr(hit, name)
    return value


def plan(
    embedding: Any,
    text: str | None,
    *,
    k: int,
    fusion: str,
    rrf_k0: float,
    alpha: float,
) -> Plan:
    """Check the arguments of a search and say what to run."""
    if embedding is None and text is None:
        raise ValidationError("search needs an embedding, a text, or both")
    if fusion not in ("rrf", "weighted"):
        raise ValidationError(f"fusion must be 'rrf' or 'weighted', got {fusion!r}")
    if not rrf_k0 >= 0 or not 0.0 <= alpha <= 1.0:
        raise ValidationError("rrf_k0 must be >= 0 and alpha between 0 and 1")
    if not 1 <= k <= 1000:
        raise ValidationError(f"k must be between 1 and 1000, got {k}")
    if text is not None and not isinstance(text, str):
        raise ValidationError("text must be a string")
    phrases = parse_query(text) if text is not None else []
    hybrid = embedding is not None and bool(phrases)
    depth = max(k, HYBRID_DEPTH) if hybrid else k
    return Plan(k, depth, phrases, hybrid, fusion, rrf_k0, alpha)  # type: ignore[arg-type]
