"""`HashingEmbedder`: a deterministic, local embedder built on feature hashing.

Each word (but a few stop words) and each pair of adjacent words is hashed (BLAKE2b, so
the result is the same on every machine and every run, unlike Python's salted ``hash``)
to a bucket and a sign; the vector is the signed bucket counts, L2-normalised. Texts
that share words point in similar directions, which is enough for a demo, tests and
offline development; it knows nothing of synonyms. Rejected: character n-grams (more
robust to typos, but many more features per text for little gain on whole-word queries)
and TF-IDF (needs a corpus).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Sequence

from skillstore.errors import EmbeddingError

_WORD = re.compile(r"\w+", re.UNICODE)
STOP_WORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "s",
        "should",
        "that",
        "the",
        "their",
        "there",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    }
)
"""Dropped before hashing: they are in nearly every text and would only add noise."""
BIGRAM_WEIGHT = 0.5
"""Word pairs count half: they sharpen ranking without drowning the single words."""


class HashingEmbedder:
    """Feature hashing of word unigrams and bigrams into ``dimensions`` signed buckets.

    Args:
        dimensions: vector length; must equal the store's ``embedding_dimensions``.
    """

    def __init__(self, dimensions: int = 1536) -> None:
        if not 8 <= dimensions <= 16000:
            raise EmbeddingError(f"dimensions must be between 8 and 16000, got {dimensions}")
        self._dimensions = dimensions

    def __repr__(self) -> str:
        return f"HashingEmbedder(dimensions={self._dimensions})"

    @property
    def model(self) -> str:
        """``skillstore-hashing-v1``: recorded on every vector it makes."""
        return "skillstore-hashing-v1"

    @property
    def dimensions(self) -> int:
        """The vector length."""
        return self._dimensions

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text.

        Raises:
            EmbeddingError: a text has no words (it would have no direction).
        """
        return [self.embed_one(text) for text in texts]

    def embed_one(self, text: str) -> list[float]:
        """The vector of one text (synchronous: no I/O is involved)."""
        words = [w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]
        if not words:
            raise EmbeddingError(f"cannot embed {text[:40]!r}: it contains no words")
        vector = [0.0] * self._dimensions
        features = [(w, 1.0) for w in words]
        features += [(f"{a} {b}", BIGRAM_WEIGHT) for a, b in itertools.pairwise(words)]
        for feature, weight in features:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            number = int.from_bytes(digest, "little")
            sign = 1.0 if number >> 63 else -1.0
            vector[number % self._dimensions] += sign * weight
        norm = math.sqrt(sum(v * v for v in vector))
        if norm == 0.0:  # every feature cancelled out: keep a direction anyway
            vector[0], norm = 1.0, 1.0
        return [v / norm for v in vector]
