"""The labelled evaluation set for hybrid retrieval, generated deterministically.

`build()` makes, for each of ``teams`` teams (30 by default), about 140 memories and 16
queries with the ids of their relevant memories, from the phrasebook
(`bench.hybrid_eval.phrasebook`) and one seeded `random.Random` per team, so the set is
the same on every machine and run (`EvalSet.fingerprint` pins it; no network, no files).

Each team has five people, four projects, four customers, and the records a team
accumulates: orders, incidents with error codes, invoices, support tickets, stock notes.
Three kinds of query, each a question someone would put to an agent's memory:

- ``paraphrase``: a team-wide fact asked in other words ("When is our regular stand-up
  meeting?" for "The daily sync happens at 9:30 every weekday."). No rare token: only
  meaning finds it. One relevant memory.
- ``exact``: a record asked for by its identifier (``ORD-48213``, ``E_CONN_REFUSED_1042``,
  ``INV-2024-0042``, ``TKT-90210``, ``KX220B``) in generic words. Records of a kind share
  their template, so only the identifier tells them apart: the order and its follow-up
  (or the incident and its postmortem) are both relevant.
- ``mixed``: a fact about a person, project or customer, asked in other words
  ("What is the best way to get in touch with Dana?" for "Dana Whitfield asked us to use
  Slack instead of ringing."). The name is in several of the team's memories (its other
  facts, fillers, orders) and the question's meaning matches the same fact about the
  team's other people: neither list alone pins it, both together do. The same for an
  aspect of a record asked with its identifier ("Why did E_CONN_REFUSED_1042 happen?" for
  "Root cause of E_CONN_REFUSED_1042: a full disk on the queue host.", beside the
  incident's other memories). One relevant memory.

Rejected: sampling queries from the memories' own words (it would reward lexical search
by construction), a public corpus (a download, and not agent memory), and LLM-written
paraphrases (not reproducible without the model).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from bench.hybrid_eval import phrasebook as pb

Category = Literal["paraphrase", "exact", "mixed"]
CATEGORIES: tuple[Category, ...] = ("paraphrase", "exact", "mixed")
TEAMS = 30
SEED = 15


@dataclass(frozen=True)
class MemorySpec:
    """One memory to load: ``id`` is the set's own (``t07-m042``), not the store's."""

    id: str
    team: int
    content: str
    subject: str | None
    memory_type: str
    source: str
    """What produced it (``team:standup``, ``person:contact``, ``order``, ``filler``, …)."""


@dataclass(frozen=True)
class Query:
    """One question, the team it is asked in and the ids of its relevant memories."""

    id: str
    team: int
    text: str
    category: Category
    relevant: tuple[str, ...]


@dataclass(frozen=True)
class EvalSet:
    """Memories and queries of every team."""

    memories: tuple[MemorySpec, ...]
    queries: tuple[Query, ...]
    teams: int

    def fingerprint(self) -> str:
        """SHA-256 of the whole set as JSON: equal fingerprints, equal sets."""
        data = {"memories": [asdict(m) for m in self.memories]}
        data["queries"] = [asdict(q) for q in self.queries]
        blob = json.dumps(data, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()

    def team_memories(self, team: int) -> list[MemorySpec]:
        """The memories of one team, in load order."""
        return [m for m in self.memories if m.team == team]


class _Team:
    """Builds one team's memories and queries from its own random generator."""

    def __init__(self, team: int, seed: int) -> None:
        self.team = team
        self.rng = random.Random(f"{seed}:{team}")
        rng = self.rng
        firsts = rng.sample(pb.FIRST_NAMES, 5)
        lasts = rng.sample(pb.LAST_NAMES, 5)
        self.people = list(zip(firsts, lasts, strict=True))
        self.projects = rng.sample(pb.PROJECTS, 4)
        self.customers = rng.sample(pb.CUSTOMERS, 4)
        self.memories: list[MemorySpec] = []
        self.queries: list[Query] = []

    def full(self, person: tuple[str, str]) -> str:
        return f"{person[0]} {person[1]}"

    def mention(self, person: tuple[str, str]) -> str:
        """How a text names a person: the first name or the full name."""
        return person[0] if self.rng.random() < 0.5 else self.full(person)

    def other(self, *but: tuple[str, str]) -> str:
        return self.full(self.rng.choice([p for p in self.people if p not in but]))

    def add(self, content: str, kind: str, source: str, subject: str | None = None) -> str:
        mid = f"t{self.team:02d}-m{len(self.memories):03d}"
        self.memories.append(MemorySpec(mid, self.team, content, subject, kind, source))
        return mid

    def ask(self, text: str, category: Category, relevant: Sequence[str]) -> None:
        qid = f"t{self.team:02d}-q{len(self.queries):02d}"
        self.queries.append(Query(qid, self.team, text, category, tuple(relevant)))

    def facet(
        self,
        facet: pb.Facet,
        entity: str | None,
        subject: str | None,
        person: tuple[str, str] | None = None,
    ) -> str:
        template = self.rng.choice(facet.memories)
        others = () if person is None else (person,)
        text = template.format(e=entity, v=self.rng.choice(facet.values), p=self.other(*others))
        return self.add(text[0].upper() + text[1:], facet.kind, f"facet:{facet.key}", subject)

    def question(self, facet: pb.Facet, entity: str | None) -> str:
        return self.rng.choice(facet.queries).format(e=entity)

    def build_facts(self) -> None:
        rng = self.rng
        team_facets = rng.sample(pb.TEAM_FACETS, 16)
        team_ids = [self.facet(f, None, None) for f in team_facets]
        for i in rng.sample(range(len(team_facets)), 5):
            self.ask(self.question(team_facets[i], None), "paraphrase", [team_ids[i]])
        entity_facts: list[tuple[pb.Facet, str, str, str]] = []  # facet, kind, name, id
        for person in self.people:
            for facet in rng.sample(pb.PERSON_FACETS, 6):
                mid = self.facet(facet, self.mention(person), self.full(person), person)
                entity_facts.append((facet, "person", self.mention(person), mid))
        for project in self.projects:
            for facet in rng.sample(pb.PROJECT_FACETS, 4):
                mid = self.facet(facet, project, project)
                entity_facts.append((facet, "project", project, mid))
        for customer in self.customers:
            for facet in rng.sample(pb.CUSTOMER_FACETS, 3):
                mid = self.facet(facet, customer, customer)
                entity_facts.append((facet, "customer", customer, mid))
        for kind in ("person", "person", "project", "customer"):
            pool = [f for f in entity_facts if f[1] == kind]
            facet, _, name, mid = pool.pop(rng.randrange(len(pool)))
            entity_facts.remove((facet, kind, name, mid))
            self.ask(self.question(facet, name), "mixed", [mid])

    def code(self, kind: str, used: set[str]) -> str:
        rng = self.rng
        while True:
            if kind == "order":
                code = f"ORD-{rng.randrange(10_000, 100_000)}"
            elif kind == "incident":
                a, b = rng.sample(pb.ERROR_WORDS, 2)
                code = f"{rng.choice(('E', 'ERR'))}_{a}_{b}_{rng.randrange(1000, 10_000)}"
            elif kind == "invoice":
                code = f"INV-{rng.choice((2024, 2025))}-{rng.randrange(1, 10_000):04d}"
            elif kind == "ticket":
                code = f"TKT-{rng.randrange(10_000, 100_000)}"
            else:
                letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTVWXZ") for _ in range(2))
                code = f"{letters}{rng.randrange(100, 1000)}{rng.choice('ABCDEFGH')}"
            if code not in used:
                used.add(code)
                return code

    def build_records(self, used: set[str]) -> None:
        rng = self.rng
        records: list[tuple[str, str, list[str]]] = []  # kind, code, memory ids
        skus = [self.code("sku", used) for _ in range(5)]
        aspects: list[tuple[pb.Facet, str, str]] = []  # aspect, code, memory id
        for _ in range(14):
            code = self.code("order", used)
            fill = {"code": code, "cust": rng.choice(self.customers), "sku": rng.choice(skus)}
            text = rng.choice(pb.ORDER_MEMORIES).format(
                qty=rng.randrange(2, 500),
                status=rng.choice(pb.ORDER_STATUSES),
                date=f"{rng.randrange(1, 29)} {rng.choice(('March', 'April', 'May', 'June'))}",
                **fill,
            )
            ids = [self.add(text, "episodic", "record:order")]
            for aspect in rng.sample(pb.ORDER_ASPECTS, rng.choice((0, 0, 1, 2, 3))):
                text = rng.choice(aspect.memories).format(site=rng.choice(pb.SITES), **fill)
                ids.append(self.add(text, "episodic", f"record:order-{aspect.key}"))
                aspects.append((aspect, code, ids[-1]))
            records.append(("order", code, ids))
        for _ in range(6):
            code = self.code("incident", used)
            text = rng.choice(pb.INCIDENT_MEMORIES).format(
                code=code, service=rng.choice(pb.SERVICES), p=self.other()
            )
            ids = [self.add(text, "episodic", "record:incident")]
            for aspect in rng.sample(pb.INCIDENT_ASPECTS, rng.choice((0, 1, 2, 3))):
                text = rng.choice(aspect.memories).format(
                    code=code,
                    cause=rng.choice(pb.INCIDENT_CAUSES),
                    fix=rng.choice(pb.INCIDENT_FIXES),
                    p=self.other(),
                    n=rng.randrange(5, 120),
                    cust=rng.choice(self.customers),
                )
                ids.append(self.add(text, "semantic", f"record:incident-{aspect.key}"))
                aspects.append((aspect, code, ids[-1]))
            records.append(("incident", code, ids))
        for _ in range(5):
            code = self.code("invoice", used)
            text = rng.choice(pb.INVOICE_MEMORIES).format(
                code=code,
                amount=f"${rng.randrange(200, 50_000):,}",
                cust=rng.choice(self.customers),
                n=rng.randrange(5, 90),
            )
            records.append(("invoice", code, [self.add(text, "episodic", "record:invoice")]))
        for _ in range(5):
            code = self.code("ticket", used)
            text = rng.choice(pb.TICKET_MEMORIES).format(code=code, cust=rng.choice(self.customers))
            records.append(("ticket", code, [self.add(text, "episodic", "record:ticket")]))
        for code in skus:
            text = rng.choice(pb.SKU_MEMORIES).format(
                code=code, site=rng.choice(pb.SITES), n=rng.randrange(0, 60)
            )
            records.append(("sku", code, [self.add(text, "semantic", "record:sku")]))
        templates = {
            "order": pb.ORDER_QUERIES,
            "incident": pb.INCIDENT_QUERIES,
            "invoice": pb.INVOICE_QUERIES,
            "ticket": pb.TICKET_QUERIES,
            "sku": pb.SKU_QUERIES,
        }
        for kind, code, _ in rng.sample(records, 5):
            holders = [m.id for m in self.memories if code in m.content]  # SKUs are in orders too
            self.ask(rng.choice(templates[kind]).format(code=code), "exact", holders)
        for aspect, code, mid in rng.sample(aspects, min(4, len(aspects))):
            self.ask(rng.choice(aspect.queries).format(code=code), "mixed", [mid])

    def build_fillers(self) -> None:
        rng = self.rng
        for _ in range(10):
            p, q = rng.sample(self.people, 2)
            text = rng.choice(pb.FILLERS).format(
                p=self.mention(p),
                q=self.mention(q),
                proj=rng.choice(self.projects),
                cust=rng.choice(self.customers),
            )
            self.add(text, "episodic", "filler")


