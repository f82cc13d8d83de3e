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
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import SQLModel, col

from skillstore.db.base import table_of
from skillstore.db.translate import translated
from skillstore.db.types import as_vector
from skillstore.errors import ValidationError
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
from skillstore.repositories.base import ReadT, TableT, TenantRepository, coerce
from skillstore.vector import live_filters, nearest

_Stmt = TypeVar("_Stmt", sa.Select[Any], sa.Delete)
ChunkT = TypeVar("ChunkT", DocumentEmbeddingRead, SkillEmbeddingRead)


def _many(values: Any) -> list[Any]:
    """One filter value or several, as a list."""
    return [values] if isinstance(values, str | uuid.UUID) else list(values)


class _Embedded(TenantRepository[TableT, ReadT]):
    """Checks the ``embedding`` of every input against the store's dimension."""

    write_only = frozenset({"embedding"})

    def _derived(self, data: SQLModel) -> dict[str, Any]:
        embedding = getattr(data, "embedding", None)
        if embedding is None:
            return {}
        dim = self._ctx.settings.embedding_dimensions
        return {"embedding": as_vector(embedding, dim).tolist()}

    async def _insert_all(self, rows: Sequence[SQLModel]) -> None:
        async with self._write():
            self._session.add_all(rows)
            await self._session.flush()

    async def _nearest_rows(
        self,
        model: type[SQLModel],
        read: type[ChunkT],
        embedding: Any,
        *,
        k: int,
        equals: Mapping[str, Any],
        min_similarity: float | None,
    ) -> list[tuple[ChunkT, float]]:
        """The ``k`` chunks of ``model`` in this team nearest to ``embedding``, best first,
        as ``read`` models loaded by the search statement itself (one round trip)."""
        table = table_of(model)
        fields = list(read.model_fields)
        found = await nearest(
            self._session,
            self._ctx.settings,
            model,
            embedding,
            k=k,
            where=live_filters(model, team_id=self.team_id, equals=equals),
            returning=[table.c[f] for f in fields],
        )
        return [
            (read.model_validate(dict(zip(fields, n.values, strict=True))), n.similarity)
            for n in found
            if min_similarity is None or n.similarity >= min_similarity
        ]


class DocumentRepository(_Embedded[DocumentEmbedding, DocumentEmbeddingRead]):
    """Chunks of the team's documents, one row per ``(document_id, chunk_index)``."""

    model = DocumentEmbedding
    read_model = DocumentEmbeddingRead
    base_model = DocumentEmbeddingBase
    create_model = DocumentEmbeddingCreate
    update_model = DocumentEmbeddingUpdate

    async def add_many(self, chunks: Sequence[Any]) -> list[DocumentEmbeddingRead]:
        """Store many chunks in one step: all of them, or (on any error) none."""
        checked = [coerce(c, DocumentEmbeddingCreate) for c in chunks]
        rows = [
            DocumentEmbedding.model_validate(c, update={**self._derived(c), **self._stamp()})
            for c in checked
        ]
        await self._insert_all(rows)
        return [self._to_read(r) for r in rows]

    async def replace_document(
        self, document_id: str, chunks: Sequence[Any]
    ) -> list[DocumentEmbeddingRead]:
        """Make ``chunks`` the document's only chunks (their ``document_id`` is filled in)."""
        filled = [self._for_document(document_id, c) for c in chunks]
        async with self._write():
            await self.delete_document(document_id)
            return await self.add_many(filled)

    async def delete_document(self, document_id: str) -> int:
        """Delete every chunk of the document; return how many there were."""
        stmt = sa.delete(DocumentEmbedding).where(
            col(DocumentEmbedding.document_id) == document_id, *self._scope()
        )
        async with self._write():
            result = await self._session.execute(stmt)
        return int(getattr(result, "rowcount", 0))

    async def chunks(self, document_id: str) -> list[DocumentEmbeddingRead]:
        """The document's chunks in order."""
        stmt = (
            sa.select(DocumentEmbedding)
            .where(col(DocumentEmbedding.document_id) == document_id, *self._scope())
            .order_by(col(DocumentEmbedding.chunk_index))
        )
        with translated():
            rows = (await self._session.execute(stmt)).scalars().all()
        return [self._to_read(r) for r in rows]

    async def search(
        self,
        embedding: Any,
        *,
        k: int = 10,
        document_ids: str | Sequence[str] | None = None,
        min_similarity: float | None = None,
    ) -> list[DocumentHit]:
        """The ``k`` chunks most similar to ``embedding``, best first (as memory search).

        ``document_ids`` limits the search to those documents; similarity is
        ``1 - cosine distance`` and ``min_similarity`` drops weaker hits.
        """
        equals = {} if document_ids is None else {"document_id": _many(document_ids)}
        found = await self._nearest_rows(
            DocumentEmbedding,
            DocumentEmbeddingRead,
            embedding,
            k=k,
            equals=equals,
            min_similarity=min_similarity,
        )
        return [DocumentHit(chunk=chunk, similarity=s) for chunk, s in found]

    @staticmethod
    def _for_document(document_id: str, chunk: Any) -> DocumentEmbeddingCreate:
        if isinstance(chunk, Mapping):
            chunk = {**chunk, "document_id": chunk.get("document_id", document_id)}
        checked: DocumentEmbeddingCreate = coerce(chunk, DocumentEmbeddingCreate)
        if checked.document_id != document_id:
            raise ValidationError(
                f"a chunk of document {checked.document_id!r} was passed to replace "
                f"{document_id!r}; leave document_id out or make it match"
            )
        return checked


