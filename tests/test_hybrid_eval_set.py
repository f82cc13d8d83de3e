from __future__ import annotations

import re
import statistics
from collections import Counter

import pytest

from bench.hybrid_eval import phrasebook as pb
from bench.hybrid_eval.dataset import CATEGORIES, EvalSet, build, content_words, overlap

FINGERPRINT = "f9379516f99bcc6d01da5c6ada4824de2696a7c5717527d362a779c1ba78e26a"
"""The set as generated today: a change to the phrasebook or the generator changes it (and
every figure in bench/README.md), so it is a deliberate act: update both together."""

CODE = re.compile(r"\b(?:ORD-\d+|INV-\d+-\d+|TKT-\d+|E(?:RR)?_[A-Z_]+_\d+|[A-Z]{2}\d{3}[A-Z])\b")


@pytest.fixture(scope="module")
def data() -> EvalSet:
    return build()


def test_the_set_is_the_same_on_every_run(data: EvalSet) -> None:
    assert build().fingerprint() == data.fingerprint() == FINGERPRINT
    assert build(seed=16).fingerprint() != FINGERPRINT


def test_thousands_of_memories_in_thirty_teams_and_every_kind_of_query(data: EvalSet) -> None:
    assert data.teams == 30
    assert 3000 <= len(data.memories) <= 5000
    assert len({m.id for m in data.memories}) == len(data.memories)
    counts = Counter(q.category for q in data.queries)
    assert set(counts) == set(CATEGORIES) and min(counts.values()) >= 150
    assert len({(q.team, q.text) for q in data.queries}) == len(data.queries)


def test_relevant_memories_are_in_the_team_the_query_is_asked_in(data: EvalSet) -> None:
    team_of = {m.id: m.team for m in data.memories}
    for q in data.queries:
        assert q.relevant and all(team_of[r] == q.team for r in q.relevant), q


def test_an_identifier_query_lists_every_memory_of_its_team_that_holds_it(data: EvalSet) -> None:
    for q in data.queries:
        codes = CODE.findall(q.text)
        holders = {m.id for c in codes for m in data.team_memories(q.team) if c in m.content}
        if q.category == "exact":
            assert len(codes) == 1 and holders == set(q.relevant), q
        elif q.category == "paraphrase":
            assert not codes, q
        elif codes:  # an aspect of a record: the identifier alone does not pick it
            assert len(codes) == 1 and set(q.relevant) < holders, q


def test_paraphrases_share_no_content_word_with_what_they_ask_for(data: EvalSet) -> None:
    by_id = {m.id: m for m in data.memories}
    shared = [
        max(overlap(q.text, by_id[r].content) for r in q.relevant)
        for q in data.queries
        if q.category == "paraphrase"
    ]
    assert statistics.fmean(shared) < 0.01 and max(shared) <= 0.1


def _words(template: str) -> set[str]:
    return content_words(re.sub(r"\{\w+\}", " ", template))


@pytest.mark.parametrize(
    "facet",
    [
        *pb.TEAM_FACETS,
        *pb.PERSON_FACETS,
        *pb.PROJECT_FACETS,
        *pb.CUSTOMER_FACETS,
        *pb.ORDER_ASPECTS,
        *pb.INCIDENT_ASPECTS,
    ],
    ids=lambda f: f.key,
)
def test_a_facets_questions_use_other_words_than_its_memories(facet: pb.Facet) -> None:
    stated = set().union(*(_words(m) for m in facet.memories), *(_words(v) for v in facet.values))
    for question in facet.queries:
        assert not _words(question) & stated, question
