from __future__ import annotations

import uuid

import numpy as np
import pytest

from skillstore.lexical import Phrase, Stats, bm25, parse_query, tokens
from skillstore.models import MemoryStatus, MemoryUpdate
from skillstore.store import Store
from tests.lexical_oracle import BM25, matches_up_to_ties, rrf
from tests.lexical_oracle import Phrase as OraclePhrase
from tests.memory_data import clustered, dim, memory, memory_team

CORPUS = [
    ("Order ORD-48213 shipped late", "orders"),
    ("Order ORD-48213 refund issued to Zofia Wróbel", None),
    ("Error E_CONN_REFUSED_1042 on the billing gateway", "incident"),
    ("The daily sync happens at 9:30 every weekday", None),
    ("Zofia owns the billing gateway project", "people"),
    ("KX220B stock is low; reorder KX220B soon", "stock"),
    ("billing billing billing dashboard", None),
    ("Stand-up moved to the large room", None),
]
QUERIES = ["ORD-48213", "billing gateway", '"billing gateway"', "bill*", "Zofia KX220B", "sync"]


async def seeded(store: Store) -> tuple[uuid.UUID, dict[uuid.UUID, list[str]], np.ndarray]:
    team, other = await memory_team(store), await memory_team(store)
    vectors = clustered(len(CORPUS), dim(store), seed=3)
    async with store.session(team_id=other) as s:  # a neighbour with the same words
        await s.memories.add_many(
            [memory(v, content=c * 3, subject=t) for v, (c, t) in zip(vectors, CORPUS, strict=True)]
        )
    async with store.session(team_id=team) as s:
        ids = await s.memories.add_many(
            [memory(v, content=c, subject=t) for v, (c, t) in zip(vectors, CORPUS, strict=True)]
        )
    docs = {i: tokens(f"{t or ''} {c}") for i, (c, t) in zip(ids, CORPUS, strict=True)}
    return team, docs, vectors


def oracle(docs: dict[uuid.UUID, list[str]], text: str) -> list[tuple[uuid.UUID, float]]:
    phrases = [OraclePhrase(p.words, p.prefix) for p in parse_query(text)]
    return BM25({i: [d] for i, d in docs.items()}).rank(phrases)


@pytest.mark.parametrize("text", QUERIES)
async def test_text_search_ranks_as_the_python_bm25_with_the_teams_statistics(
    store: Store, text: str
) -> None:
    team, docs, _ = await seeded(store)
    async with store.session(team_id=team) as s:
        hits = await s.memories.search(text=text, k=5)
    expected = oracle(docs, text)
    assert matches_up_to_ties([h.memory.id for h in hits], expected, k=5)
    for h in hits:
        assert h.lexical_score == pytest.approx(dict(expected)[h.memory.id])
        assert h.similarity is None


async def test_hybrid_is_rrf_of_the_vector_and_text_lists(store: Store) -> None:
    team, _, vectors = await seeded(store)
    query = vectors[1] + 0.3 * vectors[4]
    async with store.session(team_id=team) as s:
        by_vector = [h.memory.id for h in await s.memories.search(query, k=50)]
        by_text = [h.memory.id for h in await s.memories.search(text="billing Zofia", k=50)]
        hybrid = await s.memories.search(query, text="billing Zofia", k=5)
    expected = rrf([by_vector, by_text])
    assert matches_up_to_ties([h.memory.id for h in hybrid], expected, k=5)
    assert all(h.score == pytest.approx(dict(expected)[h.memory.id]) for h in hybrid)


async def test_text_search_never_returns_another_teams_rows(store: Store) -> None:
    team, docs, _ = await seeded(store)
    async with store.session(team_id=team) as s:
        for text in QUERIES:
            assert {h.memory.id for h in await s.memories.search(text=text, k=50)} <= set(docs)


@pytest.mark.parametrize(
    "text",
    [
        '"',
        '""',
        "NEAR(a b)",
        "*",
        "-",
        "()",
        "a AND OR NOT",
        "\x00billing",
        "x" * 10_000,
        "😀 billing",
        "' OR 1=1 --",
        "col:billing",
        "^billing",
        "billing:*",
        "!&|<->",
        " ".join(f"w{i}" for i in range(500)),
        "the what is",
        "...",
    ],
)
async def test_hostile_query_strings_never_raise(store: Store, text: str) -> None:
    team, _, vectors = await seeded(store)
    async with store.session(team_id=team) as s:
        await s.memories.search(text=text)
        hits = await s.memories.search(vectors[0], text=text, k=3)
    assert hits  # the vector list stands when the text has nothing searchable


async def test_index_follows_update_supersede_delete_and_rollback(store: Store) -> None:
    team, _, vectors = await seeded(store)

    async def found(text: str) -> list[str]:
        async with store.session(team_id=team) as s:
            return [h.memory.content for h in await s.memories.search(text=text, k=50)]

    async with store.session(team_id=team) as s:
        added = await s.memories.add(memory(vectors[0], content="zebracorn appears"))
    assert await found("zebracorn") == ["zebracorn appears"]
    async with store.session(team_id=team) as s:
        await s.memories.update(added.id, MemoryUpdate(content="unicornzebra now"))
    assert await found("zebracorn") == [] and await found("unicornzebra") == ["unicornzebra now"]
    async with store.session(team_id=team) as s:
        new = await s.memories.supersede(
            added.id, memory(vectors[0], content="okapiquest replaces it"), reason="t"
        )
    assert await found("unicornzebra") == [] and await found("okapiquest") == [new.content]
    with pytest.raises(RuntimeError):
        async with store.session(team_id=team) as s:
            await s.memories.add(memory(vectors[0], content="ghostword never"))
            raise RuntimeError
    assert await found("ghostword") == []
    async with store.session(team_id=team) as s:
        await s.memories.delete(new.id)
        await s.memories.set_status((await s.memories.find(limit=1))[0].id, MemoryStatus.ARCHIVED)
    assert await found("okapiquest") == []


def test_bm25_helpers_agree_with_the_oracle() -> None:
    docs = {i: tokens(c) for i, (c, _) in enumerate(CORPUS)}
    phrases = [Phrase(("billing",)), Phrase(("gate",), prefix=True)]
    stats = Stats(
        rows=len(docs),
        total_tokens=sum(map(len, docs.values())),
        matching=tuple(sum(1 for d in docs.values() if p.count(d)) for p in phrases),
    )
    reference = BM25({i: [d] for i, d in docs.items()})
    for i, d in docs.items():
        want = reference.score(i, [OraclePhrase(p.words, p.prefix) for p in phrases])
        assert bm25(d, phrases, stats) == pytest.approx(want)


async def test_retrieve_scores_the_lexical_signal_of_the_text(store: Store) -> None:
    team, docs, vectors = await seeded(store)
    async with store.session(team_id=team) as s:
        scored = await s.memories.retrieve(
            vectors[0], context={}, text="KX220B", token_budget=10_000
        )
        plain = await s.memories.retrieve(vectors[0], context={}, token_budget=10_000)
    by_content = {m.memory.content: m for m in scored}
    stock = by_content["KX220B stock is low; reorder KX220B soon"]
    assert stock.lexical == 1.0
    assert all(m.lexical == 0.0 for m in scored if m is not stock)
    assert stock.total == pytest.approx(
        next(p.total for p in plain if p.memory.id == stock.memory.id) + 0.10
    )
    assert len(docs) == len(CORPUS)
