"""Document and skill search: the same oracle as memory search, through the same adapter."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
import sqlalchemy as sa

from skillstore.errors import EmbeddingError, ValidationError
from skillstore.store import Store
from tests.factories import make_team
from tests.memory_data import clustered, dim, numpy_top_k

ROWS = 240
GROUPS = 3
KINDS = ["documents", "skills"]


@dataclass
class Seeded:
    team_id: uuid.UUID
    ids: list[uuid.UUID]  # chunk ids, row order
    groups: list[object]  # the document id / skill file id of each row
    vectors: npt.NDArray[np.float32]


def chunk(vector: npt.NDArray[np.float32], index: int) -> dict[str, object]:
    return {"chunk_index": index, "content": f"chunk {index}", "embedding": vector.tolist()}


async def load(
    store: Store, kind: str, team_id: uuid.UUID, vectors: npt.NDArray[np.float32]
) -> Seeded:
    rows = list(range(len(vectors)))
    ids: list[uuid.UUID] = [uuid.UUID(int=0)] * len(rows)
    groups: list[object] = [None] * len(rows)
    async with store.session(team_id=team_id) as s:
        for g in range(GROUPS):
            mine = rows[g::GROUPS]
            chunks = [chunk(vectors[i], n) for n, i in enumerate(mine)]
            if kind == "documents":
                key: object = f"doc-{g}"
                made = [c.id for c in await s.documents.replace_document(f"doc-{g}", chunks)]
            else:
                file = await s.skill_files.create(
                    {"name": f"skill {g}", "path": f"skills/{g}.md", "content": f"# skill {g}"}
                )
                key = file.id
                made = [c.id for c in await s.skill_files.set_embeddings(file.id, chunks)]
            for i, made_id in zip(mine, made, strict=True):
                ids[i], groups[i] = made_id, key
    return Seeded(team_id, ids, groups, vectors)


async def seeded(store: Store, kind: str) -> Seeded:
    """``ROWS`` clustered chunks in three documents/files, next to a neighbour team whose
    chunks come from the same distribution (so a leak across teams would show)."""
    other = (await make_team(store)).id
    await load(store, kind, other, clustered(ROWS // 2, dim(store), seed=21))
    return await load(
        store, kind, (await make_team(store)).id, clustered(ROWS, dim(store), seed=20)
    )


async def search(
    store: Store, kind: str, data: Seeded, q: npt.NDArray[np.float32], k: int, group: object = None
) -> list[tuple[uuid.UUID, float]]:
    async with store.session(team_id=data.team_id) as s:
        if kind == "documents":
            docs = await s.documents.search(
                q, k=k, document_ids=None if group is None else [str(group)]
            )
            return [(h.chunk.id, h.score) for h in docs]
        skills = await s.skill_files.search(
            q, k=k, skill_file_ids=None if group is None else [uuid.UUID(str(group))]
        )
        assert all(h.skill_file.id == h.chunk.skill_file_id for h in skills)
        return [(h.chunk.id, h.score) for h in skills]


def queries(store: Store) -> npt.NDArray[np.float32]:
    return clustered(8, dim(store), seed=99, noise=0.6)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("filtered", [False, True])
async def test_search_is_exactly_numpys_top_k(store: Store, kind: str, filtered: bool) -> None:
    data = await seeded(store, kind)
    group = data.groups[1] if filtered else None
    rows = [i for i in range(ROWS) if group is None or data.groups[i] == group]
    for q in queries(store):
        hits = await search(store, kind, data, q, 10, group)
        assert [h for h, _ in hits] == [
            data.ids[rows[i]] for i in numpy_top_k(data.vectors[rows], q, 10)
        ]
        sims = [s for _, s in hits]
        assert sims == sorted(sims, reverse=True)


@pytest.mark.parametrize("kind", KINDS)
async def test_large_sets_keep_recall_through_hnsw(hnsw_store: Store, kind: str) -> None:
    data = await seeded(hnsw_store, kind)
    if hnsw_store.dialect == "postgresql":
        async with hnsw_store.session() as s:
            for table in ("document_embedding", "skill_embedding"):
                await s.execute(sa.text(f"ANALYZE {table}"))
    found = 0
    for q in queries(hnsw_store):
        hits = await search(hnsw_store, kind, data, q, 10)
        assert len(hits) == 10
        expected = {data.ids[i] for i in numpy_top_k(data.vectors, q, 10)}
        found += len(expected & {h for h, _ in hits})
    assert found / (10 * len(queries(hnsw_store))) >= 0.95


@pytest.mark.parametrize("kind", KINDS)
async def test_min_similarity_k_and_bad_vectors(store: Store, kind: str) -> None:
    data = await seeded(store, kind)
    q = queries(store)[0]
    everything = await search(store, kind, data, q, 40)
    cut = everything[9][1]
    async with store.session(team_id=data.team_id) as s:
        repo = s.documents if kind == "documents" else s.skill_files
        above = await repo.search(q, k=40, min_similarity=cut)
        assert len(above) == 10
        with pytest.raises(EmbeddingError, match="dimensions"):
            await repo.search(q[:-1])
        with pytest.raises(EmbeddingError, match="NaN"):
            await repo.search(np.full(dim(store), np.nan))
        with pytest.raises(ValidationError, match="k must be"):
            await repo.search(q, k=0)
