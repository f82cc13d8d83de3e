"""Turning text into vectors: the `Embedder` protocol and the embedders skillstore ships.

A store with an embedder can take text where it would take a vector
(``memories.search_text``, ``memories.add`` without ``embedding``). Two are shipped:

- `HashingEmbedder`: feature hashing of words and word pairs, deterministic, local, no
  download and no network. Good for the demo, tests and offline development; it matches
  words, not meanings.
- `OpenAIEmbedder`: any OpenAI-compatible ``/embeddings`` endpoint, behind the
  ``skillstore[openai]`` extra (httpx is imported only when it is used).

Rejected: bundling a neural model (hundreds of megabytes and a download on first use, for
a persistence library) and a registry of embedders by name (a protocol with one method
is easier to satisfy with whatever the application already uses).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from skillstore.embedding.hashing import HashingEmbedder
from skillstore.embedding.openai import OpenAIEmbedder
from skillstore.errors import EmbeddingError
from skillstore.settings import StoreSettings

NO_EMBEDDER = (
    "no embedder is configured to turn text into a vector: open the store with "
    "Store.open(..., embedder=HashingEmbedder(dimensions)) or your own Embedder, or set "
    "SKILLSTORE_EMBEDDING_API_KEY (and SKILLSTORE_EMBEDDING_BASE_URL) for an "
    "OpenAI-compatible service; or pass embedding=[...] yourself"
)


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns texts into vectors of a fixed dimension.

    ``model`` is recorded on every row it embeds; searches compare only vectors of the
    same model.
    """

    @property
    def model(self) -> str:
        """The embedding model's name."""
        ...

    @property
    def dimensions(self) -> int:
        """The length of every vector `embed` returns."""
        ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order."""
        ...


def embedder_from_settings(settings: StoreSettings) -> Embedder | None:
    """The `OpenAIEmbedder` that settings describe (an API key or a base URL), else None."""
    if settings.embedding_api_key is None and settings.embedding_base_url is None:
        return None
    return OpenAIEmbedder.from_settings(settings)


async def embed_texts(embedder: Embedder | None, texts: Sequence[str]) -> list[list[float]]:
    """``embedder.embed(texts)``, checked: one vector per text, each of its dimension.

    Raises:
        EmbeddingError: there is no embedder, or it returned the wrong number or size.
    """
    if embedder is None:
        raise EmbeddingError(NO_EMBEDDER)
    vectors = await embedder.embed(list(texts))
    if len(vectors) != len(texts):
        raise EmbeddingError(
            f"embedder {embedder.model!r} returned {len(vectors)} vectors for {len(texts)} texts"
        )
    return vectors


__all__ = [
    "NO_EMBEDDER",
    "Embedder",
    "HashingEmbedder",
    "OpenAIEmbedder",
    "embed_texts",
    "embedder_from_settings",
]
