from __future__ import annotations

import hashlib
import uuid

import numpy as np
import pytest
import sqlalchemy as sa
from sqlmodel import col

from skillstore.errors import ConcurrentUpdateError, ConflictError, EmbeddingError, ValidationError
from skillstore.models import DocumentEmbedding, SkillEmbedding, SkillFile, SkillFileRead
from skillstore.store import Store
from tests.backends import TEST_DIMENSIONS
from tests.factories import count_rows, make_team


def vec(seed: int, dim: int = TEST_DIMENSIONS) -> list[float]:
    values: list[float] = np.random.default_rng(seed).standard_normal(dim).tolist()
    return values


def chunk(i: int, document_id: str = "handbook.md", **fields: object) -> dict[str, object]:
    return {
        "document_id": document_id,
        "chunk_index": i,
        "content": f"part {i}",
        "embedding": vec(i),
        **fields,
    }


async def test_document_chunks_round_trip_with_their_embeddings(store: Store) -> None:
    team = await make_team(store)
    async with store.session(team_id=team.id) as s:
        created = await s.documents.add_many([chunk(1), chunk(0, metadata={"page": 1})])
        chunks = await s.documents.chunks("handbook.md")
        stored = (
            await s.execute(
                sa.select(col(DocumentEmbedding.embedding)).where(
                    col(DocumentEmbedding.id) == created[1].id
                )
            )
        ).scalar_one()
    assert [c.chunk_index for c in chunks] == [0, 1] and chunks[0].metadata == {"page": 1}
    assert "embedding" not in chunks[0].model_dump()
    assert np.array_equal(np.asarray(stored, np.float32), np.asarray(vec(0), np.float32))


async def test_replace_document_swaps_every_chunk(store: Store) -> None:
    team = await make_team(store)
    async with store.session(team_id=team.id) as s:
        await s.documents.add_many([chunk(i) for i in range(3)])
        await s.documents.create(chunk(0, document_id="other.md"))
        new = [{"chunk_index": 0, "content": "rewritten", "embedding": vec(9)}]
        replaced = await s.documents.replace_document("handbook.md", new)
        assert [c.content for c in await s.documents.chunks("handbook.md")] == ["rewritten"]
        assert replaced[0].document_id == "handbook.md"
        with pytest.raises(ValidationError, match="make it match"):
            await s.documents.replace_document("handbook.md", [chunk(0, document_id="x.md")])
        assert await s.documents.delete_document("handbook.md") == 1
        assert await s.documents.count() == 1


@pytest.mark.parametrize(
    ("embedding", "message"),
    [
        (vec(1, TEST_DIMENSIONS + 1), f"{TEST_DIMENSIONS + 1} dimensions but this store uses"),
        ([float("nan")] * TEST_DIMENSIONS, "NaN"),
        ([], "non-empty"),
    ],
)
async def test_bad_document_embedding_is_refused_and_nothing_stored(
    store: Store, embedding: list[float], message: str
) -> None:
    team = await make_team(store)
    before = await count_rows(store, DocumentEmbedding)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(EmbeddingError, match=message):
            await s.documents.add_many([chunk(0), chunk(1, embedding=embedding)])
        with pytest.raises(EmbeddingError, match=message):
            await s.documents.create(chunk(2, embedding=embedding))
        good = await s.documents.create(chunk(3))
        with pytest.raises(EmbeddingError, match=message):
            await s.documents.update(good.id, {"embedding": embedding})
    assert await count_rows(store, DocumentEmbedding) == before + 1


async def test_duplicate_chunk_conflicts(store: Store) -> None:
    team, other = await make_team(store), await make_team(store)
    async with store.session(team_id=team.id) as s:
        await s.documents.create(chunk(0))
        with pytest.raises(ConflictError):
            await s.documents.create(chunk(0))
        assert await s.documents.count() == 1
    async with store.session(team_id=other.id) as s:
        assert await s.documents.chunks("handbook.md") == []
        await s.documents.create(chunk(0))


