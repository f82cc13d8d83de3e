"""Text in, vectors inside: the memory operations that use the store's `Embedder`.

A memory given without ``embedding`` is embedded from its ``content`` when the store has
an embedder (one call for a whole `add_many` batch), and `search_text` embeds its query
the same way. Without an embedder, such a memory is stored without a vector, as before
(it is still found by tag, pin or id, just not by similarity), while `search_text`
raises `EmbeddingError` saying how to configure one: a search cannot do without it.
Kept apart from `MemoryWrites` so the write path itself never waits on a network call
it did not ask for.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from skillstore.embedding import embed_texts
from skillstore.models.memory import MemoryCreate, MemoryHit, MemoryRead
from skillstore.repositories._memory_base import MemoryWrites
from skillstore.repositories.base import coerce


class MemoryText(MemoryWrites):
    """`add` / `add_many` embed what has no vector; `search_text` searches by text."""

    async def _with_vectors(self, creates: Sequence[MemoryCreate]) -> list[MemoryCreate]:
        """``creates``, those without an embedding embedded by the store's embedder."""
        embedder = self._ctx.embedder
        missing = [i for i, c in enumerate(creates) if c.embedding is None]
        if embedder is None or not missing:
            return list(creates)
        vectors = await embed_texts(embedder, [creates[i].content for i in missing])
        done = list(creates)
        for i, vector in zip(missing, vectors, strict=True):
            update = {"embedding": vector, "embedding_model": embedder.model}
            done[i] = creates[i].model_copy(update=update)
        return done

    async def add(
        self, data: Any, *, deduplicate: float | None = None, changed_by: str | None = None
    ) -> MemoryRead:
        """Store a memory (embedding its content when no vector is given and the store has
        an embedder); see `MemoryWrites.add` for ``deduplicate``."""
        (memory,) = await self._with_vectors([coerce(data, MemoryCreate)])
        return await super().add(memory, deduplicate=deduplicate, changed_by=changed_by)

    async def add_many(self, items: Sequence[Any], *, embeddings: Any = None) -> list[uuid.UUID]:
        """Store many memories at once, embedding those without a vector in one call.

        Args:
            items: `MemoryCreate` instances (or mappings of their fields).
            embeddings: optionally, all the items' vectors as one matrix of shape
                ``(len(items), embedding_dimensions)``, row ``i`` for item ``i`` (e.g. what
                a batch embedding model returns); the items then carry none. A float32
                numpy array is used as it is, which for large batches is much cheaper
                than one list of floats per item. Every row is checked like any vector.

        Raises:
            EmbeddingError: a vector has the wrong size, NaN/inf, or is all zeros.
            ValidationError: an item carries its own embedding while ``embeddings`` is given.
        """
        creates = [coerce(item, MemoryCreate) for item in items]
        if embeddings is None:
            creates = await self._with_vectors(creates)
        return await super().add_many(creates, embeddings=embeddings)

    async def search_text(self, text: str, *, k: int = 10, **filters: Any) -> list[MemoryHit]:
        """`search` with ``text`` embedded by the store's embedder.

        ``filters`` are those of `search` (``agent_id``, ``user_id``, ``memory_types``,
        ``min_similarity``).

        Raises:
            EmbeddingError: the store has no embedder (the message says how to add one).
        """
        (vector,) = await embed_texts(self._ctx.embedder, [text])
        return await self.search(vector, k=k, **filters)
