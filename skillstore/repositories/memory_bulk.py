"""The bulk insert path behind `MemoryRepository.add_many`.

On PostgreSQL the memories and their ``created`` log rows go in with two binary
``COPY`` statements whose payloads are encoded column by column (`skillstore.db.pgcopy`)
in chunks, while the server is already storing the previous chunk: converting the
vectors and encoding the rows overlaps with the database's own work instead of adding to
it. The log payload is encoded during the memory ``COPY`` and sent right after it. On
SQLite one ``executemany`` per table, the values converted column by column by the
prepared INSERT's own bind processors (SQLAlchemy's per-row conversion cost 150 us of
a 260 us memory row). Both run in the unit of work's savepoint around the batch.

Every vector is checked (dimension, NaN/inf, all zeros) before its chunk is sent; a bad
one aborts the ``COPY`` and the savepoint around it, so the batch is all or nothing.

The vectors may come as one matrix (``add_many(items, embeddings=matrix)``, what batch
embedding models return): turning a ``list[float]`` per item into float32 was the largest
Python cost left per row (7-10 us of 384 dimensions); a float32 matrix needs no
conversion at all. Rejected for that: letting `MemoryCreate.embedding` keep a numpy array
(its type would no longer say what it holds, and models holding arrays cannot be compared
with ``==``).

Rejected: ``session.add_all`` (ORM unit-of-work bookkeeping per row, ~20x slower),
asyncpg's ``copy_records_to_table`` (a codec call per value: 0.43 of a raw COPY), and
writing the log with ``INSERT … SELECT`` from the new rows (a second pass over the data
on the server, which is the bottleneck).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skillstore.db import pgcopy
from skillstore.db.base import table_of
from skillstore.db.pgcopy import Repeat
from skillstore.errors import EmbeddingError, ValidationError
from skillstore.models.memory import Memory, MemoryBase, MemoryCreate
from skillstore.models.memory_log import MemoryAction, MemoryLog

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from skillstore.db.statements import Statements
    from skillstore.db.unit import UnitOfWork

_FIELDS = [name for name in MemoryBase.model_fields if name != "embedding_model"]
_GET_FIELDS = attrgetter(*_FIELDS)
CHUNK_ROWS = 250
"""Rows encoded per COPY chunk: small enough that the server starts early, large enough
that numpy works on whole matrices."""


@dataclass(frozen=True)
class Batch:
    """What every row of one `add_many` call shares."""

    team_id: uuid.UUID
    embedding_model: str
    dimensions: int
    now: datetime


def embedding_matrix(
    embeddings: Any, creates: Sequence[MemoryCreate], dim: int
) -> npt.NDArray[np.float32]:
    """``embeddings`` (one row per item of ``creates``) as a float32 matrix; a C-ordered
    float32 array is used as it is (no copy, no per-value conversion).

    Raises:
        EmbeddingError: not a matrix of numbers of shape ``(len(creates), dim)``.
        ValidationError: an item carries its own embedding as well.
    """
    import numpy as np

    try:
        matrix = np.ascontiguousarray(embeddings, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise EmbeddingError("embeddings must be a matrix of numbers, one row per item") from exc
    if matrix.shape != (len(creates), dim):
        raise EmbeddingError(
            f"embeddings has shape {matrix.shape} but {len(creates)} items in a store of "
            f"{dim} dimensions need ({len(creates)}, {dim})"
        )
    own = next((i for i, c in enumerate(creates) if c.embedding is not None), None)
    if own is not None:
        raise ValidationError(
            f"item {own} has its own embedding and embeddings were given too; pass each vector once"
        )
    return matrix


def vector_matrix(
    creates: Sequence[MemoryCreate],
    dim: int,
    *,
    offset: int = 0,
    given: npt.NDArray[np.float32] | None = None,
) -> tuple[npt.NDArray[np.float32], list[bool]]:
    """The embeddings as one checked float32 matrix (zeros where a memory has none), and
    which rows have one. ``given`` is these rows of an `embedding_matrix` (every row has
    a vector).

    Raises:
        EmbeddingError: naming the first offending item (by position + ``offset``).
    """
    import numpy as np

    if given is not None:
        matrix, present = given, [True] * len(creates)
    else:
        present = [c.embedding is not None for c in creates]
        for i, create in enumerate(creates):
            if create.embedding is not None and len(create.embedding) != dim:
                raise EmbeddingError(
                    f"item {offset + i}: embedding has {len(create.embedding)} dimensions but "
                    f"this store uses {dim}; embed with the configured model or change "
                    "StoreSettings.embedding_dimensions before migrating"
                )
        zeros = [0.0] * dim
        matrix = np.array(
            [c.embedding if c.embedding is not None else zeros for c in creates],
            dtype=np.float32,
        ).reshape(len(creates), dim)
    finite = np.isfinite(matrix).all(axis=1)
    zero = np.array(present, dtype=bool) & ~np.abs(matrix).max(axis=1, initial=0.0).astype(bool)
    if not finite.all() or zero.any():
        bad = int(np.flatnonzero(~finite | zero)[0])
        raise EmbeddingError(
            f"item {offset + bad}: embedding contains NaN/infinity or is all zeros"
        )
    return matrix, present


_EMPTY: dict[type, Any] = {list: [], dict: {}}


def _shared_empty(values: list[Any]) -> list[Any]:
    # One object for every empty list/dict, so that rows alike are encoded once.
    return [v if v else _EMPTY.get(type(v), v) for v in values]


def _columns(
    creates: Sequence[MemoryCreate], ids: Sequence[uuid.UUID], present: list[bool], batch: Batch
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Column-wise values of the memories (without the vector) and of their log rows; a
    `Repeat` where every row has the same value. Columns left out get their defaults
    (NULL, or the server default)."""
    # One C-level getter per item and a transpose: a Python getattr per field and item
    # cost more than encoding the values.
    values = zip(*map(_GET_FIELDS, creates), strict=True) if creates else [[]] * len(_FIELDS)
    memory: dict[str, Any] = {name: list(v) for name, v in zip(_FIELDS, values, strict=True)}
    memory["metadata"] = memory.pop("metadata_")
    for name in ("source_message_ids", "contradicts", "related_to", "metadata"):
        memory[name] = _shared_empty(memory[name])
    memory.update(
        id=list(ids),
        team_id=Repeat(batch.team_id),
        embedding_model=[
            (c.embedding_model or batch.embedding_model) if has else None
            for c, has in zip(creates, present, strict=True)
        ],
        access_count=Repeat(0),
        version=Repeat(1),
        created_at=Repeat(batch.now),
        updated_at=Repeat(batch.now),
    )
    log = {
        "memory_id": memory["id"],
        "team_id": memory["team_id"],
        "action": Repeat(MemoryAction.CREATED.value),
        "new_content": memory["content"],
        "new_importance": memory["importance"],
        "user_id": memory["user_id"],
        "changed_by": [c.source_type.value for c in creates],
        "details": Repeat({}),
        "created_at": memory["created_at"],
    }
    return memory, log


