"""The retrieval modes under evaluation, each a hook ``(store, team_id, text, k) -> ids``.

- `VectorOnly`: what the library does today, ``s.memories.search(vector, k=k)``.
- `ReferenceText`: text-only search as issue 15 specifies it, computed for now by the
  Python reference (`tests.lexical_oracle.BM25`) over the team's memories read through
  the public API (``s.memories.find``): content and subject as two columns, the
  backend's tokenizer (``unicode61`` on SQLite, ``pg_simple`` on PostgreSQL), statistics
  of the team (tenant-exact) or of the whole table (what FTS5's ``bm25()`` uses).
- `ReferenceHybrid`: reciprocal-rank fusion (or weighted min-max fusion) of the two
  lists above, each ``depth`` deep.
- `LibraryText`, `LibraryHybrid`: the same two through the library's own
  ``s.memories.search(embedding, text=…, fusion=…)`` once issue 15 lands; until then
  they raise `NotImplementedError` saying so. ``--source library`` swaps them in, so
  the table is filled by the same runner from the same set.

Every hook opens its own session per query, as a caller would. Not ``readonly=True``:
on PostgreSQL the vector planner's ``EXPLAIN`` is classified as a write, so a read-only
session refuses ``memories.search``.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

from skillstore import Store
from skillstore.models.memory import SEARCHABLE_STATUSES
from tests.lexical_oracle import BM25, Tokenizer, parse_query, rrf, weighted_minmax

Ranked = list[tuple[uuid.UUID, float]]
READ_LIMIT = 10_000
"""Memories read per team for the reference index (the repository's largest page)."""


class Mode(Protocol):
    """A retrieval mode: the ids of the best ``k`` memories for ``text`` in a team."""

    name: str

    async def __call__(
        self, store: Store, team_id: uuid.UUID, text: str, k: int
    ) -> list[uuid.UUID]: ...


class VectorOnly:
    """``s.memories.search`` with the query's vector (precomputed in one batch, else
    ``search_text`` embeds it)."""

    name = "vector-only"

    def __init__(self, vectors: Mapping[str, Sequence[float]]) -> None:
        self.vectors = vectors

    async def scored(self, store: Store, team_id: uuid.UUID, text: str, k: int) -> Ranked:
        async with store.session(team_id=team_id) as s:
            vector = self.vectors.get(text)
            if vector is None:
                hits = await s.memories.search_text(text, k=k)
            else:
                hits = await s.memories.search(list(vector), k=k)
        return [(h.memory.id, h.similarity) for h in hits]

    async def __call__(
        self, store: Store, team_id: uuid.UUID, text: str, k: int
    ) -> list[uuid.UUID]:
        return [i for i, _ in await self.scored(store, team_id, text, k)]


class ReferenceText:
    """BM25 over the team's live memories, by the Python reference.

    Args:
        tokenizer: ``unicode61`` (SQLite FTS5) or ``pg_simple`` (PostgreSQL ``simple``).
        stats: ``team``: N, avgdl and document frequencies of the team's memories only;
            ``table``: of every team's (call `load` with all team ids first).
        match: ``any`` query phrase (OR) or ``all`` of them (AND, the default of both
            ``websearch_to_tsquery`` and an FTS5 query of several words).
        stop_words: one-word query phrases to leave out (the index keeps every word).
            Question words are rare in declarative memories, so BM25 gives them a high
            IDF; `skillstore.embedding.hashing.STOP_WORDS` is the list measured.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        *,
        stats: Literal["team", "table"] = "team",
        match: Literal["any", "all"] = "any",
        stop_words: frozenset[str] = frozenset(),
    ) -> None:
        self.tokenizer = tokenizer
        self.stats = stats
        self.match: Literal["any", "all"] = match
        self.stop_words = stop_words
        suffix = "" if stats == "team" else ", table-wide stats"
        suffix += ", query stop words dropped" if stop_words else ""
        self.name = f"text-only ({'OR' if match == 'any' else 'AND'}{suffix})"
        self._docs: dict[uuid.UUID, dict[uuid.UUID, list[list[str]]]] = {}
        self.content: dict[uuid.UUID, str] = {}
        """Each memory's content: equal scores are ordered by it, not by the random ids,
        so that a run's figures are those of the set."""
        self._indexes: dict[uuid.UUID | None, BM25[uuid.UUID]] = {}

    async def load(self, store: Store, team_ids: Sequence[uuid.UUID]) -> None:
        """Read and tokenize these teams' live memories (once per team)."""
        from tests.lexical_oracle import tokenize

        for team_id in team_ids:
            if team_id in self._docs:
                continue
            async with store.session(team_id=team_id) as s:
                rows = await s.memories.find(limit=READ_LIMIT, status=list(SEARCHABLE_STATUSES))
            self.content.update({m.id: m.content for m in rows})
            self._docs[team_id] = {
                m.id: [
                    tokenize(m.content, self.tokenizer),
                    tokenize(m.subject or "", self.tokenizer),
                ]
                for m in rows
            }
        self._indexes.clear()

    def _index(self, team_id: uuid.UUID) -> BM25[uuid.UUID]:
        key = team_id if self.stats == "team" else None
        if key not in self._indexes:
            if key is None:
                docs = {i: d for team in self._docs.values() for i, d in team.items()}
            else:
                docs = dict(self._docs[team_id])
            self._indexes[key] = BM25(docs)
        return self._indexes[key]

    async def scored(self, store: Store, team_id: uuid.UUID, text: str, k: int) -> Ranked:
        await self.load(store, [team_id])
        index = self._index(team_id)
        among = None if self.stats == "team" else self._docs[team_id].keys()
        phrases = [
            p
            for p in parse_query(text, self.tokenizer)
            if len(p.tokens) > 1 or p.tokens[0] not in self.stop_words
        ]
        ranked = index.rank(phrases, among=among, match=self.match)
        ranked.sort(key=lambda pair: (-pair[1], self.content[pair[0]]))
        return ranked[:k]

    async def __call__(
        self, store: Store, team_id: uuid.UUID, text: str, k: int
    ) -> list[uuid.UUID]:
        return [i for i, _ in await self.scored(store, team_id, text, k)]


class ReferenceHybrid:
    """Vector and text lists, each ``depth`` deep, fused: ``rrf`` (``k0``) or
    ``weighted`` (``alpha`` on the vector side's min-max-scaled similarity)."""

    def __init__(
        self,
        vector: VectorOnly,
        text: ReferenceText,
        *,
        fusion: Literal["rrf", "weighted"] = "rrf",
        depth: int = 50,
        k0: float = 60.0,
        alpha: float = 0.5,
    ) -> None:
        self.vector, self.text = vector, text
        self.fusion, self.depth, self.k0, self.alpha = fusion, depth, k0, alpha
        label = f"RRF k0={k0:g}" if fusion == "rrf" else f"weighted alpha={alpha:g}"
        label += ", query stop words dropped" if text.stop_words else ""
        self.name = f"hybrid ({label})"

    async def __call__(
        self, store: Store, team_id: uuid.UUID, text: str, k: int
    ) -> list[uuid.UUID]:
        depth = max(k, self.depth)
        by_vector = await self.vector.scored(store, team_id, text, depth)
        by_text = await self.text.scored(store, team_id, text, depth)
        if self.fusion == "rrf":
            fused = rrf([[i for i, _ in by_vector], [i for i, _ in by_text]], k0=self.k0)
        else:
            fused = weighted_minmax(dict(by_vector), dict(by_text), alpha=self.alpha)
        fused.sort(key=lambda pair: (-pair[1], self.text.content.get(pair[0], "")))
        return [i for i, _ in fused[:k]]


def _library_search_takes_text(store: Store) -> bool:
    from skillstore.repositories.memory import MemoryRepository

    return "text" in inspect.signature(MemoryRepository.search).parameters


class LibraryText:
    """``s.memories.search(None, text=text, k=k)``: the library's own text-only search."""

    name = "text-only (library)"

    async def __call__(
        self, store: Store, team_id: uuid.UUID, text: str, k: int
    ) -> list[uuid.UUID]:
        if not _library_search_takes_text(store):
            raise NotImplementedError(
                "memories.search(text=...) is not in this library yet (issue 15)"
            )
        async with store.session(team_id=team_id) as s:
            hits = await s.memories.search(None, text=text, k=k)  # type: ignore[call-arg,arg-type,unused-ignore]
        return [h.memory.id for h in hits]


class LibraryHybrid:
    """``s.memories.search(vector, text=text, k=k, fusion=…)``: the library's hybrid."""

    def __init__(self, vector: VectorOnly, *, fusion: str = "rrf") -> None:
        self.vector, self.fusion = vector, fusion
        self.name = f"hybrid (library, {fusion})"

    async def __call__(
        self, store: Store, team_id: uuid.UUID, text: str, k: int
    ) -> list[uuid.UUID]:
        if not _library_search_takes_text(store):
            raise NotImplementedError(
                "memories.search(text=...) is not in this library yet (issue 15)"
            )
        vector = list(self.vector.vectors[text])
        async with store.session(team_id=team_id) as s:
            hits = await s.memories.search(vector, text=text, k=k, fusion=self.fusion)  # type: ignore[call-arg,unused-ignore]
        return [h.memory.id for h in hits]
