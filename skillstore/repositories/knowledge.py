"""Document chunks and skill files with their embeddings.

Every embedding is checked against ``StoreSettings.embedding_dimensions`` (and for NaN
or infinity) before any SQL runs, so a wrong vector is an `EmbeddingError` naming both
lengths rather than a driver error, and nothing of the batch is stored. Replacing a
document's chunks or a skill file's embeddings is delete-then-insert in one savepoint:
re-chunking changes the number of chunks, which an upsert per chunk would leave stale.
Changing a skill file's content drops its embeddings, which described the old content.

Search goes through the same vector adapter as memory search (`skillstore.vector.nearest`):
the same planner, the same exactness on SQLite and for small tenant sets on PostgreSQL, and
the same ``k`` / ``min_similarity`` semantics.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import SQLModel

from skillstore.db.base import table_of
from skillstore.errors import ValidationError
from skillstore.lexical import RRF_K0
from skillstore.lexical.search import lexical
from skillstore.models.knowledge import (
    DocumentEmbedding,
    DocumentEmbeddingBase,
    DocumentEmbeddingCreate,
    DocumentEmbeddingRead,
    DocumentEmbeddingUpdate,
    DocumentHit,
    SkillEmbedding,
    SkillEmbeddingCreate,
    SkillEmbeddingRead,
    SkillFile,
    SkillFileBase,
    SkillFileCreate,
    SkillFileRead,
    SkillFileUpdate,
    SkillHit,
)
from skillstore.repositories import fused
from skillstore.repositories.base import (
    CreateT,
    ReadT,
    TableT,
    TenantRepository,
    UpdateT,
    coerce,
    column_of,
)
from skillstore.vector import check_query_vector, live_filters, nearest

ChunkT = TypeVar("ChunkT", DocumentEmbeddingRead, SkillEmbeddingRead)


class Ranked(BaseModel, Generic[ChunkT]):
    """A chunk found by a search, with the scores a hit carries."""

    chunk: ChunkT
    similarity: float | None
    lexical_score: float | None
    score: float

    def __init__(
        self, chunk: ChunkT, similarity: float | None, lexical_score: float | None, score: float
    ) -> None:
        super().__init__(
            chunk=chunk, similarity=similarity, lexical_score=lexical_score, score=score
        )


SKILL_EMBEDDING = table_of(SkillEmbedding)
_SKILL_CHUNK = tuple(SkillEmbeddingRead.model_fields)


def _many(values: Any) -> list[Any]:
    """One filter value or several, as a list."""
    return [values] if isinstance(values, str | uuid.UUID) else list(values)


class _Embedded(TenantRepository[TableT, CreateT, UpdateT, ReadT]):
    """Checks the ``embedding`` of every input against the store's dimension."""

    write_only = frozenset({"embedding"})

    def _derived(self, data: SQLModel) -> dict[str, Any]:
        embedding = getattr(data, "embedding", None)
        if embedding is None:
            return {}
        dim = self._store.settings.embedding_dimensions
        # The same checks as a memory's: a vector with no direction is never found.
        return {"embedding": check_query_vector(embedding, dim)}

    async def _ranked_rows(
        self,
        table: sa.Table,
        read: type[ChunkT],
        embedding: Any,
        text: str | None,
        *,
        k: int,
        equals: Mapping[str, Any],
        min_similarity: float | None,
        fusion: str,
        rrf_k0: float,
        alpha: float,
    ) -> list[Ranked[ChunkT]]:
        """The ``k`` chunks of ``table`` in this team best matching ``embedding``, ``text``
        or both (fused as `skillstore.repositories.fused` says), best first, as ``read``
        models loaded by the search statements themselves."""
        plan = fused.plan(embedding, text, k=k, fusion=fusion, rrf_k0=rrf_k0, alpha=alpha)
        fields = tuple(read.model_fields)
        returning = tuple(column_of(table, f).key for f in fields)
        filters = live_filters(table, team_id=self.team_id, equals=equals)

        def chunk(values: Any) -> ChunkT:
            return read.model_construct(**dict(zip(fields, values, strict=True)))

        by_vector: list[Ranked[ChunkT]] = []
        if embedding is not None:
            found = await nearest(
                self._uow,
                self._store,
                table,
                embedding,
                k=plan.depth,
                filters=filters,
                returning=returning,
            )
            by_vector = [
                Ranked(chunk(n.values), n.similarity, None, n.similarity)
                for n in found
                if min_similarity is None or n.similarity >= min_similarity
            ]
        if not plan.phrases:
            return by_vector[:k]
        assert self.team_id is not None
        words = await lexical(
            self._uow,
            self._store,
            table,
            plan.phrases,
            k=plan.depth,
            filters=filters,
            team_id=self.team_id,
            returning=returning,
        )
        by_text = [Ranked(chunk(w.values), None, w.score, w.score) for w in words]
        return plan.fuse(by_vector, by_text, lambda r: r.chunk.id)