MEMORY_UNIQUE = ("id", "content")
LOG_UNIQUE = ("id", "memory_id", "new_content")


async def insert_memories(
    uow: UnitOfWork,
    statements: Statements,
    creates: Sequence[MemoryCreate],
    batch: Batch,
    given: npt.NDArray[np.float32] | None = None,
) -> list[uuid.UUID]:
    """Insert ``creates`` and their ``created`` log rows; the new ids, in order. ``given``
    holds their vectors when they came as one `embedding_matrix`."""
    id_fields = pgcopy.random_uuids(len(creates))
    for i, create in enumerate(creates):  # caller-chosen ids are kept
        if create.id is not None:
            id_fields[i] = id_fields[i][:4] + create.id.bytes
    ids = pgcopy.uuid_values(id_fields)
    if not uow.sqlite:
        await _copy(uow, creates, ids, id_fields, batch, given)
        return ids
    matrix, present = vector_matrix(creates, batch.dimensions, given=given)
    memory, log = _columns(creates, ids, present, batch)
    memory["embedding"] = [row if has else None for row, has in zip(matrix, present, strict=True)]
    log["id"] = pgcopy.uuid_values(pgcopy.random_uuids(len(creates)))
    for model, values in ((Memory, memory), (MemoryLog, log)):
        await _insert_columns(uow, statements, table_of(model), values, len(creates))
    return ids


