"""Nothing a caller sends is silently dropped: unknown fields, metadata, ids, models."""

from __future__ import annotations

import inspect
import json
import uuid
from typing import Any

import numpy as np
import pydantic
import pytest

from skillstore import models
from skillstore.db.base import Document, Schema
from skillstore.embedding import HashingEmbedder
from skillstore.errors import ConflictError, EmbeddingError, NotFoundError, ValidationError
from skillstore.models import MemoryAction, MemoryCreate, MemoryUpdate, RetrievalContext
from skillstore.store import Store
from tests.backends import TEST_DIMENSIONS
from tests.factories import make_team
from tests.memory_data import clustered, dim, memory, memory_team, numpy_top_k


def _inputs() -> list[type[pydantic.BaseModel]]:
    """Every ``…Create`` / ``…Update`` model and every nested document model."""
    models.load_all()
    found: list[type[pydantic.BaseModel]] = []
    for name in models.__all__:
        cls = getattr(models, name)
        if not inspect.isclass(cls) or not issubclass(cls, pydantic.BaseModel):
            continue
        if issubclass(cls, Document) or (
            issubclass(cls, Schema) and name.endswith(("Create", "Update"))
        ):
            found.append(cls)
    return found


@pytest.mark.parametrize("model", _inputs(), ids=lambda m: m.__name__)
def test_every_input_model_refuses_an_unknown_field(model: type[pydantic.BaseModel]) -> None:
    with pytest.raises(ValidationError, match="unknown field 'surely_not_a_field'"):
        model.model_validate({"surely_not_a_field": 1})
    field = next(iter(model.model_fields.values()))
    name = field.alias or next(iter(model.model_fields))
    near = name[:-1] + ("x" if name[-1] != "x" else "y")
    with pytest.raises(ValidationError, match=f"did you mean '{name}'"):
        model.model_validate({near: 1})


def test_near_misses_inside_nested_documents_name_the_right_field() -> None:
    with pytest.raises(ValidationError, match=r"personality\.tonee.*did you mean 'tone'"):
        models.AgentConfigCreate.model_validate(
            {"name": "K", "slug": "k", "personality": {"system_prompt_template": "x", "tonee": "x"}}
        )


async def test_metadata_is_called_metadata_everywhere(store: Store) -> None:
    team_id = await memory_team(store)
    v = clustered(1, dim(store))[0]
    async with store.session(team_id=team_id) as s:
        added = await s.memories.add(
            {
                "content": "x",
                "memory_type": "semantic",
                "embedding": v,
                "metadata": {"src": "slack"},
            }
        )
        assert added.metadata == {"src": "slack"}
        assert json.loads(added.model_dump_json())["metadata"] == {"src": "slack"}
        assert added.model_dump()["metadata"] == {"src": "slack"}
        changed = await s.memories.update(added.id, {"metadata": {"src": "mail"}})
        assert changed.metadata == {"src": "mail"} and changed.version == 2
        assert [h.memory.id for h in await s.memories.search(v, metadata={"src": "mail"})] == [
            added.id
        ]
        with pytest.raises(ValidationError, match="did you mean 'importance'"):
            await s.memories.add({"content": "x", "memory_type": "semantic", "importanse": 9})
        with pytest.raises(ValidationError, match="unknown field 'metadata_x'"):
            await s.memories.update(added.id, {"metadata_x": {}})
        again = await s.memories.get(added.id)
        assert again is not None and again.version == 2  # the refused patch bumped nothing


PATTERNS: list[dict[str, Any]] = [
    {"source": "slack"},
    {"n": 1},
    {"labels": ["b"]},
    {"labels": ["a", "b"]},
    {"thread": {"open": True}},
    {"flag": True},
    {"flag": 1},
    {"source": "slack", "n": 1},
    {},
    {"thread": {}},
]
DOCS: list[dict[str, Any]] = [
    {"source": "slack", "n": 1, "labels": ["a", "b"], "thread": {"open": True}},
    {"source": "mail", "n": 1.0, "labels": ["b"]},
    {"source": "slack", "n": "1", "flag": True},
    {},
    {"labels": "b", "thread": {"open": 1}},
]


