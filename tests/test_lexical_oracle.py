from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from bench.hybrid_eval.dataset import build
from skillstore.store import Store
from tests.lexical_oracle import (
    BM25,
    IDF_FLOOR,
    Phrase,
    Tokenizer,
    matches_up_to_ties,
    minmax,
    parse_query,
    rrf,
    single_terms,
    tokenize,
    tokenize_pg_simple,
    tokenize_unicode61,
    weighted_minmax,
)

# ---- tokenizers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Order ORD-48213 failed", ["order", "ord", "48213", "failed"]),
        ("E_CONN_REFUSED_1042", ["e", "conn", "refused", "1042"]),
        ("Zofia Wróbel, José Ibáñez", ["zofia", "wrobel", "jose", "ibanez"]),
        ("Łukasz Søren straße", ["łukasz", "søren", "straße"]),
        ("O'Brien $1,250 9:30 KX220B", ["o", "brien", "1", "250", "9", "30", "kx220b"]),
        ("ễ stays, ﬁ stays", ["ễ", "stays", "ﬁ", "stays"]),
        ("a+b x€y 😀", ["a", "b", "x", "y"]),
        ("", []),
    ],
)
def test_unicode61_splits_on_everything_but_letters_and_digits(
    text: str, tokens: list[str]
) -> None:
    assert tokenize_unicode61(text) == tokens


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Order ORD-48213 failed", ["order", "ord", "-48213", "failed"]),
        ("INV-2024-0042", ["inv", "-2024", "-0042"]),
        ("E_CONN_REFUSED_1042", ["e", "conn", "refused", "1042"]),
        ("co-op #ops-alerts", ["co-op", "co", "op", "ops-alerts", "ops", "alerts"]),
        ("abc-12x", ["abc-12x", "abc", "12x"]),
        ("Müller José", ["müller", "josé"]),
        ("O'Brien $1,250 9:30 KX220B", ["o", "brien", "1", "250", "9", "30", "kx220b"]),
    ],
)
def test_pg_simple_keeps_hyphenated_words_whole_and_signs_numbers_after_a_hyphen(
    text: str, tokens: list[str]
) -> None:
    assert tokenize_pg_simple(text) == tokens


def _eval_texts() -> list[str]:
    data = build()
    texts = {m.content for m in data.memories} | {m.subject for m in data.memories if m.subject}
    return sorted(texts | {q.text for q in data.queries})


async def test_reference_tokenizer_is_the_backends_own_on_every_text_of_the_eval_set(
    store: Store,
) -> None:
    texts = _eval_texts()
    name: Tokenizer
    rows: sa.Result[Any]
    async with store.session() as s:
        if store.dialect == "postgresql":
            name = "pg_simple"
            rows = await s.execute(
                sa.text(
                    "SELECT t.i, v.lexeme, p FROM unnest(CAST(:texts AS text[])) "
                    "WITH ORDINALITY AS t(txt, i), unnest(to_tsvector('simple', t.txt)) AS v, "
                    "unnest(v.positions) AS p"
                ),
                {"texts": texts},
            )
        else:
            name = "unicode61"
            await s.execute(sa.text("CREATE VIRTUAL TABLE temp.oracle_fts USING fts5(content)"))
            await s.execute(
                sa.text(
                    "CREATE VIRTUAL TABLE temp.oracle_vocab "
                    "USING fts5vocab(temp, oracle_fts, instance)"
                )
            )
            await s.execute(
                sa.text(
                    "INSERT INTO temp.oracle_fts(rowid, content) "
                    "SELECT key + 1, value FROM json_each(:texts)"
                ),
                {"texts": json.dumps(texts)},
            )
            rows = await s.execute(sa.text("SELECT doc, term, offset FROM temp.oracle_vocab"))
        found: dict[int, list[tuple[int, str]]] = {}
        for doc, token, position in (tuple(r) for r in rows):
            found.setdefault(int(doc), []).append((int(position), str(token)))
    for i, text in enumerate(texts, start=1):
        assert [t for _, t in sorted(found.get(i, []))] == tokenize(text, name), text


# ---- BM25 by hand ----------------------------------------------------------------------------

DOCS = {"d1": [["a", "b"]], "d2": [["a", "c", "c"]], "d3": [["d"]]}
"""N = 3, avgdl = 6 / 3 = 2."""