async def _insert_columns(
    uow: UnitOfWork, statements: Statements, table: sa.Table, values: dict[str, Any], n: int
) -> None:
    """Insert ``n`` rows given column by column (a `Repeat` where all rows share the
    value), converting each column's values at once with the statement's processors."""
    names = tuple(sorted(values))

    def build() -> sa.Executable:
        return sa.insert(table).values({c: sa.bindparam(c, type_=table.c[c].type) for c in names})

    prepared = statements.get(("bulk-insert", table.name, names), build)
    columns = []
    for name, process in zip(prepared.names, prepared.processors, strict=True):
        value = values[name]
        if isinstance(value, Repeat):
            one = value.value if process is None or value.value is None else process(value.value)
            columns.append([one] * n)
        elif process is None:
            columns.append(list(value))
        else:
            columns.append([None if v is None else process(v) for v in value])
    await uow.executemany(prepared, list(zip(*columns, strict=True)))


def _copy_rows(
    memory: dict[str, Any],
    log: dict[str, Any],
    id_fields: list[bytes],
    vectors: list[bytes],
) -> tuple[tuple[list[str], list[bytes]], tuple[list[str], list[bytes]]]:
    """Column names and COPY rows of the memories and of their log rows. The id and
    content fields are encoded once and used by both tables (the log row repeats them)."""
    memory_table, log_table = table_of(Memory), table_of(MemoryLog)
    content = pgcopy.encode_column(memory_table.c.content, memory.pop("content"))
    del memory["id"], log["memory_id"], log["new_content"]
    shared = {"id": id_fields, "content": content}
    memory_rows = pgcopy.copy_rows(
        memory_table, memory, unique=MEMORY_UNIQUE, encoded={**shared, "embedding": vectors}
    )
    log_encoded = {
        "id": pgcopy.random_uuids(len(id_fields)),
        "memory_id": id_fields,
        "new_content": content,
    }
    log_rows = pgcopy.copy_rows(log_table, log, unique=LOG_UNIQUE, encoded=log_encoded)
    return memory_rows, log_rows


async def _copy(
    uow: UnitOfWork,
    creates: Sequence[MemoryCreate],
    ids: list[uuid.UUID],
    id_fields: list[bytes],
    batch: Batch,
    given: npt.NDArray[np.float32] | None,
) -> None:
    memory_table, log_table = table_of(Memory), table_of(MemoryLog)
    log_chunks: list[bytes] = []

    async def memory_payload() -> AsyncIterator[bytes]:
        yield pgcopy.HEADER
        for start in range(0, len(creates), CHUNK_ROWS):
            part = creates[start : start + CHUNK_ROWS]
            vectors = None if given is None else given[start : start + CHUNK_ROWS]
            matrix, present = vector_matrix(part, batch.dimensions, offset=start, given=vectors)
            memory, log = _columns(part, ids[start : start + CHUNK_ROWS], present, batch)
            (_, rows), (_, log_rows) = _copy_rows(
                memory,
                log,
                id_fields[start : start + CHUNK_ROWS],
                pgcopy.encode_vectors(matrix, present),
            )
            yield b"".join(rows)
            log_chunks.append(b"".join(log_rows))
        yield pgcopy.TRAILER

    async def log_payload() -> AsyncIterator[bytes]:
        yield pgcopy.HEADER
        for chunk in log_chunks:
            yield chunk
        yield pgcopy.TRAILER

    # The COPY statement names its columns before the first chunk is encoded: the same
    # layout on zero rows gives them, in the same order (it depends on the columns only).
    (memory_columns, _), (log_columns, _) = _copy_rows(*_columns([], [], [], batch), [], [])
    await uow.copy(memory_table.name, memory_columns, memory_payload())
    await uow.copy(log_table.name, log_columns, log_payload())
