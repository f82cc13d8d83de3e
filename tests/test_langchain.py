"""`SkillstoreVectorStore` under LangChain's own standard vector-store suite, on both
backends, and what the suite does not ask: tenancy, filters in the statement, dimensions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_tests.integration_tests.vectorstores import VectorStoreIntegrationTests

from skillstore import Store
from skillstore.errors import EmbeddingError, ValidationError
from skillstore.integrations.langchain import SkillstoreVectorStore
from tests.backends import TEST_DIMENSIONS
from tests.factories import make_team


class TestStandardSuite(VectorStoreIntegrationTests):
    @pytest.fixture
    async def vectorstore(self, committed_store: Store) -> AsyncIterator[SkillstoreVectorStore]:
        team = await make_team(committed_store)
        vectorstore = SkillstoreVectorStore(
            committed_store, team_id=team.id, embedding=self.get_embeddings()
        )
        yield vectorstore
        vectorstore.close()


@pytest.fixture
async def two_teams(committed_store: Store) -> AsyncIterator[list[SkillstoreVectorStore]]:
    embedding = DeterministicFakeEmbedding(size=6)
    teams = [await make_team(committed_store), await make_team(committed_store)]
    stores = [
        SkillstoreVectorStore(committed_store, team_id=t.id, embedding=embedding) for t in teams
    ]
    yield stores
    for vectorstore in stores:
        vectorstore.close()


async def test_another_teams_documents_are_never_returned(
    two_teams: list[SkillstoreVectorStore],
) -> None:
    ours, theirs = two_teams
    await theirs.aadd_texts(["the secret plan"], ids=["1"])
    await ours.aadd_texts(["a public note"], ids=["1"])  # the same caller id, another team
    assert [d.page_content for d in await ours.asimilarity_search("the secret plan", k=10)] == [
        "a public note"
    ]
    assert [d.page_content for d in await ours.aget_by_ids(["1"])] == ["a public note"]
    await ours.adelete(["1"])
    assert [d.page_content for d in await theirs.aget_by_ids(["1"])] == ["the secret plan"]


async def test_filters_apply_before_ranking_so_k_matches_are_returned(
    two_teams: list[SkillstoreVectorStore],
) -> None:
    vectorstore = two_teams[0]
    texts = [f"note {i}" for i in range(30)]
    metadatas = [{"source": "slack" if i % 10 == 0 else "mail", "n": i} for i in range(30)]
    await vectorstore.aadd_texts(texts, metadatas)
    found = await vectorstore.asimilarity_search("note 5", k=3, filter={"source": "slack"})
    assert sorted(d.metadata["n"] for d in found) == [0, 10, 20]
    nested = await vectorstore.asimilarity_search("x", k=5, filter={"source": "slack", "n": 10})
    assert [d.metadata for d in nested] == [{"source": "slack", "n": 10}]


async def test_collections_are_separate_and_may_differ_in_dimension(
    committed_store: Store,
) -> None:
    team = await make_team(committed_store)
    small = SkillstoreVectorStore(
        committed_store, team_id=team.id, embedding=DeterministicFakeEmbedding(size=6)
    )
    wide = SkillstoreVectorStore(
        committed_store,
        team_id=team.id,
        embedding=DeterministicFakeEmbedding(size=TEST_DIMENSIONS),
        collection="wide",
    )
    try:
        await small.aadd_texts(["six"], ids=["a"])
        await wide.aadd_texts(["full width"], ids=["a"])
        assert [d.page_content for d in await small.asimilarity_search("six", k=5)] == ["six"]
        assert [d.page_content for d in await wide.asimilarity_search("six", k=5)] == ["full width"]
        # Zero-padding keeps cosine similarity: the score of a document's own text is 1.
        ((_, score),) = await small.asimilarity_search_with_score("six", k=1)
        assert score == pytest.approx(1.0, abs=1e-5)
        with pytest.raises(EmbeddingError, match="holds 6-dimensional vectors; the query has 5"):
            await small.asimilarity_search_by_vector([0.1, 0.2, 0.3, 0.4, 0.5], k=1)
        with pytest.raises(EmbeddingError, match="does not fit the schema's"):
            await small.asimilarity_search_by_vector([0.5] * (TEST_DIMENSIONS + 1), k=1)
    finally:
        small.close()
        wide.close()


async def test_the_reserved_key_and_unknown_arguments_are_refused(
    two_teams: list[SkillstoreVectorStore],
) -> None:
    vectorstore = two_teams[0]
    with pytest.raises(ValidationError, match="'skillstore' is reserved"):
        await vectorstore.aadd_texts(["x"], [{"skillstore": 1}])
    with pytest.raises(ValidationError, match="unknown argument"):
        await vectorstore.aadd_texts(["x"], namespace="oops")
    with pytest.raises(ValidationError, match="collection"):
        SkillstoreVectorStore(
            vectorstore.store, team_id=vectorstore.team_id, embedding=vectorstore.embedding,
            collection="no spaces",
        )  # fmt: skip


async def test_documents_are_skillstore_documents_and_a_retriever_works(
    two_teams: list[SkillstoreVectorStore],
) -> None:
    vectorstore = two_teams[0]
    await vectorstore.aadd_documents(
        [Document(page_content="deploys on Tuesday", metadata={"team": "ops"}, id="d1")]
    )
    async with vectorstore.store.session(team_id=vectorstore.team_id) as s:
        (chunk,) = await s.documents.chunks("default:d1")
    assert chunk.content == "deploys on Tuesday"
    assert chunk.metadata == {
        "team": "ops",
        "skillstore": {"collection": "default", "dims": 6, "id": "d1"},
    }
    retrieved = await vectorstore.as_retriever(search_kwargs={"k": 1}).ainvoke("deploys")
    assert retrieved == [
        Document(page_content="deploys on Tuesday", metadata={"team": "ops"}, id="d1")
    ]


def test_the_readme_example_runs(tmp_path: Path) -> None:
    from examples.langchain_retriever import main

    found = asyncio.run(main(f"sqlite+aiosqlite:///{tmp_path / 'lc.db'}"))
    assert found == [
        Document(page_content="Dana prefers email", metadata={"kind": "crm"}, id="dana")
    ]


async def test_memories_kind_are_memories_the_store_searches_and_retrieves(
    committed_store: Store,
) -> None:
    team = await make_team(committed_store)
    vectorstore = SkillstoreVectorStore(
        committed_store, team_id=team.id, embedding=DeterministicFakeEmbedding(size=6),
        kind="memories",
    )  # fmt: skip
    try:
        await vectorstore.aadd_texts(["Dana prefers email"], [{"source": "crm"}], ids=["dana"])
        async with committed_store.session(team_id=team.id) as s:
            (memory,) = await s.memories.find(metadata={"source": "crm"})
            assert memory.content == "Dana prefers email"
            assert memory.memory_type == "semantic"
            assert len(await s.memories.history(memory.id)) == 1
        await vectorstore.aadd_texts(["Dana prefers phone"], [{"source": "crm"}], ids=["dana"])
        (document,) = await vectorstore.aget_by_ids(["dana"])
        assert document.page_content == "Dana prefers phone"
    finally:
        vectorstore.close()
