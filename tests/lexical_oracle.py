"""A pure-Python reference for lexical and hybrid retrieval: the oracle of issue 15.

What is here, and what it stands for:

- Tokenizers. `tokenize_unicode61` is SQLite FTS5's default tokenizer (``unicode61``,
  ``remove_diacritics 1``): a token is a run of characters of the Unicode categories L*,
  N* and Co; everything else separates; each character is lower-cased on its own (so a
  final capital sigma does not become the final form) and a Latin letter with one diacritic loses it
  (``Wróbel`` → ``wrobel``; ``ễ``, with two, stays). `tokenize_pg_simple` is PostgreSQL's
  ``to_tsvector('simple', …)`` for the text shapes the evaluation set writes: words and
  numbers lower-cased with their diacritics kept (``müller``); ``_`` and other punctuation
  separate; a hyphenated word is indexed whole *and* by its parts (``co-op`` → ``co-op``,
  ``co``, ``op``); a number after a hyphen is a signed integer (``ORD-48213`` → ``ord``,
  ``-48213``; ``INV-2024-0042`` → ``inv``, ``-2024``, ``-0042``). PostgreSQL's parser knows
  two dozen more token types (hosts, e-mails, paths, versions, floats: each kept whole);
  the emulation does not, and `tests/test_lexical_oracle.py` checks it against the real
  parser over every text of the evaluation set instead of claiming more.
- `BM25`: Okapi BM25 exactly as FTS5's ``bm25()`` computes it (``ext/fts5/fts5_aux.c``):
  k1 = 1.2, b = 0.75, ``idf = ln((N - n + 0.5) / (n + 0.5))`` raised to 1e-6 when it is not
  positive (a term in more than half the rows), term frequency summed over the row's
  columns (each times its column weight, 1 by default), ``|D|`` the row's tokens in all
  columns, ``avgdl`` over every row indexed. A query is a list of `Phrase`; a phrase's
  frequency is its number of occurrences (consecutive tokens in one column). Scores are
  positive, higher is better (``bm25()`` returns the negation). Which rows make up ``N``,
  ``n`` and ``avgdl`` is the caller's choice: FTS5 uses the whole table (every team), a
  tenant-exact ranking uses the team's live rows.
- `parse_query`: user text to phrases, the rule both engines' quoting gives: each
  whitespace-separated word is a phrase of its tokens (``ORD-48213`` → ``ord 48213``),
  ``"…"`` groups words into one phrase, a trailing ``*`` makes the last token a prefix;
  anything else (operators, brackets, stray quotes) is just text and never an error.
- `rrf` (reciprocal-rank fusion, k0 = 60 by default) and `weighted_minmax` (each list's
  scores scaled to [0, 1] by min-max, then mixed), and `matches_up_to_ties`, the
  comparison an oracle test makes ("ties allowed").

Rejected: ``rank_bm25`` and friends as the oracle (their IDF differs from FTS5's and
PostgreSQL has no BM25 at all; an oracle must say exactly what it computes), and stop
words or stemming (``simple`` and ``unicode61`` do neither).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

Id = TypeVar("Id", bound=Hashable)

K1 = 1.2
B = 0.75
IDF_FLOOR = 1e-6
RRF_K0 = 60.0
_TOKEN_CATEGORIES = ("L", "N")


def _fold(ch: str) -> str:
    """One character as unicode61 folds it: lower case, one diacritic removed."""
    lower = ch.lower()
    decomposed = unicodedata.normalize("NFD", lower)
    base = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    marks = len(decomposed) - len(base)
    if len(base) == 1 and marks == 1 and "LATIN" in unicodedata.name(base, ""):
        return base
    return lower if len(lower) == 1 else ch


def _is_token_char(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category[0] in _TOKEN_CATEGORIES or category == "Co"


def tokenize_unicode61(text: str) -> list[str]:
    """Tokens as SQLite FTS5's default ``unicode61`` tokenizer makes them."""
    tokens: list[str] = []
    current: list[str] = []
    for ch in text:
        if _is_token_char(ch):
            current.append(_fold(ch))
        elif current:
            tokens.append("".join(current))
            current = []
    if current:
        tokens.append("".join(current))
    return tokens


_PG_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*")


def tokenize_pg_simple(text: str) -> list[str]:
    """Lexemes, in position order, of PostgreSQL's ``to_tsvector('simple', text)`` for
    words, numbers, hyphenated words and ``WORD-NUMBER`` codes (see the module docstring)."""
    tokens: list[str] = []
    for match in _PG_WORD.finditer(text):
        parts = match.group().lower().split("-")
        words: list[str] = []  # the hyphenated word before the first numeric part
        i = 0
        while i < len(parts) and not (i > 0 and parts[i].isdigit()):
            words.append(parts[i])
            i += 1
        if len(words) > 1:
            tokens.append("-".join(words))
        tokens.extend(words)
        tokens.extend(f"-{p}" if p.isdigit() else p for p in parts[i:])
    return tokens