def contains(doc: Any, pattern: Any) -> bool:
    """PostgreSQL's jsonb ``@>`` for the patterns filters accept (the oracle)."""
    if isinstance(pattern, dict):
        return isinstance(doc, dict) and all(
            k in doc and contains(doc[k], v) for k, v in pattern.items()
        )
    if isinstance(pattern, list):
        return isinstance(doc, list) and all(any(contains(d, p) for d in doc) for p in pattern)
    if isinstance(pattern, bool) or isinstance(doc, bool):
        return type(pattern) is type(doc) and pattern == doc
    if isinstance(pattern, int | float) and isinstance(doc, int | float):
        return float(pattern) == float(doc)
    return type(pattern) is type(doc) and bool(pattern == doc)


async def test_metadata_filters_mean_json_containment_on_both_backends(store: Store) -> None:
    team_id = await memory_team(store)
    v = clustered(len(DOCS), dim(store))
    async with store.session(team_id=team_id) as s:
        ids = [
            (await s.memories.add(memory(v[i], content=f"m{i}", metadata=d))).id
            for i, d in enumerate(DOCS)
        ]
        chunks = await s.documents.add_many(
            [
                {
                    "document_id": "d",
                    "chunk_index": i,
                    "content": "c",
                    "embedding": v[i],
                    "metadata": d,
                }
                for i, d in enumerate(DOCS)
            ]
        )
        for pattern in PATTERNS:
            expected = {ids[i] for i, d in enumerate(DOCS) if contains(d, pattern)}
            assert {m.id for m in await s.memories.find(metadata=pattern)} == expected, pattern
            assert await s.memories.count(metadata=pattern) == len(expected)
            found = await s.memories.search(v[0], k=10, metadata=pattern)
            assert {h.memory.id for h in found} == expected, pattern
            chunk_ids = {chunks[i].id for i, d in enumerate(DOCS) if contains(d, pattern)}
            assert {
                h.chunk.id for h in await s.documents.search(v[0], metadata=pattern)
            } == chunk_ids


async def test_metadata_filters_apply_before_ranking(store: Store) -> None:
    team_id = await memory_team(store)
    v = clustered(60, dim(store), seed=3)
    async with store.session(team_id=team_id) as s:
        ids = await s.memories.add_many(
            [memory(x, metadata={"half": i % 2}) for i, x in enumerate(v)]
        )
        odd = [i for i in range(60) if i % 2]
        hits = await s.memories.search(v[0], k=5, metadata={"half": 1})
        assert [h.memory.id for h in hits] == [ids[odd[j]] for j in numpy_top_k(v[odd], v[0], 5)]
        scored = await s.memories.retrieve(v[0], context=RetrievalContext(), metadata={"half": 1})
        assert scored and all(m.memory.metadata == {"half": 1} for m in scored)


@pytest.mark.parametrize(
    "pattern", [[1], {"a": [{"b": 1}]}, {"a": float("nan")}, {'a"b': 1}, {"a": object()}]
)
async def test_unmatchable_metadata_filters_are_refused(store: Store, pattern: Any) -> None:
    team_id = await memory_team(store)
    async with store.session(team_id=team_id) as s:
        with pytest.raises(ValidationError, match="metadata filter"):
            await s.memories.find(metadata=pattern)
        assert await s.memories.count() == 0  # the session is still usable


async def test_a_search_over_another_models_vectors_says_so(committed_store: Store) -> None:
    store = committed_store
    team_id = await memory_team(store)
    hashing = HashingEmbedder(TEST_DIMENSIONS)
    other = Store(store.engine, store.settings, embedder=hashing)
    async with other, other.session(team_id=team_id) as s:
        await s.memories.add({"content": "by the hashing embedder", "memory_type": "semantic"})
    async with store.session(team_id=team_id) as s:
        with pytest.raises(EmbeddingError, match=r"text-embedding-3-small.*skillstore-hashing"):
            await s.memories.search(clustered(1, dim(store))[0])
        assert await s.memories.search(clustered(1, dim(store))[0], memory_types=["episodic"]) == []


