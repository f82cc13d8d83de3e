from __future__ import annotations

import math

import numpy as np
import pytest

from skillstore import EmbeddingError, HashingEmbedder, Memory, MemoryCreate, MemoryType, Store
from skillstore.errors import ValidationError
from skillstore.models import MemoryLog
from tests.factories import count_rows
from tests.memory_data import clustered, dim, memory_team


def bare(n: int) -> list[MemoryCreate]:
    return [MemoryCreate(content=f"m{i}", memory_type=MemoryType.SEMANTIC) for i in range(n)]


@pytest.mark.parametrize("form", ["float32", "float64", "lists"])
async def test_add_many_stores_a_matrix_of_embeddings_row_by_item(store: Store, form: str) -> None:
    team_id = await memory_team(store)
    vectors = clustered(300, dim(store))  # more than one COPY chunk
    given = {"float32": vectors, "float64": vectors.astype(np.float64), "lists": vectors.tolist()}
    async with store.session(team_id=team_id) as s:
        ids = await s.memories.add_many(bare(300), embeddings=given[form])
        for i in (0, 151, 299):
            (hit,) = await s.memories.search(vectors[i], k=1)
            assert hit.memory.id == ids[i] and hit.memory.content == f"m{i}"
            assert hit.similarity == pytest.approx(1, abs=1e-5)
            assert hit.memory.embedding_model == store.settings.embedding_model
    assert await count_rows(store, MemoryLog) >= 300


async def test_add_many_with_a_matrix_does_not_call_the_embedder(embedding_store: Store) -> None:
    team_id = await memory_team(embedding_store)
    vectors = clustered(3, dim(embedding_store))
    async with embedding_store.session(team_id=team_id) as s:
        ids = await s.memories.add_many(bare(3), embeddings=vectors)
        (hit,) = await s.memories.search(vectors[2], k=1)
    assert hit.memory.id == ids[2] and hit.similarity == pytest.approx(1, abs=1e-5)
    assert hit.memory.embedding_model == HashingEmbedder(dim(embedding_store)).model


@pytest.mark.parametrize(
    ("bad", "error", "says"),
    [
        ("shape", EmbeddingError, r"shape \(299, "),
        ("text", EmbeddingError, "matrix of numbers"),
        ("nan", EmbeddingError, "item 280: .*NaN"),
        ("zero", EmbeddingError, "item 7: .*zeros"),
        ("twice", ValidationError, "item 4 has its own embedding"),
    ],
)
async def test_add_many_refuses_a_bad_matrix_and_stores_nothing(
    store: Store, bad: str, error: type[Exception], says: str
) -> None:
    team_id = await memory_team(store)
    vectors = clustered(300, dim(store))
    items = bare(300)
    embeddings: object = vectors
    if bad == "shape":
        embeddings = vectors[:299]
    elif bad == "text":
        embeddings = [["x"] * dim(store)] * 300
    elif bad == "nan":
        vectors[280, 3] = math.nan
    elif bad == "zero":
        vectors[7] = 0.0
    else:
        items[4] = MemoryCreate(
            content="own", memory_type=MemoryType.SEMANTIC, embedding=[1.0] * dim(store)
        )
    before = (await count_rows(store, Memory), await count_rows(store, MemoryLog))
    async with store.session(team_id=team_id) as s:
        with pytest.raises(error, match=says):
            await s.memories.add_many(items, embeddings=embeddings)
    assert (await count_rows(store, Memory), await count_rows(store, MemoryLog)) == before