def build(teams: int = TEAMS, seed: int = SEED) -> EvalSet:
    """The evaluation set: ``teams`` teams, the same for the same arguments."""
    memories: list[MemorySpec] = []
    queries: list[Query] = []
    used: set[str] = set()  # identifiers are unique across the whole set
    for t in range(teams):
        team = _Team(t, seed)
        team.build_facts()
        team.build_records(used)
        team.build_fillers()
        order = team.rng.sample(range(len(team.memories)), len(team.memories))
        memories += [team.memories[i] for i in order]  # ids and positions carry no signal
        queries += team.queries
    return EvalSet(tuple(memories), tuple(queries), teams)


STOP = frozenset(
    {
        "a", "about", "after", "again", "all", "am", "an", "and", "any", "are", "as", "at", "be",
        "been", "before", "by", "can", "do", "does", "for", "from", "get", "gets", "go", "goes",
        "had", "has", "have", "how", "i", "if", "in", "is", "it", "its", "me", "more", "most", "my",
        "no", "not", "of", "on", "or", "our", "out", "should", "so", "than", "that", "the", "their",
        "them", "then", "there", "they", "this", "to", "up", "us", "was", "we", "were", "what",
        "whats", "when", "where", "which", "who", "whom", "why", "will", "with", "would", "you",
        "your",
    }
)  # fmt: skip
"""Function words left out when counting the words a query and a memory share."""


def content_words(text: str) -> set[str]:
    """Lower-cased words of ``text`` but function words (for measuring overlap)."""
    return {w for w in re.findall(r"[^\W_]+", text.lower()) if w not in STOP}


def overlap(query: str, memory: str) -> float:
    """Jaccard similarity of the two texts' content words."""
    a, b = content_words(query), content_words(memory)
    return len(a & b) / len(a | b) if a | b else 0.0