class DocumentRepository(
    _Embedded[
        DocumentEmbedding, DocumentEmbeddingCreate, DocumentEmbeddingUpdate, DocumentEmbeddingRead
    ]
):
    """Chunks of the team's documents, one row per ``(document_id, chunk_index)``."""

    model = DocumentEmbedding
    read_model = DocumentEmbeddingRead
    base_model = DocumentEmbeddingBase
    create_model = DocumentEmbeddingCreate
    update_model = DocumentEmbeddingUpdate

    async def add_many(
        self, chunks: Sequence[DocumentEmbeddingCreate | Mapping[str, Any]]
    ) -> list[DocumentEmbeddingRead]:
        """Store many chunks in one step: all of them, or (on any error) none."""
        rows = await self._insert_many([coerce(c, DocumentEmbeddingCreate) for c in chunks])
        return [self._read_of(r) for r in rows]

    async def replace_document(
        self, document_id: str, chunks: Sequence[DocumentEmbeddingCreate | Mapping[str, Any]]
    ) -> list[DocumentEmbeddingRead]:
        """Make ``chunks`` the document's only chunks (their ``document_id`` is filled in)."""
        filled = [self._for_document(document_id, c) for c in chunks]
        async with self._uow.savepoint():
            await self.delete_document(document_id)
            return await self.add_many(filled)

    async def delete_document(self, document_id: str) -> int:
        """Delete every chunk of the document; return how many there were."""
        table = self.table

        def build() -> sa.Executable:
            where = [table.c.document_id == sa.bindparam("document"), *self._scope()]
            return sa.delete(table).where(*where).returning(table.c.id)

        rows = await self._uow.rows(
            self._statement("delete-document", build), self._params(document=document_id)
        )
        return len(rows)

    async def chunks(self, document_id: str) -> list[DocumentEmbeddingRead]:
        """The document's chunks in order."""
        table = self.table

        def build() -> sa.Executable:
            where = [table.c.document_id == sa.bindparam("document"), *self._scope()]
            query = sa.select(*self._read_columns()).where(*where)
            return query.order_by(table.c.chunk_index)

        prepared = self._statement("chunks", build)
        return self._reads(
            prepared, await self._uow.rows(prepared, self._params(document=document_id))
        )

    async def search(
        self,
        embedding: Any = None,
        *,
        text: str | None = None,
        k: int = 10,
        fusion: str = "rrf",
        rrf_k0: float = RRF_K0,
        alpha: float = 0.5,
        document_ids: str | Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        min_similarity: float | None = None,
    ) -> list[DocumentHit]:
        """The ``k`` chunks best matching ``embedding``, ``text`` or both, best first (as
        memory search: BM25 with the team's statistics, fused by RRF or weighted).

        ``document_ids`` limits the search to those documents, ``metadata`` to chunks
        whose metadata contains it; similarity is ``1 - cosine distance`` and
        ``min_similarity`` drops weaker vector hits.
        """
        equals: dict[str, Any] = {}
        if document_ids is not None:
            equals["document_id"] = _many(document_ids)
        if metadata is not None:
            equals["metadata"] = dict(metadata)
        found = await self._ranked_rows(
            self.table,
            DocumentEmbeddingRead,
            embedding,
            text,
            k=k,
            equals=equals,
            min_similarity=min_similarity,
            fusion=fusion,
            rrf_k0=rrf_k0,
            alpha=alpha,
        )
        return [DocumentHit.model_construct(**dict(r)) for r in found]

    @staticmethod
    def _for_document(
        document_id: str, chunk: DocumentEmbeddingCreate | Mapping[str, Any]
    ) -> DocumentEmbeddingCreate:
        if isinstance(chunk, Mapping):
            chunk = {**chunk, "document_id": chunk.get("document_id", document_id)}
        checked: DocumentEmbeddingCreate = coerce(chunk, DocumentEmbeddingCreate)
        if checked.document_id != document_id:
            raise ValidationError(
                f"a chunk of document {checked.document_id!r} was passed to replace "
                f"{document_id!r}; leave document_id out or make it match"
            )
        return checked


