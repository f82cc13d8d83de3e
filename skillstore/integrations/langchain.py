"""`SkillstoreVectorStore`: a LangChain ``VectorStore`` on skillstore's documents or memories.

With ``kind="documents"`` (the default) each LangChain document is one chunk
(``chunk_index`` 0) of the team's ``document`` table, visible to ``s.documents``; with
``kind="memories"`` it is a ``semantic`` memory, visible to ``s.memories`` (its search,
retrieval and history). Either way it is tenant-scoped and searched by the same
exact-within-a-tenant vector path as every skillstore search. How LangChain's notions map:

- **ids** are the caller's strings, kept as given: the row's ``document_id`` is
  ``"<collection>:<id>"`` and its primary key a UUID derived from team, collection and
  id, so adding the same id again replaces the row (one ``upsert`` statement), in this
  team only. Documents without an id get a new UUID string.
- **collections** share the table; a chunk's collection (and its vectors' dimension) is
  kept under the reserved metadata key ``"skillstore"``, and every search and listing
  filters on it inside the statement. The rest of the metadata is the caller's,
  round-tripped as given; ``filter={...}`` matches it by JSON containment, applied in
  the search statement, before ranking.
- **dimensions**: a collection's vectors may be shorter than the schema's
  (``SKILLSTORE_EMBEDDING_DIMENSIONS``); they are stored zero-padded. Cosine similarity
  is unchanged by zero-padding, so rankings and scores are exact, and collections of
  different embedders share one table without a migration. The cost is storage and
  scan width of the schema's dimension; a longer vector than the schema's is refused,
  and a query of another dimension than the collection's raises `EmbeddingError`.

The ``a…`` methods run on the caller's store and event loop; the sync ones on a store
of their own (`skillstore.integrations._sync`). Scores are cosine similarities (higher
is closer), which are also the relevance scores.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from skillstore.errors import EmbeddingError, ValidationError
from skillstore.integrations._langchain_kinds import RESERVED, Documents, Kind, Memories
from skillstore.integrations._sync import SyncRunner

if TYPE_CHECKING:
    from collections.abc import Callable

    from skillstore.store import Store

COLLECTION_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
KINDS: dict[str, type[Documents] | type[Memories]] = {"documents": Documents, "memories": Memories}


class SkillstoreVectorStore(VectorStore):
    """A LangChain vector store over one team's documents (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        *,
        team_id: uuid.UUID,
        embedding: Embeddings,
        collection: str = "default",
        kind: Literal["documents", "memories"] = "documents",
    ) -> None:
        if not COLLECTION_NAME.match(collection):
            raise ValidationError(
                f"collection {collection!r} must be 1-100 letters, digits, '_', '.' or '-'"
            )
        if kind not in KINDS:
            raise ValidationError(f"kind must be 'documents' or 'memories', not {kind!r}")
        self.store, self.team_id, self.collection = store, team_id, collection
        self.embedding = embedding
        self.kind: Kind = KINDS[kind](team_id, collection)
        self._sync = SyncRunner(store)

    @property
    def embeddings(self) -> Embeddings:
        return self.embedding

    def close(self) -> None:
        """Close the store the sync methods use (the async ones use yours)."""
        self._sync.close()

    # ---- writing ---------------------------------------------------------------------
    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        return await self._add(self.store, list(texts), metadatas, ids, kwargs, embedded=None)

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        items = list(texts)
        vectors = self.embedding.embed_documents(items) if items else []
        return self._sync.run(
            lambda store: self._add(store, items, metadatas, ids, kwargs, embedded=vectors)
        )

    async def _add(
        self,
        store: Store,
        texts: list[str],
        metadatas: list[dict[str, Any]] | None,
        ids: Sequence[str | None] | None,
        extra: dict[str, Any],
        *,
        embedded: list[list[float]] | None,
    ) -> list[str]:
        if extra:
            raise ValidationError(f"add_texts got unknown argument(s): {', '.join(sorted(extra))}")
        metadatas = metadatas if metadatas is not None else [{} for _ in texts]
        ids = ids if ids is not None else [None] * len(texts)
        if not len(texts) == len(metadatas) == len(ids):
            raise ValidationError("texts, metadatas and ids must have the same length")
        if not texts:
            return []
        vectors = embedded if embedded is not None else await self.embedding.aembed_documents(texts)
        chosen = [given if given else str(uuid.uuid4()) for given in ids]
        async with store.session(team_id=self.team_id) as s:
            for text, meta, key, vector in zip(texts, metadatas, chosen, vectors, strict=True):
                if RESERVED in meta:
                    raise ValidationError(f"metadata key {RESERVED!r} is reserved by skillstore")
                padded, dims = self._padded(store, vector)
                tagged = {**meta, RESERVED: {**self._tag(dims), "id": key}}
                await self.kind.upsert(s, key, text, tagged, padded)
        return chosen

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        return await self._delete(self.store, ids)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        return self._sync.run(lambda store: self._delete(store, ids))

    async def _delete(self, store: Store, ids: list[str] | None) -> bool:
        async with store.session(team_id=self.team_id) as s:
            if ids is None:  # LangChain's "delete everything": this collection only
                while listed := await self.kind.keys(s, 1000):
                    for key, _ in listed:
                        await self.kind.delete(s, key)
                return True
            for key in ids:
                await self.kind.delete(s, key)
        return True

    # ---- reading ---------------------------------------------------------------------
    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        return await self._get(self.store, ids)

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        return self._sync.run(lambda store: self._get(store, ids))

    async def _get(self, store: Store, ids: Sequence[str]) -> list[Document]:
        if not ids:
            return []
        async with store.session(team_id=self.team_id) as s:
            found = await self.kind.get(s, ids)
        by_key = {document.id: document for document in found}
        return [by_key[key] for key in ids if key in by_key]

    async def asimilarity_search_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[Document]:
        found = await self._search(self.store, embedding, k, **kwargs)
        return [document for document, _ in found]

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[Document]:
        found = self._sync.run(lambda store: self._search(store, embedding, k, **kwargs))
        return [document for document, _ in found]

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        vector = await self.embedding.aembed_query(query)
        return await self._search(self.store, vector, k, **kwargs)

    def similarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        vector = self.embedding.embed_query(query)
        return self._sync.run(lambda store: self._search(store, vector, k, **kwargs))

    async def asimilarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return [d for d, _ in await self.asimilarity_search_with_score(query, k, **kwargs)]

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return [d for d, _ in self.similarity_search_with_score(query, k, **kwargs)]

    async def _search(
        self,
        store: Store,
        vector: list[float],
        k: int,
        *,
        filter: dict[str, Any] | None = None,  # LangChain names it so
        **extra: Any,
    ) -> list[tuple[Document, float]]:
        if extra:
            raise ValidationError(f"search got unknown argument(s): {', '.join(sorted(extra))}")
        if filter is not None and RESERVED in filter:
            raise ValidationError(f"metadata key {RESERVED!r} is reserved by skillstore")
        padded, dims = self._padded(store, vector)
        metadata = {**(filter or {}), RESERVED: self._tag(dims)}
        async with store.session(team_id=self.team_id) as s:
            hits: list[tuple[Document, float]] = await self.kind.search(s, padded, k, metadata)
            if not hits and (listed := await self.kind.keys(s, 1)):
                other = listed[0][1]["dims"]
                if other != dims:
                    raise EmbeddingError(
                        f"collection {self.collection!r} holds {other}-dimensional vectors; "
                        f"the query has {dims}: use the collection's embedding model"
                    )
        return hits

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        return lambda similarity: similarity

    # ---- construction ----------------------------------------------------------------
    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        store: Store | None = None,
        team_id: uuid.UUID | None = None,
        collection: str = "default",
        kind: Literal["documents", "memories"] = "documents",
        **kwargs: Any,
    ) -> SkillstoreVectorStore:
        if store is None or team_id is None:
            raise ValidationError("from_texts needs store= and team_id=")
        vectorstore = cls(
            store, team_id=team_id, embedding=embedding, collection=collection, kind=kind
        )
        vectorstore.add_texts(texts, metadatas, ids=list(ids) if ids else None, **kwargs)
        return vectorstore

    # ---- mapping ---------------------------------------------------------------------
    def _tag(self, dims: int) -> dict[str, Any]:
        return {"collection": self.collection, "dims": dims}

    @staticmethod
    def _padded(store: Store, vector: Sequence[float]) -> tuple[list[float], int]:
        width = store.settings.embedding_dimensions
        if len(vector) > width:
            raise EmbeddingError(
                f"a {len(vector)}-dimensional vector does not fit the schema's {width} "
                "dimensions (SKILLSTORE_EMBEDDING_DIMENSIONS, fixed at migration)"
            )
        return [*map(float, vector), *([0.0] * (width - len(vector)))], len(vector)
