"""Lexical search: tokens, query phrases, Okapi BM25 with the team's own statistics, fusion.

Why BM25 is computed here and not by the engines: FTS5's ``bm25()`` takes N, ``avgdl``
and document frequencies from the whole table (every team), so one team's ranking would
move with another team's writes; PostgreSQL has no BM25 at all (``ts_rank`` ignores how
rare a term is). The indexes (FTS5 on SQLite, a GIN ``tsvector`` on PostgreSQL, both made
by the migrations) find the matching rows inside the search's filters; the statistics are
the team's; the formula is FTS5's (k1 = 1.2, b = 0.75, ``idf = ln((N - n + 0.5) /
(n + 0.5))`` floored at 1e-6), so both backends rank identically.

Tokens agree on both backends: a token is a run of letters and digits (Unicode categories
L* and N*), lower-cased, diacritics kept (FTS5 ``unicode61 remove_diacritics 0``;
PostgreSQL indexes the text with every other character replaced by a space, so
``ORD-48213`` is ``ord``, ``48213`` on both).

Query syntax: each whitespace-separated word is a phrase of its tokens, ``"…"`` groups
words into one phrase, a trailing ``*`` makes the last token a prefix; phrases are OR-ed
(AND found nothing in the evaluation). Anything else is text: only tokens (letters and
digits) ever reach SQL, so no user string can be a syntax error. One-word phrases that
are stop words (`skillstore.embedding.hashing.STOP_WORDS`) are left out of the query (the
index keeps them): question words are rare in statements, and BM25 would rank them high.

Rejected: ``websearch_to_tsquery`` (AND semantics), ``ts_rank`` (no IDF), FTS5's
``bm25()`` (table-wide statistics).
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from skillstore.embedding.hashing import STOP_WORDS

Id = TypeVar("Id", bound=Hashable)
Fusion = Literal["rrf", "weighted"]

K1 = 1.2
B = 0.75
IDF_FLOOR = 1e-6
RRF_K0 = 60.0
MAX_PHRASES = 64
"""At most this many distinct phrases of a query are searched (the first ones)."""


_TOKEN = re.compile(r"[^\W_]+")


def tokens(text: str) -> list[str]:
    """``text``'s tokens as both indexes make them (runs of letters and digits,
    lower-cased)."""
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class Phrase:
    """Consecutive tokens; ``prefix``: the last one is a prefix (``term*``)."""

    words: tuple[str, ...]
    prefix: bool = False

    def count(self, doc: Sequence[str]) -> int:
        """Occurrences in a document's tokens."""
        *head, last = self.words
        if not head:
            if self.prefix:
                return sum(1 for t in doc if t.startswith(last))
            return doc.count(last) if isinstance(doc, list) else list(doc).count(last)
        n = len(self.words)
        found = 0
        for i in range(len(doc) - n + 1):
            if doc[i] == head[0] and all(doc[i + j] == head[j] for j in range(1, n - 1)):
                tail = doc[i + n - 1]
                found += tail.startswith(last) if self.prefix else tail == last
        return found

    def fts5(self) -> str:
        """As an FTS5 query (every token quoted: tokens hold no quote)."""
        return '"' + " ".join(self.words) + '"' + ("*" if self.prefix else "")

    def tsquery(self) -> str:
        """As a ``to_tsquery`` operand."""
        parts = [f"'{w}'" for w in self.words]
        if self.prefix:
            parts[-1] += ":*"
        return "(" + " <-> ".join(parts) + ")"


def parse_query(text: str, *, stop_words: frozenset[str] = STOP_WORDS) -> list[Phrase]:
    """User text as phrases (see the module docstring); never fails; [] when nothing
    searchable is left."""
    phrases: list[Phrase] = []
    for quoted, word in re.findall(r'"([^"]*)"?|(\S+)', text.replace("\x00", " ")):
        raw = quoted if quoted or not word else word
        words = tuple(tokens(raw))
        if not words or (len(words) == 1 and words[0] in stop_words and not quoted):
            continue
        phrase = Phrase(words, prefix=raw.rstrip().endswith("*"))
        if phrase not in phrases:
            phrases.append(phrase)
        if len(phrases) == MAX_PHRASES:
            break
    return phrases


class TeamIndex:
    """A team's indexed rows as tokens, with postings: its BM25 statistics."""

    def __init__(self, docs: Sequence[Sequence[str]]) -> None:
        self.docs = docs
        self.total = sum(len(d) for d in docs)
        self.postings: dict[str, set[int]] = {}
        for i, doc in enumerate(docs):
            for token in doc:
                self.postings.setdefault(token, set()).add(i)

    def matching(self, phrase: Phrase) -> int:
        """Rows of the team holding ``phrase``."""
        *head, last = phrase.words
        sets = [self.postings.get(w, set()) for w in head]
        if phrase.prefix:
            sets.append(set().union(*(d for t, d in self.postings.items() if t.startswith(last))))
        else:
            sets.append(self.postings.get(last, set()))
        found = set.intersection(*sets)
        if len(phrase.words) == 1:
            return len(found)
        return sum(1 for i in found if phrase.count(self.docs[i]))

    def stats(self, phrases: Sequence[Phrase]) -> Stats:
        return Stats(len(self.docs), self.total, tuple(self.matching(p) for p in phrases))


@dataclass(frozen=True)
class Stats:
    """The team's statistics: rows, their total tokens, rows matching each phrase."""

    rows: int
    total_tokens: int
    matching: tuple[int, ...]

    def idf(self, i: int) -> float:
        n = self.matching[i]
        value = math.log((self.rows - n + 0.5) / (n + 0.5))
        return value if value > 0.0 else IDF_FLOOR


def bm25(doc: Sequence[str], phrases: Sequence[Phrase], stats: Stats) -> float:
    """Okapi BM25 of one document's tokens (FTS5's formula; higher is better)."""
    avgdl = stats.total_tokens / stats.rows if stats.rows else 0.0
    norm = K1 * (1 - B + B * len(doc) / avgdl) if avgdl else K1
    total = 0.0
    for i, phrase in enumerate(phrases):
        f = phrase.count(doc)
        if f:
            total += stats.idf(i) * (f * (K1 + 1)) / (f + norm)
    return total


def rrf(rankings: Sequence[Sequence[Id]], *, k0: float = RRF_K0) -> dict[Id, float]:
    """Reciprocal-rank fusion: ``Σ 1 / (k0 + rank)`` over the lists (rank from 1)."""
    scores: dict[Id, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k0 + rank)
    return scores


def _minmax(scores: Mapping[Id, float]) -> dict[Id, float]:
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return dict.fromkeys(scores, 1.0)
    return {d: (s - low) / (high - low) for d, s in scores.items()}


def weighted(
    vector: Mapping[Id, float], lexical: Mapping[Id, float], *, alpha: float = 0.5
) -> dict[Id, float]:
    """``alpha · minmax(similarity) + (1 - alpha) · minmax(bm25)``; missing counts 0."""
    a, b = _minmax(vector), _minmax(lexical)
    return {d: alpha * a.get(d, 0.0) + (1 - alpha) * b.get(d, 0.0) for d in {*a, *b}}


__all__ = [
    "Fusion",
    "Phrase",
    "Stats",
    "TeamIndex",
    "bm25",
    "parse_query",
    "rrf",
    "tokens",
    "weighted",
]