async def test_a_memory_no_search_could_find_is_refused(store: Store) -> None:
    team_id = await memory_team(store)
    async with store.session(team_id=team_id) as s:
        with pytest.raises(EmbeddingError, match="no embedder"):
            await s.memories.add({"content": "unfindable", "memory_type": "semantic"})
        assert await s.memories.count() == 0


async def test_skill_search_returns_every_hit_past_fifty_files(store: Store) -> None:
    team = await make_team(store)
    v = clustered(60, dim(store), seed=5)
    async with store.session(team_id=team.id) as s:
        for i in range(60):
            made = await s.skill_files.create({"name": f"s{i}", "path": f"s{i}.md", "content": "x"})
            await s.skill_files.set_embeddings(made.id, [{"content": "x", "embedding": v[i]}])
        hits = await s.skill_files.search(v[0], k=60)
    assert len(hits) == 60 and {h.skill_file.id for h in hits} == {
        h.chunk.skill_file_id for h in hits
    }


async def test_caller_ids_are_kept_and_a_duplicate_is_refused(store: Store) -> None:
    team_id = await memory_team(store)
    v = clustered(3, dim(store))
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    async with store.session(team_id=team_id) as s:
        assert (await s.memories.add(memory(v[0], id=mine))).id == mine
        assert (await s.memories.add_many([memory(v[1], id=theirs)])) == [theirs]
        with pytest.raises(ConflictError):
            await s.memories.add(memory(v[2], id=mine))
        chunk = await s.documents.create(
            {"id": mine, "document_id": "d", "content": "c", "embedding": v[0]}
        )
        assert chunk.id == mine and await s.memories.count() == 2


async def test_upsert_creates_then_replaces_by_id_in_the_team_only(store: Store) -> None:
    team_id, other = await memory_team(store), await memory_team(store)
    v = clustered(2, dim(store))
    key = uuid.uuid4()
    async with store.session(team_id=team_id) as s:
        first = await s.memories.upsert(memory(v[0], id=key, content="first"))
        second = await s.memories.upsert(memory(v[1], id=key, content="second", importance=9))
        assert (first.version, second.version) == (1, 2) and second.created_at == first.created_at
        assert second.content == "second" and second.importance == 9
        assert [h.memory.id for h in await s.memories.search(v[1], k=1)] == [key]
        assert [e.action for e in await s.memories.history(key)] == [
            MemoryAction.CREATED,
            MemoryAction.UPDATED,
        ]
        doc = {"id": key, "document_id": "d", "content": "a", "embedding": v[0]}
        await s.documents.upsert(doc)
        replaced = await s.documents.upsert({**doc, "content": "b", "metadata": {"v": 2}})
        assert (replaced.content, replaced.metadata) == ("b", {"v": 2})
        assert len(await s.documents.chunks("d")) == 1
        with pytest.raises(ValidationError, match="needs the memory's id"):
            await s.memories.upsert(memory(v[0]))
    async with store.session(team_id=other) as s:
        with pytest.raises(ConflictError, match="not in this team"):
            await s.documents.upsert({**doc, "content": "stolen"})
        with pytest.raises(ConflictError):
            await s.memories.upsert(memory(v[0], id=key, content="stolen"))
        assert await s.memories.get(key) is None
    async with store.session(team_id=team_id) as s:
        kept = await s.memories.get(key)
        assert kept is not None and kept.content == "second"


async def test_an_update_patch_is_checked_field_by_field(store: Store) -> None:
    team_id = await memory_team(store)
    async with store.session(team_id=team_id) as s:
        added = await s.memories.add(memory(clustered(1, dim(store))[0]))
        with pytest.raises(NotFoundError, match="related_to"):
            await s.memories.update(added.id, MemoryUpdate(related_to=[uuid.uuid4()]))
        assert np.isfinite(added.confidence)


def test_create_models_take_the_public_name_metadata() -> None:
    made = MemoryCreate(content="x", memory_type=models.MemoryType.SEMANTIC, metadata={"k": 1})
    assert made.metadata_ == {"k": 1} and made.model_dump()["metadata"] == {"k": 1}