class _SkillEmbeddings(
    _Embedded[SkillEmbedding, SkillEmbeddingCreate, SkillEmbeddingCreate, SkillEmbeddingRead]
):
    """The embedded chunks of skill files (used through `SkillFileRepository`)."""

    model = SkillEmbedding
    read_model = SkillEmbeddingRead
    base_model = SkillEmbeddingCreate
    create_model = SkillEmbeddingCreate
    update_model = SkillEmbeddingCreate


class SkillFileRepository(
    TenantRepository[SkillFile, SkillFileCreate, SkillFileUpdate, SkillFileRead]
):
    """Skill files of the team (unique by path) and their chunk embeddings."""

    model = SkillFile
    read_model = SkillFileRead
    base_model = SkillFileBase
    create_model = SkillFileCreate
    update_model = SkillFileUpdate
    merged_fields = frozenset({"content_hash"})

    async def get_by_path(self, path: str) -> SkillFileRead | None:
        """The skill file at ``path``, or ``None``."""
        found = await self.find(path=path, limit=1)
        return found[0] if found else None

    async def update(
        self,
        id: uuid.UUID,
        data: SkillFileUpdate | Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> SkillFileRead:
        """Patch the file; new content (a new hash) drops the embeddings of the old one."""
        await self._uow.begin_write()
        old_hash = (await self._values(id, "content_hash"))["content_hash"]
        async with self._uow.savepoint():
            updated = await super().update(id, data, expected_version=expected_version)
            if updated.content_hash != old_hash:
                await self._drop_embeddings(id)
        return updated

    async def _drop_embeddings(self, skill_file_id: uuid.UUID) -> None:
        def build() -> sa.Executable:
            c = SKILL_EMBEDDING.c
            where = [c.skill_file_id == sa.bindparam("file"), c.team_id == sa.bindparam("team_id")]
            return sa.delete(SKILL_EMBEDDING).where(*where).returning(c.id)

        await self._uow.rows(
            self._statement("drop-embeddings", build), self._params(file=skill_file_id)
        )

    async def set_embeddings(
        self, skill_file_id: uuid.UUID, chunks: Sequence[SkillEmbeddingCreate | Mapping[str, Any]]
    ) -> list[SkillEmbeddingRead]:
        """Make ``chunks`` the file's only embeddings."""
        await self._values(skill_file_id, "id")
        checked = [coerce(c, SkillEmbeddingCreate) for c in chunks]
        embeddings = _SkillEmbeddings(self._ctx)
        async with self._uow.savepoint():
            await self._drop_embeddings(skill_file_id)
            rows = await embeddings._insert_many(checked, {"skill_file_id": skill_file_id})
        return [embeddings._read_of(r) for r in rows]

    async def search(
        self,
        embedding: Any = None,
        *,
        text: str | None = None,
        k: int = 10,
        fusion: str = "rrf",
        rrf_k0: float = RRF_K0,
        alpha: float = 0.5,
        skill_file_ids: uuid.UUID | Sequence[uuid.UUID] | None = None,
        min_similarity: float | None = None,
    ) -> list[SkillHit]:
        """The ``k`` skill chunks best matching ``embedding``, ``text`` or both, best
        first, with their files.

        ``skill_file_ids`` limits the search to those files; otherwise as memory search.
        """
        equals = {} if skill_file_ids is None else {"skill_file_id": _many(skill_file_ids)}
        found = await _SkillEmbeddings(self._ctx)._ranked_rows(
            SKILL_EMBEDDING,
            SkillEmbeddingRead,
            embedding,
            text,
            k=k,
            equals=equals,
            min_similarity=min_similarity,
            fusion=fusion,
            rrf_k0=rrf_k0,
            alpha=alpha,
        )
        ids = sorted({r.chunk.skill_file_id for r in found})
        files = {f.id: f for f in await self.find(id=ids, limit=max(len(ids), 1))}
        return [
            SkillHit.model_construct(**dict(r), skill_file=files[r.chunk.skill_file_id])
            for r in found
        ]

    async def embeddings(self, skill_file_id: uuid.UUID) -> list[SkillEmbeddingRead]:
        """The file's embedded chunks in order."""

        def build() -> sa.Executable:
            c = SKILL_EMBEDDING.c
            where = [c.skill_file_id == sa.bindparam("file"), c.team_id == sa.bindparam("team_id")]
            return sa.select(*(c[f] for f in _SKILL_CHUNK)).where(*where).order_by(c.chunk_index)

        rows = await self._uow.rows(
            self._statement("embeddings", build), self._params(file=skill_file_id)
        )
        return [
            SkillEmbeddingRead.model_construct(**dict(zip(_SKILL_CHUNK, r, strict=True)))
            for r in rows
        ]