Tokenizer = Literal["unicode61", "pg_simple"]
TOKENIZERS = {"unicode61": tokenize_unicode61, "pg_simple": tokenize_pg_simple}


def tokenize(text: str, tokenizer: Tokenizer = "unicode61") -> list[str]:
    """``text`` through the named tokenizer."""
    return TOKENIZERS[tokenizer](text)


@dataclass(frozen=True)
class Phrase:
    """Consecutive tokens that must occur in this order; ``prefix``: the last one is a
    prefix (``term*``)."""

    tokens: tuple[str, ...]
    prefix: bool = False

    def count(self, field_tokens: Sequence[str]) -> int:
        """Occurrences in one column's tokens (they may overlap, as FTS5 counts them)."""
        n = len(self.tokens)
        found = 0
        for i in range(len(field_tokens) - n + 1):
            head = all(field_tokens[i + j] == self.tokens[j] for j in range(n - 1))
            last = field_tokens[i + n - 1]
            tail = last.startswith(self.tokens[-1]) if self.prefix else last == self.tokens[-1]
            found += head and tail
        return found


def parse_query(text: str, tokenizer: Tokenizer = "unicode61") -> list[Phrase]:
    """User text as phrases: one per whitespace-separated word, one per ``"quoted
    group"``; ``word*`` is a prefix. Never fails: unmatched quotes close at the end,
    punctuation and operators are only separators, a word without tokens is dropped."""
    phrases: list[Phrase] = []
    for quoted, word in re.findall(r'"([^"]*)"?|(\S+)', text):
        raw = quoted if quoted or not word else word
        prefix = raw.endswith("*")
        tokens = tuple(tokenize(raw, tokenizer))
        if tokens:
            phrases.append(Phrase(tokens, prefix=prefix))
    return phrases


def single_terms(text: str, tokenizer: Tokenizer = "unicode61") -> list[Phrase]:
    """Every token of ``text`` as its own one-token phrase (a bag of words)."""
    return [Phrase((t,)) for t in tokenize(text, tokenizer)]