class SkillFileRepository(_Embedded[SkillFile, SkillFileRead]):
    """Skill files of the team (unique by path) and their chunk embeddings."""

    model = SkillFile
    read_model = SkillFileRead
    base_model = SkillFileBase
    create_model = SkillFileCreate
    update_model = SkillFileUpdate

    async def get_by_path(self, path: str) -> SkillFileRead | None:
        """The skill file at ``path``, or ``None``."""
        found = await self.find(path=path, limit=1)
        return found[0] if found else None

    async def update(
        self, id: uuid.UUID, data: Any, *, expected_version: int | None = None
    ) -> SkillFileRead:
        """Patch the file; new content (a new hash) drops the embeddings of the old one."""
        async with self._write():
            old_hash = (await self._get_row(id)).content_hash
            updated = await super().update(id, data, expected_version=expected_version)
            if updated.content_hash != old_hash:
                await self._session.execute(self._embeddings_of(id, sa.delete(SkillEmbedding)))
        return updated

    async def set_embeddings(
        self, skill_file_id: uuid.UUID, chunks: Sequence[Any]
    ) -> list[SkillEmbeddingRead]:
        """Make ``chunks`` the file's only embeddings."""
        await self._get_row(skill_file_id)
        checked = [coerce(c, SkillEmbeddingCreate) for c in chunks]
        extra = {"skill_file_id": skill_file_id, **self._stamp()}
        rows = [
            SkillEmbedding.model_validate(c, update={**self._derived(c), **extra}) for c in checked
        ]
        async with self._write():
            await self._session.execute(
                self._embeddings_of(skill_file_id, sa.delete(SkillEmbedding))
            )
            await self._insert_all(rows)
        return [SkillEmbeddingRead.model_validate(r) for r in rows]

    async def search(
        self,
        embedding: Any,
        *,
        k: int = 10,
        skill_file_ids: uuid.UUID | Sequence[uuid.UUID] | None = None,
        min_similarity: float | None = None,
    ) -> list[SkillHit]:
        """The ``k`` skill chunks most similar to ``embedding``, best first, with their files.

        ``skill_file_ids`` limits the search to those files; otherwise as memory search.
        """
        equals = {} if skill_file_ids is None else {"skill_file_id": _many(skill_file_ids)}
        found = await self._nearest_rows(
            SkillEmbedding,
            SkillEmbeddingRead,
            embedding,
            k=k,
            equals=equals,
            min_similarity=min_similarity,
        )
        files = {f.id: f for f in await self.find(id=list({c.skill_file_id for c, _ in found}))}
        return [
            SkillHit(chunk=chunk, skill_file=files[chunk.skill_file_id], similarity=s)
            for chunk, s in found
        ]

    async def embeddings(self, skill_file_id: uuid.UUID) -> list[SkillEmbeddingRead]:
        """The file's embedded chunks in order."""
        stmt = self._embeddings_of(skill_file_id, sa.select(SkillEmbedding)).order_by(
            col(SkillEmbedding.chunk_index)
        )
        with translated():
            rows = (await self._session.execute(stmt)).scalars().all()
        return [SkillEmbeddingRead.model_validate(r) for r in rows]

    def _embeddings_of(self, skill_file_id: uuid.UUID, stmt: _Stmt) -> _Stmt:
        return stmt.where(
            col(SkillEmbedding.skill_file_id) == skill_file_id,
            col(SkillEmbedding.team_id) == self.team_id,
        )
