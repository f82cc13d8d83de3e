"""Retrieval metrics of the evaluation: recall@k and MRR@k, per query category.

Recall@k is the share of a query's relevant memories among the first ``k`` returned
(averaged over queries, so a query with two relevant memories weighs what a query with
one does). MRR@k is the mean of ``1 / rank`` of the first relevant memory within the
first ``k``, 0 when none is there. Both are binary-relevance measures: every relevant id
of a query counts the same.
"""

from __future__ import annotations

import statistics
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass


def recall_at_k(ranked: Sequence[Hashable], relevant: Iterable[Hashable], k: int = 10) -> float:
    """Share of ``relevant`` among the first ``k`` of ``ranked`` (1.0 when all are)."""
    wanted = set(relevant)
    if not wanted:
        raise ValueError("a query needs at least one relevant id")
    return len(wanted & set(ranked[:k])) / len(wanted)


def reciprocal_rank(ranked: Sequence[Hashable], relevant: Iterable[Hashable], k: int = 10) -> float:
    """``1 / rank`` of the first relevant id within the first ``k`` (rank from 1), else 0."""
    wanted = set(relevant)
    for rank, doc in enumerate(ranked[:k], start=1):
        if doc in wanted:
            return 1.0 / rank
    return 0.0


@dataclass(frozen=True)
class Score:
    """Mean recall@k and MRR@k over ``queries`` queries."""

    recall: float
    mrr: float
    queries: int


def score(results: Iterable[tuple[Sequence[Hashable], Iterable[Hashable]]], k: int = 10) -> Score:
    """The mean metrics of ``(ranked, relevant)`` pairs."""
    pairs = [(list(r), set(rel)) for r, rel in results]
    if not pairs:
        return Score(float("nan"), float("nan"), 0)
    return Score(
        statistics.fmean(recall_at_k(r, rel, k) for r, rel in pairs),
        statistics.fmean(reciprocal_rank(r, rel, k) for r, rel in pairs),
        len(pairs),
    )