def test_bm25_is_okapi_with_k1_1_2_and_b_0_75_by_hand() -> None:
    index = BM25(DOCS)
    assert index.avgdl == 2.0
    idf_c = math.log((3 - 1 + 0.5) / (1 + 0.5))  # "c" is in one of three documents
    norm_d2 = 1.2 * (1 - 0.75 + 0.75 * 3 / 2)  # |d2| = 3
    assert index.score("d2", [Phrase(("c",))]) == pytest.approx(idf_c * 2 * 2.2 / (2 + norm_d2))
    assert index.score("d1", [Phrase(("c",))]) == 0.0


def test_an_idf_that_is_not_positive_becomes_one_millionth_as_in_fts5() -> None:
    index = BM25(DOCS)
    assert math.log((3 - 2 + 0.5) / (2 + 0.5)) < 0  # "a" is in two of three documents
    assert index.idf(Phrase(("a",))) == IDF_FLOOR
    norm_d1 = 1.2 * (1 - 0.75 + 0.75 * 2 / 2)
    assert index.score("d1", [Phrase(("a",))]) == pytest.approx(IDF_FLOOR * 2.2 / (1 + norm_d1))


def test_columns_add_their_weighted_frequencies_and_count_towards_length() -> None:
    docs = {"x": [["a"], ["a", "b"]], "y": [["b"], ["c"]], "z": [["d"], []]}
    weighted = BM25(docs, weights=[2.0, 0.5])
    assert weighted.frequency("x", Phrase(("a",))) == 2.0 * 1 + 0.5 * 1
    assert BM25(docs).avgdl == (3 + 2 + 1) / 3
    assert BM25(docs).frequency("x", Phrase(("a", "b"))) == 1  # a phrase stays in one column
    assert BM25(docs).frequency("x", Phrase(("a", "a"))) == 0


def test_phrases_count_overlapping_occurrences_and_prefixes_match_the_last_token() -> None:
    assert Phrase(("a", "a")).count(["a", "a", "a"]) == 2
    assert Phrase(("ord", "48")).count(["ord", "48213"]) == 0
    assert Phrase(("ord", "48"), prefix=True).count(["ord", "48213", "ord", "4800"]) == 2
    assert Phrase(("x",)).count([]) == 0


def test_rank_orders_by_score_and_ties_by_id_and_match_all_needs_every_phrase() -> None:
    docs = {"b": [["x", "y"]], "a": [["x", "y"]], "c": [["x", "z", "z", "z"]], "d": [["w"]]}
    index = BM25(docs)
    ranked = index.rank(single_terms("x y"))
    assert [d for d, _ in ranked] == ["a", "b", "c"]  # a and b tie: id order
    assert ranked[0][1] == ranked[1][1] > ranked[2][1]
    assert [d for d, _ in index.rank(single_terms("x y"), match="all")] == ["a", "b"]
    assert index.rank(single_terms("nothing")) == []
    assert [d for d, _ in index.rank(single_terms("x"), among=["c", "d"])] == ["c"]


def test_parse_query_never_fails_and_makes_words_phrases() -> None:
    assert parse_query('"dark mode" prefer* ORD-48213') == [
        Phrase(("dark", "mode")),
        Phrase(("prefer",), prefix=True),
        Phrase(("ord", "48213")),
    ]
    assert parse_query(') AND ( NEAR/3 -- ; DROP TABLE memory; "unclosed quote') == [
        Phrase(("and",)),
        Phrase(("near", "3")),
        Phrase(("drop",)),
        Phrase(("table",)),
        Phrase(("memory",)),
        Phrase(("unclosed", "quote")),
    ]
    assert parse_query('"" * ** ()') == []
    assert parse_query("ORD-48213", "pg_simple") == [Phrase(("ord", "-48213"))]


# ---- BM25 against SQLite FTS5's bm25() --------------------------------------------------


@pytest.fixture
def fts5() -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(":memory:")
    try:
        db.execute("CREATE VIRTUAL TABLE f USING fts5(content, subject)")
    except sqlite3.OperationalError:
        pytest.skip("this SQLite has no FTS5")
    yield db
    db.close()


def _fts5_query(phrases: list[Phrase]) -> str:
    quoted = ['"' + " ".join(p.tokens) + '"' + ("*" if p.prefix else "") for p in phrases]
    return " OR ".join(quoted)


