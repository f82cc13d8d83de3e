"""The bulk insert path behind `MemoryRepository.add_many`.

On PostgreSQL rows go in with asyncpg's binary ``COPY`` (``copy_records_to_table``): the
vectors travel as float32 through the codec registered in ``db/engine.py``, and no SQL
text or per-row statement is built. On SQLite one ``executemany`` of a Core INSERT.
Rejected: ``session.add_all`` (ORM unit-of-work bookkeeping per row, ~20x slower) and
multi-row ``INSERT … VALUES`` text (vectors formatted as text in Python).

Every memory is validated (its `MemoryCreate`, then the vectors all at once) before
anything is written, and its ``created`` log row goes in the same transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from skillstore.db.base import table_of
from skillstore.db.translate import translate
from skillstore.errors import EmbeddingError
from skillstore.models.memory import MemoryBase, MemoryCreate
from skillstore.models.memory_log import MemoryAction

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_FIELDS = [name for name in MemoryBase.model_fields if name != "embedding_model"]
_JSON_COLUMNS = {"metadata", "details"}


def vector_matrix(creates: Sequence[MemoryCreate], dim: int) -> npt.NDArray[np.float32] | None:
    """All embeddings as one checked float32 matrix (``None`` when no memory has one).

    Raises:
        EmbeddingError: naming the first offending item (by position).
    """
    import numpy as np

    if all(c.embedding is None for c in creates):
        return None
    matrix = np.zeros((len(creates), dim), dtype=np.float32)
    for i, create in enumerate(creates):
        if create.embedding is None:
            continue
        if len(create.embedding) != dim:
            raise EmbeddingError(
                f"item {i}: embedding has {len(create.embedding)} dimensions but this store "
                f"uses {dim}; embed with the configured model or change "
                "StoreSettings.embedding_dimensions before migrating"
            )
        matrix[i] = create.embedding
    finite = np.isfinite(matrix).all(axis=1)
    present = np.array([c.embedding is not None for c in creates])
    zero = present & ~np.abs(matrix).max(axis=1, initial=0.0).astype(bool)
    if not finite.all() or zero.any():
        bad = int(np.flatnonzero(~finite | zero)[0])
        raise EmbeddingError(f"item {bad}: embedding contains NaN/infinity or is all zeros")
    return matrix


def memory_rows(
    creates: Sequence[MemoryCreate],
    vectors: npt.NDArray[np.float32] | None,
    *,
    team_id: uuid.UUID,
    embedding_model: str,
    now: datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Column values for every memory and for its ``created`` log row, keyed by column."""
    memories: list[dict[str, Any]] = []
    logs: list[dict[str, Any]] = []
    for i, create in enumerate(creates):
        row = {name: getattr(create, name) for name in _FIELDS}
        row["metadata"] = row.pop("metadata_")
        memory_id = uuid.uuid4()
        has_vector = vectors is not None and create.embedding is not None
        row.update(
            id=memory_id,
            team_id=team_id,
            embedding=vectors[i] if has_vector and vectors is not None else None,
            embedding_model=(create.embedding_model or embedding_model) if has_vector else None,
            access_count=0,
            last_accessed_at=None,
            superseded_by=None,
            version=1,
            created_at=now,
            updated_at=now,
        )
        memories.append(row)
        logs.append(
            {
                "id": uuid.uuid4(),
                "memory_id": memory_id,
                "team_id": team_id,
                "action": MemoryAction.CREATED.value,
                "old_content": None,
                "new_content": create.content,
                "old_importance": None,
                "new_importance": create.importance,
                "changed_by": create.source_type.value,
                "reason": None,
                "details": {},
                "created_at": now,
            }
        )
    return memories, logs


async def insert_rows(session: AsyncSession, model: type[Any], rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts keyed by column name) in bulk, on the session's transaction."""
    if not rows:
        return
    table = table_of(model)
    if session.get_bind().dialect.name != "postgresql":
        await session.execute(sa.insert(table), rows)
        return
    columns = list(rows[0])
    records = [
        tuple(json.dumps(r[c]) if c in _JSON_COLUMNS else r[c] for c in columns) for r in rows
    ]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    try:
        await driver.copy_records_to_table(table.name, records=records, columns=columns)
    except Exception as exc:  # asyncpg's own errors: translate like any other
        if type(exc).__module__.startswith("asyncpg"):
            wrapped_type = (
                sa_exc.IntegrityError
                if "IntegrityConstraintViolation" in [t.__name__ for t in type(exc).__mro__]
                else sa_exc.DBAPIError
            )
            raise translate(wrapped_type(f"COPY {table.name}", None, exc)) from exc
        raise
