"""What `SkillstoreVectorStore` stores its documents as: document chunks or memories.

Both keep the LangChain id and the collection under the reserved metadata key
``"skillstore"`` and derive the row's UUID from team, collection and id, so adding an id
again replaces the row (one ``upsert``). Documents also use ``"<collection>:<id>"`` as
their ``document_id``; memories are ``semantic`` memories embedded under the store's
``embedding_model``, so the store's own memory search and retrieval find them too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from langchain_core.documents import Document

from skillstore.models import DocumentEmbeddingCreate, MemoryCreate

if TYPE_CHECKING:
    from skillstore.store import StoreSession

RESERVED = "skillstore"
_IDS = uuid.UUID("6f1c3f0e-5b7e-4e55-9d1a-6c1b1f3a7d20")


class Kind(Protocol):
    """The operations `SkillstoreVectorStore` needs from a table."""

    async def upsert(
        self, s: StoreSession, key: str, text: str, meta: dict[str, Any], vector: list[float]
    ) -> None: ...

    async def get(self, s: StoreSession, keys: Sequence[str]) -> list[Document]: ...

    async def delete(self, s: StoreSession, key: str) -> None: ...

    async def search(
        self, s: StoreSession, vector: list[float], k: int, metadata: dict[str, Any]
    ) -> list[tuple[Document, float]]: ...

    async def keys(self, s: StoreSession, limit: int) -> list[tuple[str, dict[str, Any]]]:
        """Up to ``limit`` of the collection's ids, each with its reserved metadata."""
        ...


class Rows:
    """What both kinds share: the collection, the ids, the reserved metadata."""

    def __init__(self, team_id: uuid.UUID, collection: str) -> None:
        self.team_id, self.collection = team_id, collection

    def row_id(self, key: str) -> uuid.UUID:
        return uuid.uuid5(_IDS, f"{self.team_id}/{self.collection}/{key}")

    def mine(self) -> dict[str, Any]:
        return {RESERVED: {"collection": self.collection}}

    def document(self, content: str, metadata: dict[str, Any]) -> Document:
        mine = metadata[RESERVED]
        kept = {key: value for key, value in metadata.items() if key != RESERVED}
        return Document(id=mine["id"], page_content=content, metadata=kept)


class Documents(Rows):
    async def upsert(
        self, s: StoreSession, key: str, text: str, meta: dict[str, Any], vector: list[float]
    ) -> None:
        chunk = DocumentEmbeddingCreate.model_validate(
            {
                "id": self.row_id(key),
                "document_id": f"{self.collection}:{key}",
                "content": text,
                "metadata": meta,
                "embedding": vector,
            }
        )
        await s.documents.upsert(chunk)

    async def get(self, s: StoreSession, keys: Sequence[str]) -> list[Document]:
        wanted = [f"{self.collection}:{key}" for key in keys]
        found = await s.documents.find(document_id=wanted, limit=max(len(wanted), 1))
        return [self.document(c.content, c.metadata) for c in found]

    async def delete(self, s: StoreSession, key: str) -> None:
        await s.documents.delete(self.row_id(key))

    async def search(
        self, s: StoreSession, vector: list[float], k: int, metadata: dict[str, Any]
    ) -> list[tuple[Document, float]]:
        hits = await s.documents.search(vector, k=k, metadata=metadata)
        return [
            (self.document(h.chunk.content, h.chunk.metadata), h.similarity or 0.0) for h in hits
        ]

    async def keys(self, s: StoreSession, limit: int) -> list[tuple[str, dict[str, Any]]]:
        found = await s.documents.find(metadata=self.mine(), limit=limit)
        return [(c.metadata[RESERVED]["id"], c.metadata[RESERVED]) for c in found]


class Memories(Rows):
    async def upsert(
        self, s: StoreSession, key: str, text: str, meta: dict[str, Any], vector: list[float]
    ) -> None:
        memory = MemoryCreate.model_validate(
            {
                "id": self.row_id(key),
                "memory_type": "semantic",
                "content": text,
                "metadata": meta,
                "embedding": vector,
            }
        )
        await s.memories.upsert(memory)

    async def get(self, s: StoreSession, keys: Sequence[str]) -> list[Document]:
        found = [await s.memories.get(self.row_id(key)) for key in keys]
        return [self.document(m.content, m.metadata) for m in found if m is not None]

    async def delete(self, s: StoreSession, key: str) -> None:
        await s.memories.delete(self.row_id(key))

    async def search(
        self, s: StoreSession, vector: list[float], k: int, metadata: dict[str, Any]
    ) -> list[tuple[Document, float]]:
        hits = await s.memories.search(vector, k=k, metadata=metadata)
        return [
            (self.document(h.memory.content, h.memory.metadata), h.similarity or 0.0) for h in hits
        ]

    async def keys(self, s: StoreSession, limit: int) -> list[tuple[str, dict[str, Any]]]:
        found = await s.memories.find(metadata=self.mine(), limit=limit)
        return [(m.metadata[RESERVED]["id"], m.metadata[RESERVED]) for m in found]