@pytest.mark.parametrize(
    "query",
    [
        "status of ORD-48213",
        "have we hit E_CONN_REFUSED_1042 before?",
        "When is Halcyon due?",
        "Dana Whitfield email",
        '"courier left" ord*',
        "the of a",
    ],
)
def test_reference_scores_equal_fts5_bm25_over_the_same_rows(
    fts5: sqlite3.Connection, query: str
) -> None:
    data = build(teams=2)
    rows = {i: (m.content, m.subject or "") for i, m in enumerate(data.memories, start=1)}
    rows[len(rows) + 1] = ("Order ORD-48213 for Dana Whitfield, the courier left it", "Dana")
    rows[len(rows) + 1] = ("Halcyon: Halcyon is due; Halcyon Halcyon", "Halcyon")
    fts5.executemany("INSERT INTO f(rowid, content, subject) VALUES (?, ?, ?)",
                     [(i, c, s) for i, (c, s) in rows.items()])  # fmt: skip
    index = BM25({i: [tokenize(c), tokenize(s)] for i, (c, s) in rows.items()})
    phrases = parse_query(query)
    got = fts5.execute(
        "SELECT rowid, -bm25(f) FROM f WHERE f MATCH ? ORDER BY bm25(f), rowid",
        (_fts5_query(phrases),),
    ).fetchall()
    expected = index.rank(phrases)
    assert len(got) == len(expected) > 0
    assert dict(got) == pytest.approx(dict(expected), rel=1e-9, abs=1e-15)
    assert matches_up_to_ties([r for r, _ in got[:10]], expected, k=10)


# ---- fusion ----------------------------------------------------------------------------


def test_rrf_sums_reciprocal_ranks_offset_by_k0() -> None:
    fused = rrf([["a", "b", "c"], ["c", "a"]], k0=60)
    assert [d for d, _ in fused] == ["a", "c", "b"]
    assert dict(fused) == pytest.approx({"a": 1 / 61 + 1 / 62, "c": 1 / 63 + 1 / 61, "b": 1 / 62})
    assert dict(rrf([["a"], ["a"]], k0=0, weights=[2.0, 1.0])) == {"a": 3.0}
    assert rrf([[], []]) == []


def test_weighted_minmax_scales_each_list_then_mixes_them() -> None:
    assert minmax({"a": 2.0, "b": 4.0, "c": 3.0}) == {"a": 0.0, "b": 1.0, "c": 0.5}
    assert minmax({"a": 7.0}) == {"a": 1.0}
    fused = dict(weighted_minmax({"a": 0.9, "b": 0.5}, {"b": 12.0, "c": 4.0}, alpha=0.25))
    assert fused == pytest.approx({"a": 0.25, "b": 0.75, "c": 0.0})


def test_matches_up_to_ties_allows_reordering_only_among_equal_scores() -> None:
    expected = [("a", 3.0), ("b", 2.0), ("c", 2.0), ("d", 1.0)]
    assert matches_up_to_ties(["a", "c", "b"], expected, k=3)
    assert matches_up_to_ties(["a", "c"], expected, k=2)  # c stands in for b, tied at k
    assert not matches_up_to_ties(["b", "a", "c"], expected, k=3)
    assert not matches_up_to_ties(["a", "b", "d"], expected, k=3)
    assert not matches_up_to_ties(["a", "b"], expected, k=3)
    assert not matches_up_to_ties(["a", "a", "b"], expected, k=3)
    assert not matches_up_to_ties(["a", "x", "b"], expected, k=3)


# ---- what PostgreSQL ranks with -------------------------------------------------------------


async def test_postgres_ts_rank_ignores_how_rare_a_term_is(store: Store) -> None:
    if store.dialect != "postgresql":
        pytest.skip("ts_rank is PostgreSQL's; SQLite ranks with FTS5's bm25() (tested above)")
    async with store.session() as s:
        rows: sa.Result[Any] = await s.execute(
            sa.text(
                "SELECT t, ts_rank(to_tsvector('simple', t), q), "
                "ts_rank_cd(to_tsvector('simple', t), q) "
                "FROM unnest(CAST(:docs AS text[])) AS t, to_tsquery('simple', 'zebra | pending') q"
            ),
            {"docs": ["order pending", "order zebra", *["pending"] * 20]},
        )
        rank = {str(t): (float(a), float(b)) for t, a, b in (tuple(r) for r in rows)}
    # "zebra" is in one document of 22 and "pending" in 21: BM25 would rank the first far
    # higher; ts_rank and ts_rank_cd see no corpus at all.
    assert rank["order zebra"] == rank["order pending"]
