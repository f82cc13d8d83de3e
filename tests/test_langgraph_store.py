"""`SkillstoreStore` driven through every operation of LangGraph's ``BaseStore``, with
LangGraph's own in-memory store as the oracle: the same operations, the same results."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from langgraph.store.base import (
    GetOp,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore

from skillstore import Store
from skillstore.errors import ValidationError
from skillstore.integrations.langgraph import SkillstoreStore
from tests.factories import make_team

PUTS = [
    PutOp(("users", "ada", "prefs"), "theme", {"mode": "dark", "size": 3}),
    PutOp(("users", "ada", "prefs"), "lang", {"code": "en", "size": 1}),
    PutOp(("users", "bo", "prefs"), "theme", {"mode": "light", "size": 5}),
    PutOp(("users", "bo", "notes"), "n1", {"text": "hello", "tags": ["a", "b"], "meta": {"k": 1}}),
    PutOp(("users", "bob"), "x", {"size": 9}),  # "bob" is not under ("users", "bo")
    PutOp(("teams", "ops"), "runbook", {"text": "deploy on Tuesday"}),
]
READS: list[Op] = [
    GetOp(("users", "ada", "prefs"), "theme"),
    SearchOp(("users",), limit=10),
    SearchOp(("users", "bo"), limit=10),
    SearchOp(("users",), filter={"mode": "dark"}, limit=10),
    SearchOp(("users", "ada"), filter={"size": {"$gte": 3, "$lt": 9}}, limit=10),
    SearchOp(("users", "bo", "prefs"), filter={"size": {"$gt": 1, "$lte": 5}}, limit=10),
    SearchOp(("users",), filter={"size": {"$ne": 5}}, limit=10),
    SearchOp(("users",), filter={"meta": {"k": 1}, "tags": ["a", "b"]}, limit=10),
    SearchOp((), limit=100),
    ListNamespacesOp(limit=100),
    ListNamespacesOp(max_depth=2, limit=100),
    ListNamespacesOp(match_conditions=(MatchCondition("prefix", ("users", "*")),), limit=100),
    ListNamespacesOp(match_conditions=(MatchCondition("suffix", ("prefs",)),), limit=100),
    ListNamespacesOp(
        match_conditions=(
            MatchCondition("prefix", ("users",)),
            MatchCondition("suffix", ("notes",)),
        ),
        max_depth=2,
        limit=100,
    ),
    ListNamespacesOp(limit=2, offset=1),
]


def comparable(result: Any) -> Any:
    """An op's result without timestamps (each store keeps its own clock), and items in
    one order: LangGraph leaves the order of an unranked search open (the in-memory store
    gives insertion order; skillstore namespace, then key)."""
    if isinstance(result, Item):
        return (result.namespace, result.key, result.value)
    if isinstance(result, list) and result and isinstance(result[0], Item):
        return sorted((comparable(r) for r in result), key=repr)
    if isinstance(result, list):
        return [comparable(r) for r in result]
    return result


@pytest.fixture
async def stores(committed_store: Store) -> Any:
    team = await make_team(committed_store)
    ours = SkillstoreStore(committed_store, team_id=team.id)
    yield ours, InMemoryStore()
    ours.close()


async def test_every_operation_gives_the_in_memory_stores_results(stores: Any) -> None:
    ours, oracle = stores
    assert await ours.abatch(PUTS) == await oracle.abatch(PUTS)
    for op in READS:
        assert comparable((await ours.abatch([op]))[0]) == comparable(
            (await oracle.abatch([op]))[0]
        ), op
    mixed: list[Op] = [
        PutOp(("users", "ada", "prefs"), "theme", {"mode": "auto"}),  # overwrite
        GetOp(("users", "ada", "prefs"), "theme"),
        PutOp(("users", "bo", "notes"), "n1", None),  # delete
        SearchOp(("users", "bo"), limit=10),
        ListNamespacesOp(limit=100),
    ]
    assert comparable(await ours.abatch(mixed)) == comparable(await oracle.abatch(mixed))


async def test_pages_cover_every_item_once_in_namespace_then_key_order(stores: Any) -> None:
    ours, _ = stores
    await ours.abatch(PUTS)
    pages = [await ours.asearch(("users",), limit=2, offset=start) for start in range(0, 8, 2)]
    seen = [(item.namespace, item.key) for page in pages for item in page]
    assert seen == sorted((op.namespace, op.key) for op in PUTS if op.namespace[0] == "users")
    assert await ours.aget(("users", "ada"), "theme") is None  # a prefix is not the namespace
    assert await ours.aget(("users", "ada", "prefs"), "missing") is None


async def test_the_convenience_methods_and_the_sync_ones_agree(stores: Any) -> None:
    ours, _ = stores
    await ours.aput(("docs",), "a", {"v": 1})
    item = await ours.aget(("docs",), "a")
    assert item is not None
    assert item.value == {"v": 1}
    assert item.created_at <= item.updated_at
    await ours.aput(("docs",), "a", {"v": 2})
    again = await ours.aget(("docs",), "a")
    assert again is not None
    assert (again.value, again.created_at) == ({"v": 2}, item.created_at)
    assert await asyncio.to_thread(ours.get, ("docs",), "a") == again
    assert await ours.aget(("docs", "a"), "a") is None  # no such namespace
    await ours.adelete(("docs",), "a")
    assert await ours.aget(("docs",), "a") is None
    assert await ours.alist_namespaces() == []


async def test_teams_never_see_each_others_items(committed_store: Store) -> None:
    a, b = [
        SkillstoreStore(committed_store, team_id=(await make_team(committed_store)).id)
        for _ in range(2)
    ]
    await a.aput(("shared",), "k", {"owner": "a"})
    assert await b.aget(("shared",), "k") is None
    assert await b.asearch(("shared",)) == []
    assert await b.alist_namespaces() == []
    await b.adelete(("shared",), "k")
    assert (await a.aget(("shared",), "k")) is not None


async def test_ttl_expires_refreshes_on_read_and_is_swept(committed_store: Store) -> None:
    team = await make_team(committed_store)
    store = SkillstoreStore(committed_store, team_id=team.id, ttl={"default_ttl": 0.02})
    await store.aput(("t",), "short", {"v": 1})  # 1.2 s
    await store.aput(("t",), "forever", {"v": 2}, ttl=None)
    await asyncio.sleep(0.8)
    assert await store.aget(("t",), "short") is not None  # read: refreshed to 1.2 s from now
    await asyncio.sleep(0.8)
    assert await store.aget(("t",), "short", refresh_ttl=False) is not None
    await asyncio.sleep(0.6)
    assert await store.aget(("t",), "short") is None  # expired, never returned
    assert [i.key for i in await store.asearch(("t",))] == ["forever"]
    assert await store.sweep() == 1
    assert await store.sweep() == 0


async def test_what_is_not_built_is_refused_not_ignored(stores: Any) -> None:
    ours, _ = stores
    with pytest.raises(ValidationError, match="no vector index"):
        await ours.asearch(("users",), query="dark mode")
    with pytest.raises(ValidationError, match="no vector index"):
        SkillstoreStore(ours.store, team_id=uuid.uuid4(), index={"dims": 3, "embed": lambda t: []})