async def new_skill(store: Store, team_id: uuid.UUID, **fields: object) -> SkillFileRead:
    async with store.session(team_id=team_id) as s:
        data = {"name": "search", "path": "skills/search.md", "content": "# Search", **fields}
        return await s.skill_files.create(data)


async def test_skill_file_hash_is_computed_or_checked(store: Store) -> None:
    team = await make_team(store)
    skill = await new_skill(store, team.id)
    assert skill.content_hash == hashlib.sha256(b"# Search").hexdigest()
    given = hashlib.sha256(b"# Other").hexdigest().upper()
    other = await new_skill(
        store, team.id, path="skills/other.md", content="# Other", content_hash=given
    )
    assert other.content_hash == given.lower()


async def test_skill_file_with_wrong_hash_is_refused_and_nothing_stored(store: Store) -> None:
    team = await make_team(store)
    skill = await new_skill(store, team.id)
    before = await count_rows(store, SkillFile)
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(ValidationError, match="content_hash is not the SHA-256 of content"):
        await new_skill(store, team.id, path="skills/x.md", content_hash=wrong)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(ValidationError, match="content_hash"):
            await s.skill_files.update(skill.id, {"content_hash": wrong})
        with pytest.raises(ValidationError, match="content_hash"):
            await s.skill_files.update(skill.id, {"content": "# New", "content_hash": wrong})
        assert await s.skill_files.get(skill.id) == skill
    assert await count_rows(store, SkillFile) == before


async def test_new_content_rehashes_and_drops_stale_embeddings(store: Store) -> None:
    team = await make_team(store)
    skill = await new_skill(store, team.id)
    async with store.session(team_id=team.id) as s:
        await s.skill_files.set_embeddings(
            skill.id,
            [{"chunk_index": i, "content": f"c{i}", "embedding": vec(i)} for i in range(2)],
        )
        renamed = await s.skill_files.update(skill.id, {"name": "find"})
        assert len(await s.skill_files.embeddings(skill.id)) == 2
        changed = await s.skill_files.update(
            skill.id, {"content": "# Search v2"}, expected_version=renamed.version
        )
        assert await s.skill_files.embeddings(skill.id) == []
        with pytest.raises(ConcurrentUpdateError):
            await s.skill_files.update(skill.id, {"name": "x"}, expected_version=skill.version)
    assert changed.content_hash == hashlib.sha256(b"# Search v2").hexdigest()
    assert (skill.version, renamed.version, changed.version) == (1, 2, 3)


async def test_skill_embeddings_are_replaced_and_checked(store: Store) -> None:
    team = await make_team(store)
    skill = await new_skill(store, team.id)
    first = [{"chunk_index": i, "content": f"c{i}", "embedding": vec(i)} for i in range(3)]
    async with store.session(team_id=team.id) as s:
        await s.skill_files.set_embeddings(skill.id, first)
        before = await s.skill_files.embeddings(skill.id)
        bad = [{"chunk_index": 0, "content": "c", "embedding": vec(0, TEST_DIMENSIONS - 1)}]
        with pytest.raises(EmbeddingError, match="dimensions"):
            await s.skill_files.set_embeddings(skill.id, bad)
        assert await s.skill_files.embeddings(skill.id) == before
        again = await s.skill_files.set_embeddings(
            skill.id, [{"content": "only", "embedding": vec(7)}]
        )
        assert await s.skill_files.embeddings(skill.id) == again
        assert await s.skill_files.get_by_path("skills/search.md") is not None
        assert await s.skill_files.delete(skill.id)
    assert [e.chunk_index for e in before] == [0, 1, 2]
    assert await count_rows(store, SkillEmbedding) == 0


async def test_skill_path_is_unique_per_team_and_files_are_scoped(store: Store) -> None:
    team, other = await make_team(store), await make_team(store)
    skill = await new_skill(store, team.id)
    with pytest.raises(ConflictError):
        await new_skill(store, team.id)
    async with store.session(team_id=other.id) as s:
        assert await s.skill_files.get(skill.id) is None
        assert await s.skill_files.get_by_path(skill.path) is None
    assert (await new_skill(store, other.id)).path == skill.path