@dataclass
class BM25(Generic[Id]):
    """An index of documents (each one or more columns of tokens), scored as FTS5's
    ``bm25()`` does.

    Args:
        docs: id → the document's columns, each a list of tokens.
        weights: one weight per column (FTS5's ``bm25(t, w0, w1, …)``); 1.0 each if omitted.
    """

    docs: Mapping[Id, Sequence[Sequence[str]]]
    weights: Sequence[float] | None = None
    k1: float = K1
    b: float = B
    avgdl: float = field(init=False)
    _lengths: dict[Id, int] = field(init=False, repr=False)
    _postings: dict[str, set[Id]] = field(init=False, repr=False)
    _hits: dict[Phrase, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._lengths = {i: sum(len(c) for c in cols) for i, cols in self.docs.items()}
        self.avgdl = sum(self._lengths.values()) / len(self.docs) if self.docs else 0.0
        self._postings = {}
        for doc, cols in self.docs.items():
            for token in {t for c in cols for t in c}:
                self._postings.setdefault(token, set()).add(doc)
        self._hits = {}

    def _candidates(self, phrase: Phrase) -> set[Id]:
        """Documents holding every token of ``phrase`` somewhere (a superset of its hits:
        the postings only narrow the search, `Phrase.count` decides)."""
        sets = [self._postings.get(t, set()) for t in phrase.tokens[:-1]]
        last = phrase.tokens[-1]
        if phrase.prefix:
            sets.append(set().union(*(d for t, d in self._postings.items() if t.startswith(last))))
        else:
            sets.append(self._postings.get(last, set()))
        return set.intersection(*sets)

    def frequency(self, doc: Id, phrase: Phrase) -> float:
        """f(q, D): the phrase's occurrences in the document, column weights applied."""
        columns = self.docs[doc]
        weights = self.weights or [1.0] * len(columns)
        return sum(w * phrase.count(c) for w, c in zip(weights, columns, strict=False))

    def hits(self, phrase: Phrase) -> int:
        """n(q): documents with at least one occurrence."""
        if phrase not in self._hits:
            found = self._candidates(phrase)
            self._hits[phrase] = sum(1 for d in found if any(phrase.count(c) for c in self.docs[d]))
        return self._hits[phrase]

    def idf(self, phrase: Phrase) -> float:
        """``ln((N - n + 0.5) / (n + 0.5))``, at least 1e-6 (FTS5's floor)."""
        n = self.hits(phrase)
        value = math.log((len(self.docs) - n + 0.5) / (n + 0.5))
        return value if value > 0.0 else IDF_FLOOR

    def score(self, doc: Id, phrases: Sequence[Phrase]) -> float:
        """The document's BM25 for ``phrases`` (0.0 if it contains none)."""
        return self._score(doc, phrases, [self.idf(p) for p in phrases])

    def _score(self, doc: Id, phrases: Sequence[Phrase], idfs: Sequence[float]) -> float:
        norm = self.k1 * (1 - self.b + self.b * self._lengths[doc] / self.avgdl)
        total = 0.0
        for phrase, idf in zip(phrases, idfs, strict=True):
            f = self.frequency(doc, phrase)
            total += idf * (f * (self.k1 + 1)) / (f + norm)
        return total

    def rank(
        self,
        phrases: Sequence[Phrase],
        *,
        among: Iterable[Id] | None = None,
        match: Literal["any", "all"] = "any",
        k: int | None = None,
    ) -> list[tuple[Id, float]]:
        """Documents matching ``phrases`` (any of them, or all), best first, as
        ``(id, score)``; equal scores in id order (``str``), so ties are deterministic.

        ``among`` limits the *result* to those ids (a tenant's rows) while the statistics
        stay those of the whole index: what FTS5 does when a query adds a filter.
        """
        idfs = [self.idf(p) for p in phrases]
        candidates = set().union(*(self._candidates(p) for p in phrases)) if phrases else set()
        if among is not None:
            candidates &= set(among)
        scored = []
        for doc in candidates:
            present = [self.frequency(doc, p) > 0 for p in phrases]
            if all(present) if match == "all" else any(present):
                scored.append((doc, self._score(doc, phrases, idfs)))
        scored.sort(key=lambda pair: (-pair[1], str(pair[0])))
        return scored if k is None else scored[:k]


def rrf(
    rankings: Sequence[Sequence[Id]], *, k0: float = RRF_K0, weights: Sequence[float] | None = None
) -> list[tuple[Id, float]]:
    """Reciprocal-rank fusion: ``Σ w / (k0 + rank)`` over the lists a document is in
    (rank from 1), best first; equal scores in id order (``str``)."""
    scores: dict[Id, float] = {}
    for i, ranking in enumerate(rankings):
        w = 1.0 if weights is None else weights[i]
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + w / (k0 + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], str(pair[0])))


def minmax(scores: Mapping[Id, float]) -> dict[Id, float]:
    """Scores scaled to [0, 1]; all equal (or one) → 1.0 each."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return dict.fromkeys(scores, 1.0)
    return {d: (s - low) / (high - low) for d, s in scores.items()}


def weighted_minmax(
    vector: Mapping[Id, float], lexical: Mapping[Id, float], *, alpha: float = 0.5
) -> list[tuple[Id, float]]:
    """``alpha · minmax(vector) + (1 - alpha) · minmax(lexical)``, a document missing from
    a list counting 0 there; best first, equal scores in id order (``str``)."""
    a, b = minmax(vector), minmax(lexical)
    fused = {d: alpha * a.get(d, 0.0) + (1 - alpha) * b.get(d, 0.0) for d in {*a, *b}}
    return sorted(fused.items(), key=lambda pair: (-pair[1], str(pair[0])))


def matches_up_to_ties(
    actual: Sequence[Id], expected: Sequence[tuple[Id, float]], *, k: int, rel_tol: float = 1e-9
) -> bool:
    """Whether ``actual`` is a valid top-``k`` of ``expected`` (id, score) when equal
    scores may come in any order: same length, each id's expected score no higher than
    the previous one's, and the ids are the expected top ``k`` except that ids tied at
    the ``k``-th score may stand in for one another."""
    want = expected[:k]
    if len(actual) != len(want):
        return False
    score = dict(expected)
    if any(a not in score for a in actual):
        return False

    def close(x: float, y: float) -> bool:
        return math.isclose(x, y, rel_tol=rel_tol, abs_tol=1e-12)

    got = [score[a] for a in actual]
    if len(set(actual)) != len(actual) or any(
        got[i + 1] > got[i] and not close(got[i + 1], got[i]) for i in range(len(got) - 1)
    ):
        return False
    if not want:
        return True
    boundary = want[-1][1]
    above = {d for d, s in want if not close(s, boundary)}
    return above <= set(actual) and all(a in above or close(score[a], boundary) for a in actual)
